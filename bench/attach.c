/* Time from `tether attach` to the first inference result, the model already cached by the
 * server (a previous attachment used it): attach (reserve + record), open the session on
 * eia:0 (hash, find, plan), run once. Measured warm (the server still holds the model open
 * from the previous user), cold (tetherd restarted just before: the model is on disk and
 * being opened again) and reload (restarted, and done opening again what it had open). Goal:
 * under 100 ms (Elastic Inference's first inference took 2.7 s).
 *
 * usage: bench_attach [--iterations N] [--no-torch] */
#include "bench_common.h"

#include "client/conn.h"

#include <cjson/cJSON.h>

typedef struct split {
    double attach, open, run, total;
} split;

/* Waits (up to 60 s) until the server has as many models open as before its restart. */
static void wait_models_open(const tp_server *s, int want)
{
    tt_endpoint ep;
    tt_endpoint_parse(s->endpoint, &ep);
    for (double until = tp_now_s() + 60; tp_now_s() < until; tp_sleep_ms(20)) {
        tt_rconn *c;
        if (tt_rconn_open(&ep, NULL, NULL, tt_deadline_ms(5000), &c) != TETHER_OK)
            continue;
        tt_wr w = {0};
        tt_wr_frame_begin(&w);
        tt_reply r;
        int open = 0;
        char *json = NULL;
        if (tt_rconn_call(c, TT_CMD_DESCRIBE, &w, NULL, 0, 0, tt_deadline_ms(5000), &r) == TETHER_OK &&
            tt_msg_text_decode(tt_reply_data(&r), r.len, &json) == TETHER_OK) {
            cJSON *d = cJSON_Parse(json);
            cJSON *srv = cJSON_GetObjectItem(d, "server");
            open = srv ? cJSON_GetObjectItem(srv, "models_open")->valueint : 0;
            cJSON_Delete(d);
            free(json);
            tt_reply_free(&r);
        }
        tt_wr_free(&w);
        tt_rconn_close(c);
        if (open >= want)
            return;
    }
    BENCH_DIE("the restarted server did not open its models again within 60 s");
}

static split once(const tp_server *s, const char *model, bench_inputs *in)
{
    split t;
    double t0 = bench_now_us();
    tt_attachment a;
    if (tt_attach("cpu.large", s->endpoint, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    double t1 = bench_now_us();
    tether_session *r = bench_open(model, "eia:0");
    double t2 = bench_now_us();
    tether_outputs *o;
    if (tether_session_run(r, in->t, in->n, &o) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    double t3 = bench_now_us();
    tether_outputs_free(o);
    tether_session_free(r);
    if (tt_detach(0) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    t = (split){(t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (t3 - t0) / 1e3};
    return t;
}

static void row(const char *name, const char *how, split *v, int n)
{
    double a[64], o[64], r[64], t[64];
    for (int i = 0; i < n; i++)
        a[i] = v[i].attach, o[i] = v[i].open, r[i] = v[i].run, t[i] = v[i].total;
    double p50 = bench_pct(t, n, 0.5), worst = bench_pct(t, n, 1.0);
    printf("%-14s %-6s %8.2f %8.2f %8.2f %10.2f %10.2f   %s\n", name, how, bench_pct(a, n, 0.5), bench_pct(o, n, 0.5),
           bench_pct(r, n, 0.5), p50, worst, p50 < 100 ? "met (< 100 ms)" : "NOT met");
}

static void bench_model(const char *name, const char *model, int iters)
{
    static const char *const args[] = {"--slots", "cpu.large=1", "--sched", "lend", NULL};
    tp_server s;
    bench_server(&s, args);
    /* prime: upload (and hash) once, as a previous user would have */
    tether_session *local = bench_open(model, "cpu");
    bench_inputs in;
    bench_make_inputs(local, &in);
    tether_session_free(local);
    once(&s, model, &in);

    split warm[64], cold[64], reloaded[64];
    for (int i = 0; i < iters; i++)
        warm[i] = once(&s, model, &in);
    int ncold = iters < 5 ? iters : 5;
    for (int i = 0; i < ncold; i++) {
        for (int k = 0; k < 2; k++) {
            tp_signal_wait(&s, SIGTERM);
            char err[512];
            if (tp_start(&s, TETHERD_PATH, bench_root, args, true, "warn", err, sizeof err) != 0)
                BENCH_DIE("%s", err);
            if (k == 1)
                wait_models_open(&s, 1);
            (k ? reloaded : cold)[i] = once(&s, model, &in);
        }
    }
    row(name, "warm", warm, iters);
    row(name, "cold", cold, ncold);
    row(name, "reload", reloaded, ncold);
    bench_free_inputs(&in);
    tp_signal_wait(&s, SIGTERM);
}

int main(int argc, char **argv)
{
    int iters = 10;
    bool torch = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-torch") == 0)
            torch = false;
        else
            BENCH_DIE("usage: bench_attach [--iterations N] [--no-torch]");
    }
    if (iters < 1 || iters > 64)
        BENCH_DIE("--iterations must be 1..64");
    bench_init();
    char tiny[400], path[400];
    snprintf(tiny, sizeof tiny, "%s/tiny.onnx", bench_root);
    pbw m = bench_dense(64, 64);
    bench_write(tiny, &m);
    ob_free(&m);
    printf("\ntether attach -> first inference result, model cached on the server (ms; p50 of %d, cold: of up to 5)\n"
           "warm: the server still has the model open from the previous attachment; cold: tetherd was restarted\n"
           "just before the attach; reload: restarted, and it has opened again what it had open\n",
           iters);
    printf("%-14s %-6s %8s %8s %8s %10s %10s   %s\n", "model", "server", "attach", "open", "run", "total p50",
           "total max", "goal");
    fflush(stdout);
    bench_model("tiny", tiny, iters);
    fflush(stdout);
    const char *names[] = {"resnet18", "resnet50"};
    for (int i = 0; torch && i < 2; i++) {
        if (bench_torch_model(names[i], path, sizeof path))
            bench_model(names[i], path, iters);
        else
            fprintf(stderr, "bench: %s skipped: it could not be exported (python3-torch missing?)\n", names[i]);
        fflush(stdout);
    }
    return 0;
}
