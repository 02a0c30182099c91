/* A fleet for the integration tests: a real etcd and N tetherd servers registered in it,
 * each on a host of its own (a network namespace, netns.h) where the machine allows it,
 * else on loopback (and the reason is printed). With tls, everything speaks TLS with
 * certificates made for the test: the servers' listeners (client certificates required),
 * etcd (client certificates required too), and the clients through TETHER_TLS_* and
 * TETHER_FLEET_* set in this process's environment. */
#ifndef TT_FLEET_FIXTURE_H
#define TT_FLEET_FIXTURE_H

#include "certs.h"
#include "etcd_proc.h"
#include "harness.h"
#include "netns.h"

#include "core/log.h"
#include "fleet/fleet.h"

#include <pthread.h>
#include <stdarg.h>

#define TF_MAX 4

typedef struct tf_fleet {
    bool tls;
    tn_net net;
    te_etcd etcd;
    th_server srv[TF_MAX];
    char srv_id[TF_MAX][64];
    int n;
    char ca[340], srv_cert[340], srv_key[340], cli_cert[340], cli_key[340];
    char fleet[200];
} tf_fleet;

static tf_fleet *tf_live;
/* The servers' lease TTL: short enough that a crash shows soon, long enough that a loaded
 * machine (sanitizers, 200 clients at once) renews in time. */
static const char *tf_ttl = "10";
/* Flags every server of the next tf_start gets besides the fixture's (NULL-terminated). */
static const char *const *tf_extra;

static void tf_atexit(void)
{
    if (!tf_live)
        return;
    te_dump_log(&tf_live->etcd, stderr);
    te_stop(&tf_live->etcd, SIGKILL);
    tn_teardown(&tf_live->net);
}

/* Whether tests that need netns should say they run on loopback: printed once. */
static inline void tf_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  note: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Captured log lines of this process (failover notices and the like). */
static pthread_mutex_t tf_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char tf_log_buf[1 << 16];
static size_t tf_log_len;

static void tf_sink(tt_log_level level, const char *msg, void *user)
{
    (void)user;
    pthread_mutex_lock(&tf_log_lock);
    int k = snprintf(tf_log_buf + tf_log_len, sizeof tf_log_buf - tf_log_len, "[%d] %s\n", (int)level, msg);
    if (k > 0 && tf_log_len + (size_t)k < sizeof tf_log_buf)
        tf_log_len += (size_t)k;
    pthread_mutex_unlock(&tf_log_lock);
    if (getenv("TF_ECHO_LOG"))
        fprintf(stderr, "client log: %s\n", msg);
}

static inline bool tf_log_has(const char *needle)
{
    pthread_mutex_lock(&tf_log_lock);
    bool has = strstr(tf_log_buf, needle) != NULL;
    pthread_mutex_unlock(&tf_log_lock);
    return has;
}

/* Checks that the client logged needle; if not, prints what it did log, a line each. */
#define TF_CHECK_LOG(needle)                                                                   \
    do {                                                                                       \
        if (!tf_log_has(needle)) {                                                             \
            pthread_mutex_lock(&tf_log_lock);                                                  \
            for (char *l_ = tf_log_buf, *e_; *l_; l_ = e_ + 1) {                               \
                e_ = strchr(l_, '\n');                                                         \
                if (!e_)                                                                       \
                    break;                                                                     \
                fprintf(stderr, "  client log: %.*s\n", (int)(e_ - l_), l_);                   \
            }                                                                                  \
            pthread_mutex_unlock(&tf_log_lock);                                                \
            CHECK_FAIL("the client logged no \"%s\"", needle);                                \
        }                                                                                      \
    } while (0)

