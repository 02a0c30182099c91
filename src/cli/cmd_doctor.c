/* tether doctor: checks, one step at a time, everything between this host and an attached
 * accelerator — the record, name resolution, TCP, the protocol version, the token, and a
 * tiny inference — and says which step failed and what to do about it. */
#include "cli.h"

#include "client/attach.h"
#include "client/conn.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether doctor [ORDINAL] [--timeout MS]\n"
               "       tether doctor --server HOST:PORT\n\n"
               "Checks the path to accelerator eia:ORDINAL (every attached one when none is given)\n"
               "step by step, or whether a server answers, and says what to do about a failure.\n"
               "Exits 0 when every check passed.\n\n"
               "  -s, --server ENDPOINT  check a server (no attachment needed)\n"
               "  -t, --timeout MS       for each network step (default 3000)\n"
               "  -h, --help\n");
}

static void step(bool ok, const char *name, const char *detail)
{
    printf("  [%s] %-20s %s\n", ok ? " ok " : "FAIL", name, tt_cli_esc(detail));
}

static void advice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void advice(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    printf("         what to do: %s\n", msg ? tt_cli_esc(msg) : "(out of memory)");
    free(msg);
    va_end(ap);
}

/* A protobuf writer just big enough for the test model. */
typedef struct pb {
    uint8_t b[512];
    size_t n;
} pb;

static void pb_varint(pb *w, uint64_t v)
{
    do {
        w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v && w->n < sizeof w->b);
}
static void pb_bytes(pb *w, unsigned field, const void *p, size_t n)
{
    pb_varint(w, (uint64_t)field << 3 | 2);
    pb_varint(w, n);
    if (w->n + n <= sizeof w->b) {
        memcpy(w->b + w->n, p, n);
        w->n += n;
    }
}
static void pb_str(pb *w, unsigned field, const char *s)
{
    pb_bytes(w, field, s, strlen(s));
}
static void pb_int(pb *w, unsigned field, uint64_t v)
{
    pb_varint(w, (uint64_t)field << 3);
    pb_varint(w, v);
}
static void pb_msg(pb *w, unsigned field, const pb *m)
{
    pb_bytes(w, field, m->b, m->n);
}

static void value_info(pb *g, const char *name)
{
    pb dim = {0}, shape = {0}, tt = {0}, tp = {0}, vi = {0};
    pb_int(&dim, 1, 4);
    pb_msg(&shape, 1, &dim);
    pb_int(&tt, 1, TETHER_DTYPE_FLOAT);
    pb_msg(&tt, 2, &shape);
    pb_msg(&tp, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &tp);
    pb_msg(g, name[0] == 'x' ? 11 : 12, &vi);
}

/* y = x * 2 + 1 over float[4], from Mul and Add: ops every engine build has. */
static void test_model(pb *m)
{
    pb g = {0}, mul = {0}, add = {0}, two = {0}, one = {0}, opset = {0};
    pb_str(&mul, 1, "x"), pb_str(&mul, 1, "two"), pb_str(&mul, 2, "t"), pb_str(&mul, 4, "Mul");
    pb_str(&add, 1, "t"), pb_str(&add, 1, "one"), pb_str(&add, 2, "y"), pb_str(&add, 4, "Add");
    float f2 = 2.0f, f1 = 1.0f;
    pb_int(&two, 2, TETHER_DTYPE_FLOAT), pb_str(&two, 8, "two"), pb_bytes(&two, 9, &f2, sizeof f2);
    pb_int(&one, 2, TETHER_DTYPE_FLOAT), pb_str(&one, 8, "one"), pb_bytes(&one, 9, &f1, sizeof f1);
    pb_msg(&g, 1, &mul);
    pb_msg(&g, 1, &add);
    pb_str(&g, 2, "tether-doctor");
    pb_msg(&g, 5, &two);
    pb_msg(&g, 5, &one);
    value_info(&g, "x");
    value_info(&g, "y");
    pb_int(m, 1, 8);
    pb_str(m, 2, "tether-doctor");
    pb_int(&opset, 2, 13);
    pb_msg(m, 8, &opset);
    pb_msg(m, 7, &g);
}

