/* Running tetherd as a child process, for the integration tests and the benchmarks: start
 * it on a free loopback port in its own directory (state, port file, log), wait until it
 * listens, stop it. The child dies with its parent (PR_SET_PDEATHSIG). No test framework
 * here: calls return 0, or -1 with a message in err. */
#ifndef TT_TETHERD_PROC_H
#define TT_TETHERD_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Where a server runs: the address it listens on ("" = 127.0.0.1), the network namespace
 * it runs in ("" = this one), and whether clients speak TLS to it (its endpoint is then
 * tls://). */
typedef struct tp_where {
    char host[48];
    char netns[48];
    bool tls;
} tp_where;

typedef struct tp_server {
    pid_t pid;
    int port;
    char dir[300];
    char endpoint[64];
    char port_file[340], log[340], state[340];
    struct tp_server *next_live;
    tp_where where; /* kept for restarts */
} tp_server;

/* Enters a network namespace in the child (netns.h provides it where tests use one). */
static inline int tp_enter_netns(const char *ns);

static inline double tp_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void tp_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Starts `tetherd` with the harness's flags and then args (NULL-terminated; they may
 * override the defaults). A first start makes a directory under root; restart reuses s's
 * directory and port. log_level: "info", "warn", ... */
static inline int tp_start_at(tp_server *s, const tp_where *where, const char *tetherd, const char *root,
                              const char *const *args, bool restart, const char *log_level, char *err, size_t errcap)
{
    if (!restart) {
        memset(s, 0, sizeof *s);
        if (where)
            s->where = *where;
        if (!s->where.host[0])
            snprintf(s->where.host, sizeof s->where.host, "127.0.0.1");
        snprintf(s->dir, sizeof s->dir, "%s/srvXXXXXX", root);
        if (!mkdtemp(s->dir)) {
            snprintf(err, errcap, "mkdtemp(%s): %s", s->dir, strerror(errno));
            return -1;
        }
        snprintf(s->port_file, sizeof s->port_file, "%s/port", s->dir);
        snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
        snprintf(s->state, sizeof s->state, "%s/state", s->dir);
    }
    unlink(s->port_file);
    char listen[64];
    snprintf(listen, sizeof listen, "%s:%d", s->where.host, restart ? s->port : 0);
    const char *argv[64] = {tetherd,       "--listen", listen,        "--port-file", s->port_file,
                            "--state-dir", s->state,   "--log-level", log_level};
    int argc = 9;
    for (int i = 0; args && args[i] && argc < 62; i++)
        argv[argc++] = args[i];
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
        if (s->where.netns[0] && tp_enter_netns(s->where.netns) != 0)
            _exit(126);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(tetherd, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", tetherd, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    double until = tp_now_s() + 60;
    for (;;) {
        FILE *f = fopen(s->port_file, "r");
        if (f) {
            int port = 0;
            bool ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                s->port = port;
                break;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            snprintf(err, errcap, "tetherd exited during start-up (status 0x%x): see %s", status, s->log);
            return -1;
        }
        if (tp_now_s() > until) {
            snprintf(err, errcap, "tetherd did not start listening within 60 s: see %s", s->log);
            return -1;
        }
        tp_sleep_ms(10);
    }
    snprintf(s->endpoint, sizeof s->endpoint, "%s://%s:%d", s->where.tls ? "tls" : "tcp", s->where.host, s->port);
    return 0;
}

static inline int tp_start(tp_server *s, const char *tetherd, const char *root, const char *const *args, bool restart,
                           const char *log_level, char *err, size_t errcap)
{
    return tp_start_at(s, NULL, tetherd, root, args, restart, log_level, err, errcap);
}

/* Sends sig and waits for the process to end (SIGKILL after 10 s); returns its status. */
static inline int tp_signal_wait(tp_server *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    int status = -1;
    double until = tp_now_s() + 10;
    while (waitpid(s->pid, &status, WNOHANG) == 0) {
        if (tp_now_s() > until) {
            fprintf(stderr, "tetherd %d ignored signal %d for 10 s; killing it\n", (int)s->pid, sig);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        tp_sleep_ms(5);
    }
    s->pid = 0;
    return status;
}

static inline void tp_dump_log(const tp_server *s, FILE *to)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return;
    fprintf(to, "---- %s ----\n", s->log);
    char line[1024];
    while (fgets(line, sizeof line, f))
        fputs(line, to);
    fprintf(to, "---- end of server log ----\n");
    fclose(f);
}

static inline int tp_enter_netns(const char *ns)
{
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

#endif