static inline void tf_make_certs(tf_fleet *f)
{
    char dir[300];
    th_mkdtemp("pki", dir, sizeof dir);
    snprintf(f->ca, sizeof f->ca, "%s/ca.pem", dir);
    snprintf(f->srv_cert, sizeof f->srv_cert, "%s/server.pem", dir);
    snprintf(f->srv_key, sizeof f->srv_key, "%s/server.key", dir);
    snprintf(f->cli_cert, sizeof f->cli_cert, "%s/client.pem", dir);
    snprintf(f->cli_key, sizeof f->cli_key, "%s/client.key", dir);
    char san[600];
    int o = snprintf(san, sizeof san, "IP:127.0.0.1,DNS:localhost");
    if (f->net.on) {
        o += snprintf(san + o, sizeof san - (size_t)o, ",IP:%s", f->net.etcd_ip);
        for (int i = 0; i < f->net.n_hosts; i++)
            o += snprintf(san + o, sizeof san - (size_t)o, ",IP:%s", f->net.host_ip[i]);
    }
    tc_ca ca;
    CHECK(tc_ca_make(&ca, "tether fleet test CA", f->ca));
    CHECK(tc_leaf(&ca, "tether server", san, true, f->srv_cert, f->srv_key));
    CHECK(tc_leaf(&ca, "tether client", NULL, false, f->cli_cert, f->cli_key));
    tc_ca_free(&ca);
    setenv("TETHER_TLS_CA", f->ca, 1);
    setenv("TETHER_TLS_CERT", f->cli_cert, 1);
    setenv("TETHER_TLS_KEY", f->cli_key, 1);
    setenv("TETHER_FLEET_CA", f->ca, 1);
    setenv("TETHER_FLEET_CERT", f->cli_cert, 1);
    setenv("TETHER_FLEET_KEY", f->cli_key, 1);
}

/* Starts server i with its slots (and extra flags, NULL-terminated, may be NULL). */
static inline void tf_server_start(tf_fleet *f, int i, const char *slots, const char *const *extra, bool restart)
{
    const char *args[40] = {"--slots", slots, "--fleet", f->fleet, "--fleet-ttl", tf_ttl};
    int n = 6;
    if (f->tls) {
        const char *t[] = {"--tls",        "on",       "--tls-cert",  f->srv_cert, "--tls-key",  f->srv_key,
                           "--tls-client-ca", f->ca, "--fleet-ca", f->ca,       "--fleet-cert", f->cli_cert,
                           "--fleet-key",  f->cli_key};
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
            args[n++] = t[k];
    } else if (f->net.on) {
        args[n++] = "--tls";
        args[n++] = "off"; /* plain TCP between namespaces, by choice */
    }
    for (int k = 0; extra && extra[k] && n < 38; k++)
        args[n++] = extra[k];
    args[n] = NULL;
    tp_where where = {.tls = f->tls};
    if (f->net.on) {
        snprintf(where.host, sizeof where.host, "%s", f->net.host_ip[i]);
        snprintf(where.netns, sizeof where.netns, "%s", f->net.ns[i]);
    }
    th_server_launch_at(&f->srv[i], &where, args, restart);
}

/* The server ids in the fleet now (n of them), read from etcd. */
static inline int tf_registered(tf_fleet *f, tt_fleet_view *v)
{
    tt_etcd *e;
    CHECK_OK(tt_etcd_open(f->fleet, &f->etcd.client, &e));
    int n = -1;
    if (tt_fleet_view_read(e, tt_deadline_ms(2000), v) == TETHER_OK)
        n = v->n_servers;
    tt_etcd_close(e);
    return n;
}

/* Waits until exactly n servers are registered (and the view's slots number want_slots,
 * unless negative). */
static inline void tf_wait_servers(tf_fleet *f, int n, int want_slots, double timeout_s)
{
    double until = th_now_s() + timeout_s;
    int got = -1, slots = -1;
    while (th_now_s() < until) {
        tt_fleet_view v;
        got = tf_registered(f, &v);
        if (got >= 0) {
            slots = v.n_slots;
            tt_fleet_view_free(&v);
        }
        if (got == n && (want_slots < 0 || slots == want_slots))
            return;
        th_sleep_ms(50);
    }
    CHECK_FAIL("the fleet shows %d servers and %d slots, not %d and %d, after %.0f s", got, slots, n, want_slots,
               timeout_s);
}

/* etcd plus n servers with the given slots each (slots[i]); want_netns: on hosts of their
 * own where possible. */