/* The network steps common to a server check and an attachment check. */
static bool check_server(const tt_endpoint *ep, const tt_tls_files *tls, int timeout_ms, tt_rconn **out,
                         tt_msg_hello_reply *hello)
{
    char addr[256], detail[600];
    if (tt_endpoint_resolve(ep, addr, sizeof addr) != TETHER_OK) {
        step(false, "address resolution", tether_last_error());
        advice("check the host name in %s (typo? DNS?); an IP address avoids DNS altogether", ep->text);
        return false;
    }
    snprintf(detail, sizeof detail, "%s -> %s", ep->is_unix ? ep->path : ep->host, addr);
    step(true, "address resolution", detail);
    int64_t t0 = tt_now_ns();
    tt_status st = tt_rconn_connect_tls(ep, tls, tt_deadline_ms(timeout_ms), out);
    if (st != TETHER_OK) {
        step(false, "TCP reachability", tether_last_error());
        if (st == TETHER_ERR_TIMEOUT)
            advice("nothing answered within %d ms: a firewall or security group may drop traffic to %s, or the "
                   "host is down",
                   timeout_ms, ep->text);
        else
            advice("is tetherd running there? start it with 'tetherd --listen %s%s%s ...'; if it is, check that it "
                   "listens on that address (not only 127.0.0.1) and port",
                   ep->is_unix ? "" : ep->host, ep->is_unix ? "" : ":", ep->is_unix ? ep->path : ep->port);
        return false;
    }
    snprintf(detail, sizeof detail, "connected to %s in %.2f ms", ep->text, (tt_now_ns() - t0) / 1e6);
    step(true, "TCP reachability", detail);
    if (tt_rconn_hello(*out, tt_deadline_ms(timeout_ms), hello) != TETHER_OK) {
        step(false, "protocol version", tether_last_error());
        advice("the program at %s is not a compatible tetherd: upgrade the older of client %s and server, or check "
               "the port",
               ep->text, tether_version());
        tt_rconn_close(*out);
        *out = NULL;
        return false;
    }
    snprintf(detail, sizeof detail, "protocol %u on both sides; server %s (%s)", hello->version, hello->server_id,
             hello->device);
    step(true, "protocol version", detail);
    return true;
}

static bool check_attachment(int ordinal, int timeout_ms)
{
    tt_attachment a;
    char home[1024] = "?", detail[800];
    tt_tether_home(home, sizeof home);
    printf("accelerator eia:%d\n", ordinal);
    if (tt_attachment_get(ordinal, &a) != TETHER_OK) {
        step(false, "attachment record", tether_last_error());
        advice("attach one with 'tether attach TYPE --server HOST:PORT' (records are in %s)", home);
        return false;
    }
    uint8_t token[TT_WIRE_TOKEN_LEN];
    tt_endpoint ep;
    if (tt_endpoint_parse(a.endpoint, &ep) != TETHER_OK || tt_attachment_token(&a, token) != TETHER_OK) {
        step(false, "attachment record", tether_last_error());
        advice("the record in %s/attachments.json is damaged: 'tether detach %d --force' and attach again", home,
               ordinal);
        return false;
    }
    memset(a.token, 0, sizeof a.token);
    snprintf(detail, sizeof detail, "%s (%s) at %s, in %s", a.id, a.type, a.endpoint, home);
    step(true, "attachment record", detail);

    tt_rconn *c;
    tt_msg_hello_reply hello;
    if (!check_server(&ep, &a.tls, timeout_ms, &c, &hello))
        return false;
    tt_msg_slot slot;
    tt_status st = tt_rconn_auth(c, a.id, token, tt_deadline_ms(timeout_ms), &slot);
    memset(token, 0, sizeof token);
    tt_rconn_close(c);
    if (st != TETHER_OK) {
        step(false, "token", tether_last_error());
        advice("the server no longer holds this attachment (lease expired, detached elsewhere, or its state "
               "directory was lost): 'tether detach %d --force', then 'tether attach %s --server %s'",
               ordinal, a.type, a.endpoint);
        return false;
    }
    snprintf(detail, sizeof detail, "accepted for %s: %s, %.2f GiB, %.3f TFLOPS", slot.id, slot.type,
             slot.memory_bytes / 1073741824.0, slot.flops_per_s / 1e12);
    step(true, "token", detail);

    pb m = {0};
    test_model(&m);
    char target[32];
    snprintf(target, sizeof target, "eia:%d", ordinal);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = target;
    cfg.quiet = 1;
    cfg.timeout_ms = timeout_ms;
    int64_t t0 = tt_now_ns();
    tether_session *s;
    if (tether_session_open_bytes(&s, m.b, m.n, &cfg) != TETHER_OK) {
        step(false, "test inference", tether_last_error());
        advice("the server accepted the attachment but could not open a 4-element model: see its log (tetherd "
               "--log-level debug); its state directory may be full or unwritable");
        return false;
    }
    float x[4] = {0.5f, -1.0f, 3.0f, 100.0f};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {4}, .data = x, .size = sizeof x};
    tether_outputs *out;
    st = tether_session_run(s, &in, 1, &out);
    double ms = (tt_now_ns() - t0) / 1e6;
    bool ok = st == TETHER_OK;
    if (!ok) {
        step(false, "test inference", tether_last_error());
        advice("the accelerator failed a trivial model: see the server's log; 'tether detach %d' and attach a "
               "fresh slot",
               ordinal);
    } else {
        const tether_tensor *y = tether_outputs_find(out, "y");
        for (int i = 0; i < 4 && ok; i++)
            ok = y && y->size == sizeof x && ((const float *)y->data)[i] == x[i] * 2 + 1;
        snprintf(detail, sizeof detail,
                 ok ? "y = 2x + 1 computed correctly, %.2f ms including upload"
                    : "wrong result after %.2f ms: the accelerator computed garbage",
                 ms);
        step(ok, "test inference", detail);
        if (!ok)
            advice("report this: the server returned a wrong answer for a trivial model");
        tether_outputs_free(out);
    }
    tether_session_free(s);
    return ok;
}

