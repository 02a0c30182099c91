/* A real etcd (Debian's etcd-server) as a child process for the fleet tests and benchmarks:
 * one member on ports of its own, data in a directory under the test's root, optionally
 * with TLS and client certificates required. It dies with its parent (PR_SET_PDEATHSIG).
 * Calls return 0, or -1 with a message in err. */
#ifndef TT_ETCD_PROC_H
#define TT_ETCD_PROC_H

#include "fleet/etcd.h"
#include "net/sock.h"
#include "tetherd_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef ETCD_PATH
#define ETCD_PATH "/usr/bin/etcd"
#endif

typedef struct te_etcd {
    pid_t pid;
    char dir[300], data[340], log[340];
    char host[64];
    int client_port, peer_port;
    char url[160]; /* etcd://HOST:PORT or etcds://HOST:PORT: what --fleet takes */
    bool tls;
    char ca[340], cert[340], key[340]; /* its certificate, and the CA for client certificates */
    tt_tls_files client;               /* what a client (tetherd, tether) presents and trusts */
} te_etcd;

/* A free TCP port on host (bound then released: another process could take it meanwhile,
 * which the start then reports). */
static inline int te_free_port(const char *host)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, host, &a.sin_addr);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static inline bool te_available(void)
{
    return access(ETCD_PATH, X_OK) == 0;
}

/* Prepares e (directory, ports) without starting it. tls: cert/key/ca must be set by the
 * caller before te_start when true. */
static inline int te_init(te_etcd *e, const char *root, const char *host, char *err, size_t errcap)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s/etcdXXXXXX", root);
    if (!mkdtemp(e->dir)) {
        snprintf(err, errcap, "mkdtemp(%s): %s", e->dir, strerror(errno));
        return -1;
    }
    snprintf(e->data, sizeof e->data, "%s/data", e->dir);
    snprintf(e->log, sizeof e->log, "%s/etcd.log", e->dir);
    snprintf(e->host, sizeof e->host, "%s", host);
    e->client_port = te_free_port(host);
    e->peer_port = te_free_port("127.0.0.1");
    if (e->client_port <= 0 || e->peer_port <= 0) {
        snprintf(err, errcap, "no free port on %s for etcd", host);
        return -1;
    }
    return 0;
}

/* Starts (or starts again, same ports and data) and waits until it answers. */
static inline int te_start(te_etcd *e, char *err, size_t errcap)
{
    const char *scheme = e->tls ? "https" : "http";
    snprintf(e->url, sizeof e->url, "%s://%s:%d", e->tls ? "etcds" : "etcd", e->host, e->client_port);
    char client_url[200], peer_url[200], cluster[240];
    snprintf(client_url, sizeof client_url, "%s://%s:%d", scheme, e->host, e->client_port);
    snprintf(peer_url, sizeof peer_url, "http://127.0.0.1:%d", e->peer_port);
    snprintf(cluster, sizeof cluster, "t=%s", peer_url);
    const char *argv[40] = {ETCD_PATH,
                            "--name", "t",
                            "--data-dir", e->data,
                            "--listen-client-urls", client_url,
                            "--advertise-client-urls", client_url,
                            "--listen-peer-urls", peer_url,
                            "--initial-advertise-peer-urls", peer_url,
                            "--initial-cluster", cluster,
                            "--logger", "zap",
                            "--log-outputs", "stderr",
                            "--log-level", "warn"};
    int argc = 21;
    if (e->tls) {
        argv[argc++] = "--cert-file";
        argv[argc++] = e->cert;
        argv[argc++] = "--key-file";
        argv[argc++] = e->key;
        argv[argc++] = "--trusted-ca-file";
        argv[argc++] = e->ca;
        argv[argc++] = "--client-cert-auth";
    }
    argv[argc] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(ETCD_PATH, (char *const *)argv);
        _exit(127);
    }
    e->pid = pid;
    tt_etcd *c;
    if (tt_etcd_open(e->url, &e->client, &c) != 0) {
        snprintf(err, errcap, "%s", tether_last_error());
        return -1;
    }
    double until = tp_now_s() + 30;
    int rc = -1;
    while (tp_now_s() < until) {
        tt_etcd_kvs kvs;
        if (tt_etcd_get_prefix(c, "/", tt_deadline_ms(500), &kvs) == 0) {
            tt_etcd_kvs_free(&kvs);
            rc = 0;
            break;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            e->pid = 0;
            snprintf(err, errcap, "etcd exited during start-up (status 0x%x): see %s", status, e->log);
            break;
        }
        tp_sleep_ms(50);
    }
    tt_etcd_close(c);
    if (rc != 0 && e->pid)
        snprintf(err, errcap, "etcd did not answer within 30 s: see %s", e->log);
    return rc;
}

/* Stops etcd with sig and waits for it. */
static inline void te_stop(te_etcd *e, int sig)
{
    if (e->pid <= 0)
        return;
    kill(e->pid, sig);
    int status;
    waitpid(e->pid, &status, 0);
    e->pid = 0;
}

static inline void te_dump_log(const te_etcd *e, FILE *to)
{
    FILE *f = fopen(e->log, "r");
    if (!f)
        return;
    fprintf(to, "---- %s (last lines) ----\n", e->log);
    static char ring[40][512];
    int n = 0;
    while (fgets(ring[n % 40], sizeof ring[0], f))
        n++;
    for (int i = n > 40 ? n - 40 : 0; i < n; i++)
        fputs(ring[i % 40], to);
    fclose(f);
}

#endif