static inline void tf_start(tf_fleet *f, int n, const char *const *slots, bool tls, bool want_netns)
{
    memset(f, 0, sizeof *f);
    CHECK(n <= TF_MAX);
    f->tls = tls;
    f->n = n;
    if (!te_available()) {
        fprintf(stderr, "  skipped: etcd (Debian's etcd-server) is not installed\n");
        exit(77);
    }
    tt_log_set_sink(tf_sink, NULL);
    if (want_netns) {
        char why[200];
        if (!tn_setup(&f->net, n, th_root, why, sizeof why))
            tf_say("servers run on loopback, not on hosts of their own: %s", why);
    }
    tf_live = f;
    atexit(tf_atexit);
    if (tls)
        tf_make_certs(f);
    char err[512];
    if (te_init(&f->etcd, th_root, f->net.on ? f->net.etcd_ip : "127.0.0.1", err, sizeof err) != 0)
        CHECK_FAIL("%s", err);
    if (tls) {
        f->etcd.tls = true;
        snprintf(f->etcd.ca, sizeof f->etcd.ca, "%s", f->ca);
        snprintf(f->etcd.cert, sizeof f->etcd.cert, "%s", f->srv_cert);
        snprintf(f->etcd.key, sizeof f->etcd.key, "%s", f->srv_key);
        snprintf(f->etcd.client.ca, sizeof f->etcd.client.ca, "%s", f->ca);
        snprintf(f->etcd.client.cert, sizeof f->etcd.client.cert, "%s", f->cli_cert);
        snprintf(f->etcd.client.key, sizeof f->etcd.client.key, "%s", f->cli_key);
    }
    if (te_start(&f->etcd, err, sizeof err) != 0)
        CHECK_FAIL("%s", err);
    snprintf(f->fleet, sizeof f->fleet, "%s", f->etcd.url);
    int total = 0;
    for (int i = 0; i < n; i++) {
        tf_server_start(f, i, slots[i], tf_extra, false);
        const char *p = slots[i];
        while (*p) { /* counts "TYPE=N" entries */
            const char *eq = strchr(p, '=');
            if (!eq)
                break;
            total += atoi(eq + 1);
            const char *comma = strchr(eq, ',');
            p = comma ? comma + 1 : eq + strlen(eq);
        }
    }
    tf_wait_servers(f, n, total, 20);
    /* the ids, in start order (from each server's endpoint) */
    tt_fleet_view v;
    CHECK(tf_registered(f, &v) == n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < v.n_servers; k++)
            if (strcmp(v.servers[k].endpoint, f->srv[i].endpoint) == 0)
                snprintf(f->srv_id[i], sizeof f->srv_id[i], "%s", v.servers[k].id);
    tt_fleet_view_free(&v);
    for (int i = 0; i < n; i++)
        if (!f->srv_id[i][0])
            CHECK_FAIL("server %d (%s) is not in the fleet under its endpoint", i, f->srv[i].endpoint);
}

/* No server had to register again (its lease lost) while the test ran. */
static inline void tf_check_leases_held(const tf_fleet *f)
{
    for (int i = 0; i < f->n; i++) {
        FILE *lf = fopen(f->srv[i].log, "r");
        char line[1024];
        while (lf && fgets(line, sizeof line, lf))
            if (strstr(line, "registering again")) {
                fclose(lf);
                CHECK_FAIL("server %d lost its lease: %s", i, line);
            }
        if (lf)
            fclose(lf);
    }
}

static inline int tf_server_of(const tf_fleet *f, const char *id)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->srv_id[i], id) == 0)
            return i;
    return -1;
}

static inline void tf_stop(tf_fleet *f)
{
    for (int i = 0; i < f->n; i++)
        if (f->srv[i].pid > 0)
            th_server_stop(&f->srv[i]);
    te_stop(&f->etcd, SIGTERM);
    tn_teardown(&f->net);
    tf_live = NULL;
    /* what the test left on disk goes with it: a program's fleets would fill a small /tmp */
    for (int i = 0; i < f->n; i++)
        th_rm_tree(f->srv[i].dir);
    th_rm_tree(f->etcd.dir);
}

/* Attaches `type` through the fleet (pin: a server id, or NULL). */
static inline tether_status tf_attach(tf_fleet *f, const char *type, const char *pin, tt_attachment *a)
{
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.fleet = f->fleet;
    o.server = pin;
    return tt_attach_with(type, &o, a);
}

#endif
