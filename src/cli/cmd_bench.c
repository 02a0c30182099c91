/* tether bench: measure a model on a target (first inference, mean, percentiles, throughput),
 * or with --sweep on the host CPU and on each accelerator type attached in turn, and print
 * the seeds' table with price and cost per 100,000 inferences (or the same rows as JSON,
 * which `tether advise` reads). */
#include "cli.h"

#include "advise.h"
#include "bench.h"
#include "client/attach.h"
#include "prices.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TYPES "eia2.medium,eia2.large,eia2.xlarge,cpu.small,cpu.medium,cpu.large"

static void usage(FILE *f)
{
    fprintf(f, "usage: tether bench MODEL.onnx [options]\n"
               "       tether bench MODEL.onnx --sweep --server HOST:PORT [options]\n\n"
               "Measures MODEL: load time, first inference, then timed runs (mean, p50/p90/p95/p99,\n"
               "throughput). Inputs are made up from the model's declared shapes unless given.\n\n"
               "  -t, --target TARGET     cpu (default), cuda:N (a local GPU), eia:N, tcp://HOST:PORT\n"
               "                          or unix:PATH; TETHER_PRECISION=tf32|fp16 for a GPU's math\n"
               "  -n, --runs N            timed runs (default 100)\n"
               "  -w, --warmup N          untimed runs before them (default 10)\n"
               "  -b, --batch B           size of the model's free first (batch) dimension (default 1)\n"
               "  -c, --concurrency C     threads running the model at once (default 1)\n"
               "  -i, --input [NAME=]FILE.npy  an input from a file instead of made-up values\n"
               "      --dim NAME=VALUE    the size of a named symbolic dimension (default 1)\n"
               "      --threads N         size of the library's thread pool (default: all cores)\n"
               "      --precision P       fp32 (default), bf16 or int8 (convolutions and constant-weight\n"
               "                          matrix products on the cpu backend);\n"
               "                          reports the outputs' error against fp32 on the same inputs\n"
               "      --host TYPE         the EC2 type this host stands for, to price the rows\n"
               "                          (default $TETHER_HOST_TYPE, else 'local': unpriced)\n"
               "      --prices FILE       a price file, as for 'tether advise --prices'\n"
               "      --json              print the rows as JSON (the input of 'tether advise')\n"
               "  -o, --output FILE       also write that JSON to FILE, whatever is printed\n"
               "      --raw               with --json: every timed run's latency too\n"
               "      --no-progress       no progress bar (there is one only when stderr is a terminal)\n\n"
               "sweep:\n"
               "      --sweep             measure on the host CPU, then attach each accelerator type in\n"
               "                          turn, measure on it and detach it\n"
               "      --server HOST:PORT  the tetherd server to attach from (default $TETHER_SERVER)\n"
               "      --types LIST        accelerator types, comma-separated (default\n"
               "                          " DEFAULT_TYPES ")\n"
               "      --no-cpu            leave the host CPU out of the sweep\n"
               "  -h, --help\n\n"
               "Cost per 100,000 inferences = price per hour / 3600 * mean seconds * 100,000.\n");
}

typedef struct bench_row {
    char target[96];
    char accelerator[48]; /* "" for the host CPU */
    double server_price;  /* the accelerator's price as its server sets it; < 0: none */
    double price;         /* host + accelerator per hour; < 0 when not known */
    char price_source[48]; /* where the accelerator's part came from: catalog, price file, server */
    tt_bench_result res;
} bench_row;

typedef struct skipped {
    char type[48];
    char error[512];
} skipped;

enum {
    OPT_DIM = 256,
    OPT_THREADS,
    OPT_PRECISION,
    OPT_HOST,
    OPT_PRICES,
    OPT_JSON,
    OPT_RAW,
    OPT_NO_PROGRESS,
    OPT_SWEEP,
    OPT_SERVER,
    OPT_TYPES,
    OPT_NO_CPU
};

static void on_signal(int sig)
{
    (void)sig;
    tt_bench_stop = 1;
}