int tt_cmd_doctor(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, 0, 's'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *server = NULL;
    int timeout_ms = 3000, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:t:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': server = optarg; break;
        case 't': {
            long v;
            if (!tt_cli_long(optarg, 1, 3600000, &v))
                return tt_cli_usage("doctor", "--timeout '%s': expected milliseconds (1 or more)", optarg);
            timeout_ms = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("doctor", NULL);
        }
    }
    if (optind < argc - 1)
        return tt_cli_usage("doctor", "one ordinal at a time ('%s' is extra)", argv[argc - 1]);
    if (server && optind != argc)
        return tt_cli_usage("doctor", "--server checks a server, not an attachment: drop '%s'", argv[optind]);
    if (server) {
        tt_endpoint ep;
        tether_status st = tt_endpoint_parse(server, &ep);
        if (st != TETHER_OK)
            return tt_cli_fail_last("doctor", st);
        printf("server %s\n", tt_cli_esc(ep.text));
        tt_rconn *c;
        tt_msg_hello_reply hello;
        bool ok = check_server(&ep, NULL, timeout_ms, &c, &hello);
        if (ok)
            tt_rconn_close(c);
        printf(ok ? "the server answers\n" : "the server check failed\n");
        return ok ? 0 : 1;
    }
    bool ok = true;
    if (optind == argc - 1) {
        char *end;
        const char *arg = strncmp(argv[optind], "eia:", 4) == 0 ? argv[optind] + 4 : argv[optind];
        long ord = strtol(arg, &end, 10);
        if (end == arg || *end || ord < 0 || ord > 1000000)
            return tt_cli_usage("doctor", "'%s' is not an ordinal (0, 1, ... or eia:N)", argv[optind]);
        ok = check_attachment((int)ord, timeout_ms);
    } else {
        tt_attachment *all;
        int n;
        tether_status st = tt_attachments_list(&all, &n);
        if (st != TETHER_OK)
            return tt_cli_fail_last("doctor", st);
        if (all)
            memset(all, 0, sizeof *all * (size_t)n);
        free(all);
        if (n == 0) {
            char home[1024] = "?";
            tt_tether_home(home, sizeof home);
            printf("no accelerator is attached (records in %s)\n", home);
            printf("  what to do: 'tether attach TYPE --server HOST:PORT'; 'tether doctor --server HOST:PORT' checks "
                   "a server\n");
            return 1;
        }
        for (int i = 0; i < n; i++)
            ok &= check_attachment(i, timeout_ms);
    }
    printf(ok ? "all checks passed\n" : "a check failed (see above)\n");
    return ok ? 0 : 1;
}
