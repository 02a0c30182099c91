/* tether advise: read measured (host, accelerator, latency) rows, cost each per 100,000
 * inferences, and recommend the cheapest combination meeting the latency and memory
 * constraints, as a table, a JSON object and an SVG chart; optionally compare always-on
 * combinations with a per-request (serverless) price at a monthly volume. */
#include "cli.h"

#include "advise.h"
#include "advise_io.h"
#include "core/catalog.h"
#include "svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether advise FILE... [options]\n\n"
               "Costs each measured host + accelerator combination per 100,000 inferences\n"
               "(price per hour / 3600 * mean seconds per inference * 100,000) and recommends the\n"
               "cheapest one meeting the constraints.\n\n"
               "FILE is the output of 'tether bench --json' (a sweep or a single run), or a table\n"
               "(CSV, tab-separated or Markdown) with the columns host,accelerator,price_per_hour,\n"
               "mean_ms and optionally p90_ms, p95_ms, p99_ms, batch, model and memory_needed\n"
               "(bytes, or 2GiB); headers as write-ups print them ('Instance type', 'EI\n"
               "accelerator', 'Price per hour ($)', 'Average latency (ms)', 'P90') are understood,\n"
               "type names in any case and old spellings (C5.4XL, eia.medium, ml.c5.large), prices\n"
               "with '$'. An empty accelerator or 'none' means the host alone; an empty price is\n"
               "looked up in the price catalog. '-' reads standard input.\n\n"
               "Rows measured at batch B > 1 are costed per sample (an inference serves B). Rows of\n"
               "different models or batch sizes are refused unless --allow-mixed.\n\n"
               "constraints:\n"
               "  --max-p90-ms MS              P90 latency at most MS (likewise --max-p95-ms,\n"
               "                               --max-p99-ms); a row without that percentile fails it\n"
               "  --max-mean-ms MS             mean latency at most MS\n"
               "  --min-accelerator-memory SIZE  memory where the model runs (accelerator, GPU, or\n"
               "                               RAM for CPU-only rows) at least SIZE, e.g. 2GiB\n\n"
               "prices:\n"
               "  --prices FILE                CSV name,price_per_hour[,kind,memory_gib,gpu_memory_gib]\n"
               "                               overriding the built-in catalog (EC2 c5/m5/g4dn/p2/p3 hosts,\n"
               "                               eia1/eia2 accelerators, us-east-1 2019-2020) and the\n"
               "                               prices recorded in the rows for the types it names\n"
               "  --host TYPE                  the host type of rows measured without one (host\n"
               "                               'local' or empty), e.g. c5.xlarge\n"
               "  --list-prices                print the built-in catalog and exit\n\n"
               "output:\n"
               "  --json                       print one JSON object instead of the table\n"
               "  --svg FILE                   write the chart to FILE (default advise.svg)\n"
               "  --no-svg                     do not write a chart\n\n"
               "serverless comparison:\n"
               "  --monthly-volume N           compare always-on combinations with a per-request\n"
               "                               price at N inferences a month, and report the volume\n"
               "                               where they cross\n"
               "  --serverless-ms MS           billed duration of one inference (default: the mean\n"
               "                               of the cheapest CPU-only row)\n"
               "  --serverless-memory-mb MB    configured memory (default 2048)\n"
               "  --serverless-request-price USD  per million requests (default 0.20, AWS Lambda)\n"
               "  --serverless-gb-second-price USD  per GB-second (default 0.0000166667, AWS Lambda)\n"
               "  --serverless-granularity-ms MS  billing rounds durations up to this (default 1)\n"
               "  --utilization U              the share of an always-on instance's time spent\n"
               "                               serving (0 < U <= 1, or a percentage; default 1):\n"
               "                               at 0.5 each instance serves half as many requests\n\n"
               "  --allow-mixed                compare rows of different models or batch sizes\n\n"
               "Exit status: 0 when a combination is recommended, 1 when none meets the\n"
               "constraints or on error, 2 on a usage error.\n");
}

