/* A remote session's num_threads: tetherd gives the runs of a session opened with
 * num_threads = N at most N threads (the client sends it with OPEN), and a client meeting a
 * server older than that field still opens the session, without the cap. */
#include "attack.h"

#include <dirent.h>
#include <pthread.h>

/* CPU time (clock ticks) tetherd's thread-pool workers ("tether-pool") have used; 0 before
 * any exist (a worker's helpers start with its first parallel work). */
static long pool_ticks(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[128], comm[64] = "", stat[1024];
        snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "tether-pool", 11) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        /* fields after the command's closing parenthesis: state is 3rd, utime 14th, stime 15th */
        const char *p = strrchr(stat, ')');
        CHECK(p != NULL);
        long utime = 0, stime = 0;
        CHECK(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) == 2);
        total += utime + stime;
    }
    closedir(d);
    return total;
}

/* y = ReduceSum(MatMul(a, a)) with a = ConstantOfShape(shape): parallel work from 16 bytes. */
static pbw matmul_model(void)
{
    float one = 1.0f;
    pbw v = ob_tensor("value", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &one, sizeof one);
    pbw value = ob_attr_tensor("value", &v);
    pbw in = ob_input("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 0, NULL);
    pbw keep = ob_attr_int("keepdims", 0);
    pbw nodes[3] = {ob_node("ConstantOfShape", 1, (const char *[]){"shape"}, 1, (const char *[]){"a"}, 1, &value),
                    ob_node("MatMul", 2, (const char *[]){"a", "a"}, 1, (const char *[]){"p"}, 0, NULL),
                    ob_node("ReduceSum", 1, (const char *[]){"p"}, 1, (const char *[]){"y"}, 1, &keep)};
    pbw g = ob_graph("mm", 3, nodes, 0, NULL, 1, &in, 1, &y);
    return ob_model(13, &g);
}

/* Opens the model on eia:0 with num_threads, runs it `runs` times; returns the pool
 * workers' CPU ticks those runs took. */
static long pool_ticks_of_runs(const th_server *s, const pbw *m, int num_threads, int runs)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    cfg.timeout_ms = 60000;
    cfg.num_threads = num_threads;
    tether_session *r = NULL;
    CHECK_OK(tether_session_open_bytes(&r, m->buf, m->len, &cfg));
    enum { N = 768 };
    int64_t shape[2] = {N, N};
    tether_tensor in = at_i64("shape", 1, (int64_t[]){2}, shape);
    long before = pool_ticks(s->pid);
    for (int i = 0; i < runs; i++) {
        tether_outputs *o;
        CHECK_OK(tether_session_run(r, &in, 1, &o));
        CHECK_NEAR(*(const float *)tether_outputs_get(o, 0)->data, (double)N * N * N, (double)N * N * N * 1e-3);
        tether_outputs_free(o);
    }
    long ticks = pool_ticks(s->pid) - before;
    tether_session_free(r);
    return ticks;
}

TEST(num_threads_caps_the_threads_tetherd_gives_a_remote_session)
{
    th_fresh_home();
    setenv("TETHER_NUM_THREADS", "4", 1); /* tetherd's pool: three workers beside the caller */
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--workers", "1", NULL});
    unsetenv("TETHER_NUM_THREADS");
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    pbw m = matmul_model();
    /* runs until the workers' time shows (fast kernels need more of them), then as many
     * capped */
    int runs = 12;
    long free_ = pool_ticks_of_runs(&s, &m, 0, runs);
    while (free_ < 10 && runs < 384) {
        runs *= 2;
        free_ = pool_ticks_of_runs(&s, &m, 0, runs);
    }
    long capped = pool_ticks_of_runs(&s, &m, 1, runs);
    fprintf(stderr, "pool workers' CPU ticks over %d runs: %ld with num_threads = 1, %ld without\n", runs, capped,
            free_);
    CHECK(free_ >= 10); /* the measure sees the workers when they are used... */
    CHECK(capped <= 2); /* ...and a session capped at one thread leaves them idle */
    ob_free(&m);
    th_server_stop(&s);
}

/* ---- a server from before the thread cap ------------------------------------------------ */

/* Just enough of an older tetherd for a session to open: HELLO, RESERVE, AUTH and OPEN,
 * whose payload must be the 32-byte hash alone (as those servers checked), and CLOSE. */