static bool parse_int(const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* The row's price: the host's (price file, else catalog) plus the accelerator's: a price
 * file naming its type first, then the price its server sets, then the catalog. */
static void row_price(const tt_prices *prices, const char *host, bench_row *r)
{
    tt_price h, a;
    bool h_user = false, a_user = false;
    r->price = -1;
    if (!tt_price_lookup(prices, host, &h, &h_user) || h.price_per_hour < 0)
        return;
    if (!r->accelerator[0]) {
        r->price = h.price_per_hour;
        snprintf(r->price_source, sizeof r->price_source, "%s", h_user ? "price file" : "catalog");
        return;
    }
    bool known = tt_price_lookup(prices, r->accelerator, &a, &a_user);
    double acc;
    const char *from;
    if (known && a_user && a.price_per_hour >= 0)
        acc = a.price_per_hour, from = "price file";
    else if (r->server_price > 0)
        acc = r->server_price, from = "server";
    else if (known && a.price_per_hour >= 0)
        acc = a.price_per_hour, from = "catalog";
    else
        return;
    r->price = h.price_per_hour + acc;
    snprintf(r->price_source, sizeof r->price_source, "host: %s, accelerator: %s", h_user ? "price file" : "catalog",
             from);
}

/* The price the attachment's server sets for its slot type (< 0: none, or unreachable). */
static double server_price(const tt_attachment *a)
{
    tt_accel_health h;
    tt_accel_probe(a, 3000, &h);
    return h.price_per_hour;
}

/* ---- output -------------------------------------------------------------------------------- */

static cJSON *num_or_null(double v)
{
    return v >= 0 && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *row_json(const bench_row *r, const char *model, const char *host, int batch, bool raw)
{
    const tt_bench_result *b = &r->res;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddNumberToObject(o, "batch", batch);
    cJSON_AddStringToObject(o, "target", r->target);
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddItemToObject(o, "accelerator",
                          r->accelerator[0] ? cJSON_CreateString(r->accelerator) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "where", b->where);
    cJSON_AddItemToObject(o, "price_per_hour", num_or_null(r->price));
    cJSON_AddNumberToObject(o, "load_ms", b->load_ms);
    cJSON_AddNumberToObject(o, "first_ms", b->first_ms);
    cJSON_AddNumberToObject(o, "mean_ms", b->lat.mean);
    cJSON_AddNumberToObject(o, "stddev_ms", b->lat.stddev);
    cJSON_AddNumberToObject(o, "min_ms", b->lat.min);
    cJSON_AddNumberToObject(o, "p50_ms", b->lat.p50);
    cJSON_AddNumberToObject(o, "p90_ms", b->lat.p90);
    cJSON_AddNumberToObject(o, "p95_ms", b->lat.p95);
    cJSON_AddNumberToObject(o, "p99_ms", b->lat.p99);
    cJSON_AddNumberToObject(o, "max_ms", b->lat.max);
    cJSON_AddNumberToObject(o, "wall_s", b->wall_s);
    cJSON_AddNumberToObject(o, "throughput_per_s", b->throughput);
    cJSON_AddNumberToObject(o, "samples_per_s", b->throughput * batch);
    cJSON_AddItemToObject(o, "price_source", r->price >= 0 ? cJSON_CreateString(r->price_source) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "cost_per_100k",
                          num_or_null(r->price >= 0 ? tt_adv_cost_per_100k(r->price, b->lat.mean) : -1));
    cJSON_AddItemToObject(o, "cost_per_100k_samples",
                          num_or_null(r->price >= 0 ? tt_adv_cost_per_100k(r->price, b->lat.mean) / batch : -1));
    cJSON_AddNumberToObject(o, "memory_needed", (double)b->memory_needed);
    cJSON_AddNumberToObject(o, "flops", (double)b->flops);
    if (b->compared) {
        cJSON *acc = cJSON_AddObjectToObject(o, "accuracy_vs_fp32");
        cJSON_AddNumberToObject(acc, "max_abs_err", b->max_abs_err);
        cJSON_AddNumberToObject(acc, "rel_err", b->rel_err);
        cJSON_AddItemToObject(acc, "top1_agreement", num_or_null(b->top1_agreement));
    }
    if (raw && b->latencies)
        cJSON_AddItemToObject(o, "latencies_ms", cJSON_CreateDoubleArray(b->latencies, b->n_latencies));
    return o;
}

static int print_json(FILE *f, const char *model, const char *host, const tt_bench_opts *o, const bench_row *rows,
                      int n, const skipped *sk, int n_sk)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "model", model);
    cJSON_AddStringToObject(doc, "host", host);
    cJSON_AddNumberToObject(doc, "runs", o->runs);
    cJSON_AddNumberToObject(doc, "warmup", o->warmup);
    cJSON_AddNumberToObject(doc, "batch", o->batch);
    cJSON_AddNumberToObject(doc, "concurrency", o->concurrency);
    cJSON *arr = cJSON_AddArrayToObject(doc, "rows");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, row_json(&rows[i], model, host, o->batch, o->keep_latencies));
    cJSON *sarr = cJSON_AddArrayToObject(doc, "skipped");
    for (int i = 0; i < n_sk; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "accelerator", sk[i].type);
        cJSON_AddStringToObject(e, "error", sk[i].error);
        cJSON_AddItemToArray(sarr, e);
    }
    char *text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (!text)
        return tt_cli_fail("bench", "out of memory printing JSON");
    fprintf(f, "%s\n", text);
    free(text);
    return 0;
}