enum {
    OPT_MAX_P90 = 256,
    OPT_MAX_MEAN,
    OPT_MIN_MEM,
    OPT_PRICES,
    OPT_HOST,
    OPT_LIST,
    OPT_JSON,
    OPT_SVG,
    OPT_NO_SVG,
    OPT_VOLUME,
    OPT_SL_MS,
    OPT_SL_MEM,
    OPT_SL_REQ,
    OPT_SL_GBS,
    OPT_SL_GRAN,
    OPT_MAX_P95,
    OPT_MAX_P99,
    OPT_ALLOW_MIXED,
    OPT_UTIL,
};

static bool parse_positive(const char *s, double *out, bool allow_zero)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0 || (!allow_zero && v == 0))
        return false;
    *out = v;
    return true;
}

static const char *class_name(tt_adv_class c)
{
    return c == TT_ADV_GPU_ONLY ? "gpu-only" : c == TT_ADV_ACCELERATED ? "accelerated" : "cpu-only";
}

static void combo(const tt_adv_row *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", r->host[0] ? r->host : "(unknown host)", r->accelerator[0] ? " + " : "", r->accelerator);
}

/* ---- reading ------------------------------------------------------------------------------ */

static tt_status read_stdin(tt_adv_row **rows, int *n)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading standard input");
        if (len + 1 == cap) {
            if (cap >= ((size_t)64 << 20)) {
                free(buf);
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "standard input: more than 64 MiB");
            }
            char *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
            continue;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, stdin);
        if (!got)
            break;
        len += got;
    }
    buf[len] = 0;
    tt_status s = tt_adv_read_text(buf, "(standard input)", rows, n);
    free(buf);
    return s;
}

/* ---- text output --------------------------------------------------------------------------- */

/* "12.345", or "-" for a percentile not measured */
static const char *ms_str(double v, char *buf, size_t n)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.3f", v);
    return buf;
}

static const char *unit_of(bool batched) { return batched ? "samples" : "inferences"; }

static void print_table(const tt_adv_row *rows, int n, bool batched)
{
    printf("%4s  %-14s %-13s %9s %9s %9s %13s  %s\n", "rank", "host", "accelerator", "$/hour", "mean ms", "p90 ms",
           batched ? "$/100k smp." : "$/100k inf.", "meets constraints");
    for (int i = 0; i < n; i++) {
        const tt_adv_row *r = &rows[i];
        char price[32] = "?", cost[32] = "?", p90[32];
        if (r->price_used >= 0)
            snprintf(price, sizeof price, "%.4f", r->price_used);
        if (r->cost_per_100k >= 0)
            snprintf(cost, sizeof cost, "%.5f", r->cost_per_100k);
        printf("%4d  %-14s %-13s %9s %9.3f %9s %13s  %s%s\n", i + 1, r->host[0] ? tt_cli_esc(r->host) : "?",
               r->accelerator[0] ? tt_cli_esc(r->accelerator) : "none", price, r->mean_ms,
               ms_str(r->p90_ms, p90, sizeof p90), cost, r->meets ? "yes" : "no: ", tt_cli_esc(r->why_not));
    }
    if (batched)
        printf("costs are per 100,000 samples: a row measured at batch B serves B samples an inference\n");
}