typedef struct old_server {
    int lfd, port;
    int opens_refused, opens_taken;
    pthread_t thread;
} old_server;

static bool read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)p + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

static void reply(int fd, uint8_t cmd, uint32_t req, uint8_t status, tt_wr *w)
{
    tt_wr_frame_end(w, (uint8_t)(cmd | TT_CMD_REPLY), status, req, 0);
    at_send_all(fd, w->p, w->n);
    tt_wr_free(w);
}

static void *old_server_main(void *arg)
{
    old_server *o = arg;
    int fd = accept(o->lfd, NULL, NULL);
    uint8_t hb[TT_WIRE_HEADER];
    while (fd >= 0 && read_full(fd, hb, sizeof hb)) {
        tt_frame_hdr h;
        if (tt_frame_hdr_decode(hb, &h) != TT_OK || h.len > (1u << 20))
            break;
        uint8_t *p = malloc(h.len + 1);
        if (!read_full(fd, p, h.len)) {
            free(p);
            break;
        }
        tt_wr w = {0};
        tt_wr_frame_begin(&w);
        if (h.cmd == TT_CMD_HELLO) {
            tt_msg_hello_reply r = {.version = TT_WIRE_VERSION, .max_frame = 1u << 20};
            snprintf(r.server_id, sizeof r.server_id, "old");
            snprintf(r.device, sizeof r.device, "cpu");
            tt_msg_hello_reply_encode(&w, &r);
            reply(fd, h.cmd, h.req_id, 0, &w);
        } else if (h.cmd == TT_CMD_RESERVE || h.cmd == TT_CMD_AUTH) {
            tt_msg_slot r = {.memory_bytes = 1u << 30, .flops_per_s = 1e9, .lease_s = 3600};
            snprintf(r.id, sizeof r.id, "old-0");
            snprintf(r.type, sizeof r.type, "cpu.small");
            memset(r.token, h.cmd == TT_CMD_RESERVE ? 7 : 0, sizeof r.token);
            tt_msg_slot_encode(&w, &r);
            reply(fd, h.cmd, h.req_id, 0, &w);
        } else if (h.cmd == TT_CMD_OPEN && h.len != TT_WIRE_HASH_LEN) {
            o->opens_refused++;
            tt_msg_error_encode(&w, "malformed OPEN: expected the model's 32-byte SHA-256", "old-0");
            reply(fd, h.cmd, h.req_id, TETHER_ERR_PROTOCOL, &w);
        } else if (h.cmd == TT_CMD_OPEN) {
            o->opens_taken++;
            tt_msg_open_reply r = {.handle = 1, .nodes = 1, .n_inputs = 1, .n_outputs = 1};
            tether_value_info in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {4}};
            tether_value_info out = {.name = "y", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {4}};
            tt_msg_open_reply_encode(&w, &r, &in, &out);
            reply(fd, h.cmd, h.req_id, 0, &w);
        } else {
            reply(fd, h.cmd, h.req_id, 0, &w); /* CLOSE, PING, RELEASE: done */
        }
        free(p);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

TEST(a_thread_cap_for_a_server_older_than_it_is_dropped_and_the_session_opens)
{
    th_fresh_home();
    old_server o = {0};
    o.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(o.lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(o.lfd, 4) == 0);
    socklen_t sl = sizeof sa;
    CHECK(getsockname(o.lfd, (struct sockaddr *)&sa, &sl) == 0);
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", ntohs(sa.sin_port));
    tt_attachment a;
    /* the attach itself talks to the server on a connection of its own */
    pthread_create(&o.thread, NULL, old_server_main, &o);
    CHECK_OK(tt_attach("cpu.small", server, &a));
    pthread_join(o.thread, NULL);
    pthread_create(&o.thread, NULL, old_server_main, &o);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    cfg.timeout_ms = 10000;
    cfg.num_threads = 2;
    tether_session *r = NULL;
    CHECK_OK(tether_session_open_bytes(&r, "not a model: the fake server knows it", 37, &cfg));
    CHECK_EQ_INT(tether_session_input_count(r), 1);
    CHECK_EQ_INT(o.opens_refused, 1); /* the cap was offered, refused as malformed... */
    CHECK_EQ_INT(o.opens_taken, 1);   /* ...and the plain OPEN an older server knows followed */
    tether_session_free(r);
    pthread_join(o.thread, NULL);
    close(o.lfd);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