static void print_one(const char *model, const tt_bench_opts *o, const bench_row *r)
{
    const tt_bench_result *b = &r->res;
    printf("%s on %s: %d runs after %d warm-up, batch %d, concurrency %d\n", tt_cli_esc(model),
           tt_cli_esc(b->where[0] ? b->where : r->target),
           o->runs, o->warmup, o->batch, o->concurrency);
    printf("  load (open + warm-up)  %10.3f ms\n", b->load_ms);
    printf("  first inference        %10.3f ms\n", b->first_ms);
    printf("  mean                   %10.3f ms  (stddev %.3f, min %.3f, max %.3f)\n", b->lat.mean, b->lat.stddev,
           b->lat.min, b->lat.max);
    printf("  p50 / p90 / p95 / p99  %10.3f / %.3f / %.3f / %.3f ms\n", b->lat.p50, b->lat.p90, b->lat.p95, b->lat.p99);
    printf("  throughput             %10.1f inferences/s (%.1f samples/s)\n", b->throughput, b->throughput * o->batch);
    if (b->compared) {
        printf("  %-4s vs fp32           max |error| %.3g (%.3g of the largest output)", o->precision, b->max_abs_err,
               b->rel_err);
        if (b->top1_agreement >= 0)
            printf(", top-1 agrees on %.1f%% of rows", 100 * b->top1_agreement);
        printf("\n");
    }
    if (r->price >= 0)
        printf("  cost                   $%.4f/hour, $%.5f per 100,000 inferences\n", r->price,
               tt_adv_cost_per_100k(r->price, b->lat.mean));
}

static void print_sweep(const bench_row *rows, int n, const skipped *sk, int n_sk)
{
    printf("%-10s %-13s %9s %10s %10s %10s %12s %14s\n", "target", "accelerator", "$/hour", "first ms", "mean ms",
           "p90 ms", "inf./s", "$/100k inf.");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char price[32] = "?", cost[32] = "?";
        if (r->price >= 0) {
            snprintf(price, sizeof price, "%.4f", r->price);
            snprintf(cost, sizeof cost, "%.5f", tt_adv_cost_per_100k(r->price, r->res.lat.mean));
        }
        printf("%-10s %-13s %9s %10.3f %10.3f %10.3f %12.1f %14s\n", tt_cli_esc(r->target),
               r->accelerator[0] ? tt_cli_esc(r->accelerator) : "none", price, r->res.first_ms, r->res.lat.mean, r->res.lat.p90,
               r->res.throughput, cost);
    }
    for (int i = 0; i < n_sk; i++)
        printf("skipped %s: %s\n", tt_cli_esc(sk[i].type), tt_cli_esc(sk[i].error));
}

/* ---- the sweep ------------------------------------------------------------------------------ */

/* Attaches `type`, measures on it, detaches. False (and *sk filled) when it could not. */
static bool sweep_one(const char *model, const char *type, const char *server, const tt_bench_opts *base,
                      bench_row *row, skipped *sk, bool json)
{
    snprintf(sk->type, sizeof sk->type, "%s", type);
    tt_attachment a;
    if (tt_attach(type, server, &a) != TT_OK) {
        snprintf(sk->error, sizeof sk->error, "cannot attach: %s", tether_last_error());
        return false;
    }
    memset(row, 0, sizeof *row);
    snprintf(row->target, sizeof row->target, "eia:%d", a.ordinal);
    snprintf(row->accelerator, sizeof row->accelerator, "%s", type);
    row->server_price = server_price(&a);
    if (!json)
        fprintf(stderr, "tether bench: attached %s as %s (%s)\n", tt_cli_esc(type), row->target, tt_cli_esc(a.id));
    tt_bench_opts o = *base;
    o.label = type;
    tether_status st = tt_bench_measure(model, row->target, &o, &row->res);
    if (st != TETHER_OK)
        snprintf(sk->error, sizeof sk->error, "%s", row->res.error);
    if (tt_detach(a.ordinal) != TT_OK)
        fprintf(stderr, "tether bench: warning: detaching %s (%s) failed: %s\n", row->target, tt_cli_esc(type),
                tt_cli_esc(tether_last_error()));
    return st == TETHER_OK;
}