static void print_advice(const tt_adv_row *rows, int n, const tt_adv_result *res, bool batched)
{
    char name[128], p90[32];
    const char *unit = unit_of(batched);
    printf("\n");
    if (res->recommended < 0) {
        printf("recommended: none: %s\n", res->reason);
    } else {
        const tt_adv_row *r = &rows[res->recommended];
        combo(r, name, sizeof name);
        printf("recommended: %s at $%.5f per 100,000 %s ($%.4f/hour, mean %.3g ms, p90 %s ms)\n", tt_cli_esc(name),
               r->cost_per_100k, unit, r->price_used, r->mean_ms, ms_str(r->p90_ms, p90, sizeof p90));
        if (res->runner_up >= 0) {
            const tt_adv_row *u = &rows[res->runner_up];
            combo(u, name, sizeof name);
            printf("runner-up:   %s at $%.5f per 100,000 %s (%.0f%% more)\n", tt_cli_esc(name), u->cost_per_100k, unit,
                   r->cost_per_100k > 0 ? (u->cost_per_100k / r->cost_per_100k - 1) * 100 : 0);
        } else {
            printf("runner-up:   none (no other row meets the constraints)\n");
        }
        const struct {
            int idx;
            double saved;
            const char *what;
        } vs[2] = {{res->cheapest_cpu, res->savings_vs_cpu, "CPU-only"},
                   {res->cheapest_gpu, res->savings_vs_gpu, "GPU-only"}};
        for (int k = 0; k < 2; k++) {
            const char *lead = k == 0 ? "savings:    " : "            ";
            if (vs[k].idx < 0) {
                printf("%s no %s row to compare with\n", lead, vs[k].what);
                continue;
            }
            const tt_adv_row *o = &rows[vs[k].idx];
            combo(o, name, sizeof name);
            if (vs[k].idx == res->recommended)
                printf("%s the recommendation is the cheapest %s row\n", lead, vs[k].what);
            else
                printf("%s %.0f%% against the cheapest %s row (%s, $%.5f per 100k%s)\n", lead, vs[k].saved * 100,
                       vs[k].what, name, o->cost_per_100k, o->meets ? "" : ", which misses the constraints");
        }
    }
    int failing = 0;
    for (int i = 0; i < n; i++)
        failing += !rows[i].meets;
    if (failing) {
        printf("not meeting the constraints:\n");
        for (int i = 0; i < n; i++)
            if (!rows[i].meets) {
                combo(&rows[i], name, sizeof name);
                printf("  %s: %s\n", name, rows[i].why_not);
            }
    }
}

/* ---- JSON output ------------------------------------------------------------------------- */

static cJSON *num_or_null(double v)
{
    return v >= 0 && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *row_json(const tt_adv_row *r, int rank)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddItemToObject(o, "host", r->host[0] ? cJSON_CreateString(r->host) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "accelerator",
                          r->accelerator[0] ? cJSON_CreateString(r->accelerator) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "class", class_name(r->cls));
    cJSON_AddStringToObject(o, "family", r->family);
    cJSON_AddItemToObject(o, "price_per_hour", num_or_null(r->price_used));
    cJSON_AddNumberToObject(o, "mean_ms", r->mean_ms);
    cJSON_AddItemToObject(o, "p90_ms", num_or_null(r->p90_ms));
    cJSON_AddItemToObject(o, "p95_ms", num_or_null(r->p95_ms));
    cJSON_AddItemToObject(o, "p99_ms", num_or_null(r->p99_ms));
    cJSON_AddItemToObject(o, "batch", r->batch > 0 ? cJSON_CreateNumber(r->batch) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "model", r->model[0] ? cJSON_CreateString(r->model) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "cost_per_100k", num_or_null(r->cost_per_100k));
    cJSON_AddItemToObject(o, "memory_needed",
                          r->memory_needed > 0 ? cJSON_CreateNumber(r->memory_needed) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "device_memory",
                          r->device_memory > 0 ? cJSON_CreateNumber(r->device_memory) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "meets_constraints", r->meets);
    cJSON_AddItemToObject(o, "why_not", r->meets ? cJSON_CreateNull() : cJSON_CreateString(r->why_not));
    return o;
}

static cJSON *savings_json(const tt_adv_row *rows, int idx, double saved, bool have_rec)
{
    if (idx < 0 || !have_rec)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "row", row_json(&rows[idx], idx + 1));
    cJSON_AddNumberToObject(o, "fraction_saved", saved);
    return o;
}

/* ---- serverless ---------------------------------------------------------------------------- */

typedef struct monthly_opts {
    double volume; /* < 0: not asked */
    tt_adv_serverless sl;
    const tt_adv_constraints *c;
} monthly_opts;

/* Serverless runs the model on CPU: its per-inference time is held to the same latency
 * limits (its mean is all we know, so it stands for the p90 too). Empty when it meets them. */
static void serverless_why_not(const monthly_opts *m, char *buf, size_t n)
{
    buf[0] = 0;
    double d = m->sl.duration_ms;
    if (m->c->max_p90_ms > 0 && d > m->c->max_p90_ms)
        snprintf(buf, n, "%.4g ms per inference > p90 limit %.4g ms", d, m->c->max_p90_ms);
    else if (m->c->max_mean_ms > 0 && d > m->c->max_mean_ms)
        snprintf(buf, n, "%.4g ms per inference > mean limit %.4g ms", d, m->c->max_mean_ms);
}

/* Picks the serverless duration when not given: the mean of the cheapest CPU-only row measured
 * one request at a time (batch 1: a serverless request is one sample). */
static int serverless_duration(const tt_adv_row *rows, int n, tt_adv_serverless *sl)
{
    if (sl->duration_ms > 0)
        return 0;
    int idx = -1;
    for (int i = 0; i < n && idx < 0; i++)
        if (rows[i].cls == TT_ADV_CPU_ONLY && rows[i].cost_per_100k >= 0 && rows[i].batch <= 1)
            idx = i;
    if (idx < 0)
        return tt_cli_fail("advise", "--monthly-volume: no CPU-only row measured at batch 1 to take the serverless "
                                     "duration from; give it with --serverless-ms");
    sl->duration_ms = rows[idx].mean_ms;
    return 0;
}

static cJSON *monthly_json(const tt_adv_row *rows, int n, const monthly_opts *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "volume", m->volume);
    cJSON *sl = cJSON_AddObjectToObject(o, "serverless");
    cJSON_AddNumberToObject(sl, "per_million_requests", m->sl.per_million_requests);
    cJSON_AddNumberToObject(sl, "per_gb_second", m->sl.per_gb_second);
    cJSON_AddNumberToObject(sl, "memory_mb", m->sl.memory_mb);
    cJSON_AddNumberToObject(sl, "duration_ms", m->sl.duration_ms);
    cJSON_AddNumberToObject(sl, "billed_ms", tt_adv_serverless_billed_ms(&m->sl));
    cJSON_AddNumberToObject(sl, "granularity_ms", m->sl.granularity_ms);
    cJSON_AddNumberToObject(o, "utilization", m->sl.utilization);
    cJSON_AddNumberToObject(sl, "per_request_usd", tt_adv_serverless_per_request(&m->sl));
    cJSON_AddNumberToObject(sl, "monthly_usd", m->volume * tt_adv_serverless_per_request(&m->sl));
    char why[160];
    serverless_why_not(m, why, sizeof why);
    cJSON_AddBoolToObject(sl, "meets_constraints", why[0] == 0);
    cJSON_AddItemToObject(sl, "why_not", why[0] ? cJSON_CreateString(why) : cJSON_CreateNull());
    cJSON *arr = cJSON_AddArrayToObject(o, "always_on");
    for (int i = 0; i < n; i++) {
        if (!rows[i].meets)
            continue;
        tt_adv_monthly mo;
        tt_adv_monthly_compare(&rows[i], m->volume, &m->sl, &mo);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "host", rows[i].host[0] ? cJSON_CreateString(rows[i].host) : cJSON_CreateNull());
        cJSON_AddItemToObject(e, "accelerator",
                              rows[i].accelerator[0] ? cJSON_CreateString(rows[i].accelerator) : cJSON_CreateNull());
        cJSON_AddNumberToObject(e, "price_per_hour", rows[i].price_used);
        cJSON_AddNumberToObject(e, "capacity_per_instance", mo.capacity);
        cJSON_AddNumberToObject(e, "instances", mo.instances);
        cJSON_AddNumberToObject(e, "monthly_usd", mo.always_on_usd);
        cJSON_AddItemToObject(e, "crossover_volume", num_or_null(mo.crossover));
        cJSON_AddStringToObject(e, "cheaper", mo.always_on_usd < mo.serverless_usd ? "always-on" : "serverless");
        cJSON_AddItemToArray(arr, e);
    }
    return o;
}