int tt_cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},
        {"runs", required_argument, 0, 'n'},
        {"warmup", required_argument, 0, 'w'},
        {"batch", required_argument, 0, 'b'},
        {"concurrency", required_argument, 0, 'c'},
        {"input", required_argument, 0, 'i'},
        {"dim", required_argument, 0, OPT_DIM},
        {"threads", required_argument, 0, OPT_THREADS},
        {"precision", required_argument, 0, OPT_PRECISION},
        {"host", required_argument, 0, OPT_HOST},
        {"prices", required_argument, 0, OPT_PRICES},
        {"json", no_argument, 0, OPT_JSON},
        {"raw", no_argument, 0, OPT_RAW},
        {"output", required_argument, 0, 'o'},
        {"no-progress", no_argument, 0, OPT_NO_PROGRESS},
        {"sweep", no_argument, 0, OPT_SWEEP},
        {"server", required_argument, 0, OPT_SERVER},
        {"types", required_argument, 0, OPT_TYPES},
        {"no-cpu", no_argument, 0, OPT_NO_CPU},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    tt_bench_opts o = {.runs = 100, .warmup = 10, .batch = 1, .concurrency = 1};
    const char *target = "cpu", *host = getenv("TETHER_HOST_TYPE"), *prices_path = NULL;
    const char *server = getenv("TETHER_SERVER"), *types = DEFAULT_TYPES, *output = NULL;
    bool json = false, progress = true, sweep = false, cpu_row = true, target_given = false;
    int threads = 0;
    char **ins = calloc((size_t)argc + 1, sizeof *ins), **dims = calloc((size_t)argc + 1, sizeof *dims);
    if (!ins || !dims) {
        free(ins);
        free(dims);
        return tt_cli_fail("bench", "out of memory");
    }
    int rc = 0, opt;
    optind = 1;
    while (!rc && (opt = getopt_long(argc, argv, "t:n:w:b:c:i:o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': target = optarg, target_given = true; break;
        case 'n':
            if (!parse_int(optarg, 1, &o.runs))
                rc = tt_cli_usage("bench", "--runs '%s': expected a whole number of at least 1", optarg);
            break;
        case 'w':
            if (!parse_int(optarg, 0, &o.warmup))
                rc = tt_cli_usage("bench", "--warmup '%s': expected a whole number of at least 0", optarg);
            break;
        case 'b':
            if (!parse_int(optarg, 1, &o.batch))
                rc = tt_cli_usage("bench", "--batch '%s': expected a whole number of at least 1", optarg);
            break;
        case 'c':
            if (!parse_int(optarg, 1, &o.concurrency) || o.concurrency > 1024)
                rc = tt_cli_usage("bench", "--concurrency '%s': expected a whole number from 1 to 1024", optarg);
            break;
        case 'i': ins[o.n_inputs++] = optarg; break;
        case OPT_DIM: {
            const char *eq = strchr(optarg, '=');
            int v;
            if (!eq || eq == optarg || !parse_int(eq + 1, 0, &v))
                rc = tt_cli_usage("bench", "--dim '%s': expected NAME=VALUE", optarg);
            dims[o.n_dims++] = optarg;
            break;
        }
        case OPT_THREADS:
            if (!parse_int(optarg, 1, &threads))
                rc = tt_cli_usage("bench", "--threads '%s': expected a whole number of at least 1", optarg);
            break;
        case OPT_PRECISION: o.precision = optarg; break;
        case OPT_HOST: host = optarg; break;
        case OPT_PRICES: prices_path = optarg; break;
        case OPT_JSON: json = true; break;
        case 'o': output = optarg; break;
        case OPT_RAW: o.keep_latencies = true; break;
        case OPT_NO_PROGRESS: progress = false; break;
        case OPT_SWEEP: sweep = true; break;
        case OPT_SERVER: server = optarg; break;
        case OPT_TYPES: types = optarg; break;
        case OPT_NO_CPU: cpu_row = false; break;
        case 'h': usage(stdout); goto done;
        default: rc = tt_cli_usage("bench", NULL); goto done;
        }
    }
    if (rc)
        goto done;
    if (optind != argc - 1) {
        rc = tt_cli_usage("bench", optind == argc ? "no model given" : "one model at a time ('%s' is extra)",
                          argv[argc - 1]);
        goto done;
    }
    if (sweep && target_given) {
        rc = tt_cli_usage("bench", "--sweep measures the host CPU and each accelerator type: it takes no --target");
        goto done;
    }
    if (sweep && (!server || !*server)) {
        rc = tt_cli_usage("bench", "--sweep needs a tetherd server to attach from: --server HOST:PORT (or set "
                                  "TETHER_SERVER)");
        goto done;
    }
    if (!host || !*host)
        host = "local";
    const char *model = argv[optind];
    o.inputs = ins;
    o.dims = dims;
    o.progress = progress && isatty(STDERR_FILENO);
    if (threads > 0)
        tether_set_num_threads(threads);

    tt_prices prices = {0};
    tether_status pst = prices_path ? tt_prices_load(prices_path, &prices) : TETHER_OK;
    if (pst != TT_OK) {
        rc = tt_cli_fail_last("bench", pst);
        goto done;
    }
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int); /* stop cleanly, so a sweep detaches what it attached */
    sigaction(SIGTERM, &sa, &old_term);

    int cap = 1, n = 0, n_sk = 0;
    for (const char *p = types; *p; p++)
        cap += *p == ',';
    cap += 1;
    bench_row *rows = calloc((size_t)cap, sizeof *rows);
    skipped *sk = calloc((size_t)cap, sizeof *sk);
    if (!rows || !sk) {
        rc = tt_cli_fail("bench", "out of memory");
        goto out;
    }
    if (!sweep || cpu_row) {
        bench_row *r = &rows[n];
        snprintf(r->target, sizeof r->target, "%s", sweep ? "cpu" : target);
        r->server_price = -1;
        if (strcmp(r->target, "cpu") != 0) {
            /* An attached accelerator: its type (and its server's price) prices the row. Other
             * targets stay unpriced. */
            int ord;
            tt_attachment a;
            if (sscanf(r->target, "eia:%d", &ord) == 1 && tt_attachment_get(ord, &a) == TT_OK) {
                snprintf(r->accelerator, sizeof r->accelerator, "%s", a.type);
                r->server_price = server_price(&a);
                memset(a.token, 0, sizeof a.token);
            } else {
                snprintf(r->accelerator, sizeof r->accelerator, "%s", r->target);
            }
        }
        o.label = sweep ? "host CPU" : r->target;
        tether_status mst = tt_bench_measure(model, r->target, &o, &r->res);
        if (mst != TETHER_OK) {
            rc = tt_cli_fail_st("bench", mst, "%s", r->res.error);
            goto out;
        }
        row_price(&prices, host, r);
        n++;
    }
    if (sweep) {
        char *list = strdup(types), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && !tt_bench_stop; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (!*t)
                continue;
            if (sweep_one(model, t, server, &o, &rows[n], &sk[n_sk], json)) {
                row_price(&prices, host, &rows[n]);
                n++;
            } else {
                free(rows[n].res.latencies); /* the table says why it was skipped */
                n_sk++;
            }
        }
        free(list);
    }
    if (tt_bench_stop) {
        rc = tt_cli_fail("bench", "interrupted");
        goto out;
    }
    if (output) {
        FILE *f = fopen(output, "w");
        if (!f || print_json(f, model, host, &o, rows, n, sk, n_sk) != 0 || ferror(f)) {
            rc = tt_cli_fail("bench", "cannot write '%s': %s", output, strerror(errno));
            if (f)
                fclose(f);
            goto out;
        }
        if (fclose(f) != 0) {
            rc = tt_cli_fail("bench", "cannot write '%s': %s", output, strerror(errno));
            goto out;
        }
    }
    if (json)
        rc = print_json(stdout, model, host, &o, rows, n, sk, n_sk);
    else if (sweep)
        print_sweep(rows, n, sk, n_sk);
    else
        print_one(model, &o, &rows[0]);
    if (!rc && sweep && n_sk > 0 && n == (cpu_row ? 1 : 0))
        rc = tt_cli_fail("bench", "--sweep: no accelerator type could be measured (first: %s: %s)", sk[0].type,
                         sk[0].error);
out:
    for (int i = 0; rows && i < n; i++)
        free(rows[i].res.latencies);
    free(rows);
    free(sk);
    tt_prices_free(&prices);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
done:
    free(ins);
    free(dims);
    return rc;
}