static void print_monthly(const tt_adv_row *rows, int n, const monthly_opts *m)
{
    double per = tt_adv_serverless_per_request(&m->sl);
    printf("\nat %.0f inferences a month: serverless (%.0f MB, %.4g ms billed per inference, $%.3g per request) "
           "costs $%.2f a month\n",
           m->volume, m->sl.memory_mb, tt_adv_serverless_billed_ms(&m->sl), per, m->volume * per);
    char why[160];
    serverless_why_not(m, why, sizeof why);
    if (why[0])
        printf("  but serverless misses the latency constraints: %s\n", why);
    if (m->sl.utilization < 1)
        printf("  always-on instances are taken as busy %.0f%% of the time (--utilization)\n", m->sl.utilization * 100);
    printf("  %-30s %9s %14s %11s  %s\n", "always on", "instances", "$/month", "cheaper",
           "crossover (inferences/month)");
    char name[128];
    for (int i = 0; i < n; i++) {
        if (!rows[i].meets)
            continue;
        tt_adv_monthly mo;
        tt_adv_monthly_compare(&rows[i], m->volume, &m->sl, &mo);
        combo(&rows[i], name, sizeof name);
        char cross[96];
        if (mo.crossover >= 0)
            snprintf(cross, sizeof cross, "always-on cheaper above %.0f", ceil(mo.crossover));
        else
            snprintf(cross, sizeof cross, "none: serverless cheaper up to one instance's capacity (%.0f)", mo.capacity);
        printf("  %-30s %9d %14.2f %11s  %s\n", name, mo.instances, mo.always_on_usd,
               mo.always_on_usd < mo.serverless_usd ? "always-on" : "serverless", cross);
    }
}

static int list_prices(void)
{
    int n;
    const tt_price *h = tt_prices_builtin_hosts(&n);
    printf("%-14s %-12s %9s %10s %14s\n", "name", "kind", "$/hour", "memory", "GPU memory");
    for (int i = 0; i < n; i++)
        printf("%-14s %-12s %9.4f %7.0f GiB %10.0f GiB\n", h[i].name, "host", h[i].price_per_hour,
               h[i].memory_bytes / (1024.0 * 1024 * 1024), h[i].gpu_memory_bytes / (1024.0 * 1024 * 1024));
    int na;
    const tt_accel_type *a = tt_catalog_builtin(&na);
    for (int i = 0; i < na; i++) {
        char price[32] = "?";
        if (a[i].price_per_hour > 0)
            snprintf(price, sizeof price, "%.4f", a[i].price_per_hour);
        printf("%-14s %-12s %9s %7.2g GiB %14s\n", a[i].name, "accelerator", price,
               (double)a[i].memory_bytes / (1024.0 * 1024 * 1024), "-");
    }
    return 0;
}

int tt_cmd_advise(int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-p90-ms", required_argument, 0, OPT_MAX_P90},
        {"max-mean-ms", required_argument, 0, OPT_MAX_MEAN},
        {"min-accelerator-memory", required_argument, 0, OPT_MIN_MEM},
        {"prices", required_argument, 0, OPT_PRICES},
        {"host", required_argument, 0, OPT_HOST},
        {"list-prices", no_argument, 0, OPT_LIST},
        {"json", no_argument, 0, OPT_JSON},
        {"svg", required_argument, 0, OPT_SVG},
        {"no-svg", no_argument, 0, OPT_NO_SVG},
        {"monthly-volume", required_argument, 0, OPT_VOLUME},
        {"serverless-ms", required_argument, 0, OPT_SL_MS},
        {"serverless-memory-mb", required_argument, 0, OPT_SL_MEM},
        {"serverless-request-price", required_argument, 0, OPT_SL_REQ},
        {"serverless-gb-second-price", required_argument, 0, OPT_SL_GBS},
        {"serverless-granularity-ms", required_argument, 0, OPT_SL_GRAN},
        {"max-p95-ms", required_argument, 0, OPT_MAX_P95},
        {"max-p99-ms", required_argument, 0, OPT_MAX_P99},
        {"allow-mixed", no_argument, 0, OPT_ALLOW_MIXED},
        {"utilization", required_argument, 0, OPT_UTIL},
        {"utilisation", required_argument, 0, OPT_UTIL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    tt_adv_constraints c = {0};
    const char *prices_path = NULL, *host = NULL, *svg = "advise.svg";
    bool json = false, allow_mixed = false;
    char host_canon[128];
    monthly_opts m = {.volume = -1, .c = &c};
    tt_adv_serverless_init(&m.sl);
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        double *dst = NULL;
        bool zero_ok = false;
        switch (o) {
        case OPT_MAX_P90: dst = &c.max_p90_ms; break;
        case OPT_MAX_P95: dst = &c.max_p95_ms; break;
        case OPT_MAX_P99: dst = &c.max_p99_ms; break;
        case OPT_ALLOW_MIXED: allow_mixed = true; break;
        case OPT_UTIL: {
            char *end;
            double u = strtod(optarg, &end);
            if (end != optarg && *end == '%' && end[1] == 0)
                u /= 100, end++;
            if (end == optarg || *end || !(u > 0) || u > 1)
                return tt_cli_usage("advise", "--utilization '%s': expected a share in (0, 1] or a percentage",
                                    optarg);
            m.sl.utilization = u;
            break;
        }
        case OPT_MAX_MEAN: dst = &c.max_mean_ms; break;
        case OPT_MIN_MEM:
            if (!tt_adv_parse_bytes(optarg, &c.min_memory))
                return tt_cli_usage("advise", "--min-accelerator-memory '%s' is not a size (e.g. 2GiB, 512MiB)",
                                    optarg);
            break;
        case OPT_PRICES: prices_path = optarg; break;
        case OPT_HOST: host = optarg; break;
        case OPT_LIST: return list_prices();
        case OPT_JSON: json = true; break;
        case OPT_SVG: svg = optarg; break;
        case OPT_NO_SVG: svg = NULL; break;
        case OPT_VOLUME: dst = &m.volume, zero_ok = true; break;
        case OPT_SL_MS: dst = &m.sl.duration_ms; break;
        case OPT_SL_MEM: dst = &m.sl.memory_mb; break;
        case OPT_SL_REQ: dst = &m.sl.per_million_requests, zero_ok = true; break;
        case OPT_SL_GBS: dst = &m.sl.per_gb_second, zero_ok = true; break;
        case OPT_SL_GRAN: dst = &m.sl.granularity_ms, zero_ok = true; break;
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("advise", NULL);
        }
        if (dst && !parse_positive(optarg, dst, zero_ok)) {
            const char *name = "?";
            for (const struct option *op = opts; op->name; op++)
                if (op->val == o)
                    name = op->name;
            return tt_cli_usage("advise", "--%s: '%s' is not a %s number", name, optarg,
                                zero_ok ? "non-negative" : "positive");
        }
    }
    if (optind == argc)
        return tt_cli_usage("advise", "no input (give 'tether bench --json' files or a CSV table)");
    if (host && (!*host || strlen(host) >= sizeof((tt_adv_row *)0)->host))
        return tt_cli_usage("advise", "--host '%s' is not a host type name", host);
    if (host) {
        tt_price_canon(host, host_canon, sizeof host_canon);
        host = host_canon;
    }

    tt_prices prices = {0};
    tether_status pst = prices_path ? tt_prices_load(prices_path, &prices) : TETHER_OK;
    if (pst != TT_OK)
        return tt_cli_fail_last("advise", pst);
    tt_adv_row *rows = NULL;
    int n = 0, rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
        tt_status s = strcmp(argv[i], "-") == 0 ? read_stdin(&rows, &n) : tt_adv_read_file(argv[i], &rows, &n);
        if (s != TT_OK)
            rc = tt_cli_fail_last("advise", s);
    }
    if (!rc && n == 0)
        rc = tt_cli_fail("advise", "the input holds no rows");
    if (rc) {
        free(rows);
        tt_prices_free(&prices);
        return rc;
    }
    for (int i = 0; host && i < n; i++)
        if (!rows[i].host[0] || strcmp(rows[i].host, "local") == 0)
            snprintf(rows[i].host, sizeof rows[i].host, "%s", host);
    char mixed[512];
    if (!allow_mixed && !tt_adv_rows_comparable(rows, n, mixed, sizeof mixed)) {
        free(rows);
        tt_prices_free(&prices);
        return tt_cli_fail("advise", "%s", mixed);
    }

    tt_adv_result res;
    tt_advise(rows, n, &prices, &c, &res);
    bool batched = tt_adv_any_batched(rows, n);
    if (m.volume >= 0 && (rc = serverless_duration(rows, n, &m.sl)) != 0)
        goto out;
    tether_status sst = svg ? tt_adv_svg_write(svg, rows, n, &res, &c) : TETHER_OK;
    if (sst != TT_OK) {
        rc = tt_cli_fail_last("advise", sst);
        goto out;
    }

    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *cons = cJSON_AddObjectToObject(doc, "constraints");
        cJSON_AddItemToObject(cons, "max_p90_ms",
                              c.max_p90_ms > 0 ? cJSON_CreateNumber(c.max_p90_ms) : cJSON_CreateNull());
        cJSON_AddItemToObject(cons, "max_p95_ms",
                              c.max_p95_ms > 0 ? cJSON_CreateNumber(c.max_p95_ms) : cJSON_CreateNull());
        cJSON_AddItemToObject(cons, "max_p99_ms",
                              c.max_p99_ms > 0 ? cJSON_CreateNumber(c.max_p99_ms) : cJSON_CreateNull());
        cJSON_AddItemToObject(cons, "max_mean_ms",
                              c.max_mean_ms > 0 ? cJSON_CreateNumber(c.max_mean_ms) : cJSON_CreateNull());
        cJSON_AddItemToObject(cons, "min_accelerator_memory",
                              c.min_memory > 0 ? cJSON_CreateNumber(c.min_memory) : cJSON_CreateNull());
        cJSON_AddStringToObject(doc, "cost_unit", batched ? "per 100,000 samples" : "per 100,000 inferences");
        cJSON *arr = cJSON_AddArrayToObject(doc, "rows");
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, row_json(&rows[i], i + 1));
        bool have = res.recommended >= 0;
        cJSON_AddItemToObject(doc, "recommended",
                              have ? row_json(&rows[res.recommended], res.recommended + 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(doc, "reason", have ? cJSON_CreateNull() : cJSON_CreateString(res.reason));
        cJSON_AddItemToObject(doc, "runner_up",
                              res.runner_up >= 0 ? row_json(&rows[res.runner_up], res.runner_up + 1)
                                                 : cJSON_CreateNull());
        cJSON *sav = cJSON_AddObjectToObject(doc, "savings");
        cJSON_AddItemToObject(sav, "cpu_only", savings_json(rows, res.cheapest_cpu, res.savings_vs_cpu, have));
        cJSON_AddItemToObject(sav, "gpu_only", savings_json(rows, res.cheapest_gpu, res.savings_vs_gpu, have));
        cJSON_AddItemToObject(doc, "chart", svg ? cJSON_CreateString(svg) : cJSON_CreateNull());
        cJSON_AddItemToObject(doc, "monthly", m.volume >= 0 ? monthly_json(rows, n, &m) : cJSON_CreateNull());
        char *text = cJSON_Print(doc);
        if (text)
            puts(text);
        else
            rc = tt_cli_fail("advise", "out of memory printing JSON");
        free(text);
        cJSON_Delete(doc);
    } else {
        print_table(rows, n, batched);
        print_advice(rows, n, &res, batched);
        if (m.volume >= 0)
            print_monthly(rows, n, &m);
        if (svg)
            printf("chart:       %s\n", svg);
    }
    if (!rc && res.recommended < 0) {
        if (json)
            fprintf(stderr, "tether advise: %s\n", res.reason);
        rc = 1;
    }
out:
    free(rows);
    tt_prices_free(&prices);
    return rc;
}
