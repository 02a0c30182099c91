/* The cost advisor's computation: pricing, cost per 100,000 inferences, constraint checks,
 * the recommendation and the serverless comparison. Pure functions over rows, so that
 * tests/unit/test_advise.c checks the arithmetic without a process or a file. */
#include "advise.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double tt_adv_cost_per_100k(double price_per_hour, double mean_ms)
{
    return price_per_hour / 3600.0 * (mean_ms / 1000.0) * 100000.0;
}

static bool is_none(const char *accel)
{
    return !accel[0] || strcasecmp(accel, "none") == 0;
}

/* Appends a reason to row->why_not. */
static void why(tt_adv_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(tt_adv_row *r, const char *fmt, ...)
{
    size_t len = strlen(r->why_not);
    if (len + 3 >= sizeof r->why_not)
        return;
    if (len) {
        memcpy(r->why_not + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why_not + len, sizeof r->why_not - len, fmt, ap);
    va_end(ap);
}

static void fmt_bytes(double b, char *buf, size_t n)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, n, "%.3g GiB", b / (1024.0 * 1024 * 1024));
    else
        snprintf(buf, n, "%.3g MiB", b / (1024.0 * 1024));
}

/* Works out the row's price, memory, class and family. */
static void price_row(tt_adv_row *r, const tt_prices *user)
{
    bool none = is_none(r->accelerator);
    if (none)
        r->accelerator[0] = 0;
    tt_price host, acc;
    bool host_user = false, acc_user = false;
    bool have_host = tt_price_lookup(user, r->host, &host, &host_user);
    bool have_acc = !none && tt_price_lookup(user, r->accelerator, &acc, &acc_user);

    r->price_used = -1;
    if (r->price_per_hour >= 0 && !host_user && !acc_user) {
        r->price_used = r->price_per_hour;
    } else {
        bool host_priced = have_host && host.price_per_hour >= 0;
        bool acc_priced = none || (have_acc && acc.price_per_hour >= 0);
        if (host_priced && acc_priced)
            r->price_used = host.price_per_hour + (none ? 0 : acc.price_per_hour);
        else if (!host_priced)
            why(r, "no price for host '%s' (name a host type when benchmarking, or give it in a price file)",
                r->host[0] ? r->host : "(none)");
        else
            why(r, "no price for accelerator '%s' (give it in a price file)", r->accelerator);
    }
    /* per sample: an inference at batch B serves B of them */
    int batch = r->batch > 0 ? r->batch : 1;
    r->cost_per_100k = r->price_used >= 0 ? tt_adv_cost_per_100k(r->price_used, r->mean_ms) / batch : -1;

    if (!none) {
        r->cls = TT_ADV_ACCELERATED;
        r->device_memory = have_acc ? acc.memory_bytes : 0;
        tt_price_family(r->accelerator, r->family, sizeof r->family);
    } else {
        r->cls = have_host && host.gpu_memory_bytes > 0 ? TT_ADV_GPU_ONLY : TT_ADV_CPU_ONLY;
        r->device_memory = !have_host ? 0 : host.gpu_memory_bytes > 0 ? host.gpu_memory_bytes : host.memory_bytes;
        tt_price_family(r->host, r->family, sizeof r->family);
        if (!r->family[0])
            snprintf(r->family, sizeof r->family, "cpu");
    }
}

static void check_percentile(tt_adv_row *r, const char *name, double v, double limit)
{
    if (!(limit > 0))
        return;
    if (v < 0)
        why(r, "%s not measured (a %s limit was given)", name, name);
    else if (v > limit)
        why(r, "%s %.3g ms > %.3g ms", name, v, limit);
}

static void check_row(tt_adv_row *r, const tt_adv_constraints *c)
{
    if (!(r->mean_ms > 0))
        why(r, "no latency measured");
    check_percentile(r, "p90", r->p90_ms, c->max_p90_ms);
    check_percentile(r, "p95", r->p95_ms, c->max_p95_ms);
    check_percentile(r, "p99", r->p99_ms, c->max_p99_ms);
    if (c->max_mean_ms > 0 && r->mean_ms > c->max_mean_ms)
        why(r, "mean %.3g ms > %.3g ms", r->mean_ms, c->max_mean_ms);
    double need = c->min_memory > r->memory_needed ? c->min_memory : r->memory_needed;
    if (need > 0) {
        char a[32], b[32];
        fmt_bytes(need, a, sizeof a);
        if (r->device_memory <= 0)
            why(r, "memory of %s unknown (%s needed)", r->accelerator[0] ? r->accelerator : r->host, a);
        else if (r->device_memory < need) {
            fmt_bytes(r->device_memory, b, sizeof b);
            why(r, "%s memory %s < %s",
                r->accelerator[0]           ? "accelerator"
                : r->cls == TT_ADV_GPU_ONLY ? "GPU"
                                            : "host",
                b, a);
        }
    }
    r->meets = r->why_not[0] == 0;
}

/* Cost ascending; unpriced rows last; ties by p90, then by name so the order is stable. */
static int cmp_rows(const void *pa, const void *pb)
{
    const tt_adv_row *a = pa, *b = pb;
    bool ua = a->cost_per_100k < 0, ub = b->cost_per_100k < 0;
    if (ua != ub)
        return ua ? 1 : -1;
    if (a->cost_per_100k != b->cost_per_100k)
        return a->cost_per_100k < b->cost_per_100k ? -1 : 1;
    if (a->p90_ms != b->p90_ms)
        return a->p90_ms < b->p90_ms ? -1 : 1;
    if (a->mean_ms != b->mean_ms)
        return a->mean_ms < b->mean_ms ? -1 : 1;
    int h = strcmp(a->host, b->host);
    return h ? h : strcmp(a->accelerator, b->accelerator);
}

/* The cheapest row of a class: among those meeting the constraints when any does. */
static int cheapest_of(const tt_adv_row *rows, int n, tt_adv_class cls)
{
    int any = -1;
    for (int i = 0; i < n; i++) {
        if (rows[i].cls != cls || rows[i].cost_per_100k < 0)
            continue;
        if (rows[i].meets)
            return i; /* rows are sorted by cost */
        if (any < 0)
            any = i;
    }
    return any;
}

void tt_advise(tt_adv_row *rows, int n, const tt_prices *prices, const tt_adv_constraints *c, tt_adv_result *res)
{
    memset(res, 0, sizeof *res);
    res->recommended = res->runner_up = -1;
    for (int i = 0; i < n; i++) {
        rows[i].why_not[0] = 0;
        price_row(&rows[i], prices);
        check_row(&rows[i], c);
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_rows);
    for (int i = 0; i < n; i++) {
        if (!rows[i].meets)
            continue;
        if (res->recommended < 0)
            res->recommended = i;
        else if (res->runner_up < 0)
            res->runner_up = i;
    }
    if (n == 0)
        snprintf(res->reason, sizeof res->reason, "no rows to compare");
    else if (res->recommended < 0)
        snprintf(res->reason, sizeof res->reason, "none of the %d rows meets the constraints", n);
    res->cheapest_cpu = cheapest_of(rows, n, TT_ADV_CPU_ONLY);
    res->cheapest_gpu = cheapest_of(rows, n, TT_ADV_GPU_ONLY);
    if (res->recommended >= 0) {
        double rec = rows[res->recommended].cost_per_100k;
        if (res->cheapest_cpu >= 0 && rows[res->cheapest_cpu].cost_per_100k > 0)
            res->savings_vs_cpu = 1.0 - rec / rows[res->cheapest_cpu].cost_per_100k;
        if (res->cheapest_gpu >= 0 && rows[res->cheapest_gpu].cost_per_100k > 0)
            res->savings_vs_gpu = 1.0 - rec / rows[res->cheapest_gpu].cost_per_100k;
    }
}

void tt_adv_serverless_init(tt_adv_serverless *s)
{
    s->per_million_requests = 0.20;
    s->per_gb_second = 0.0000166667;
    s->memory_mb = 2048;
    s->duration_ms = 0;
    s->granularity_ms = 1;
    s->utilization = 1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool tt_adv_rows_comparable(const tt_adv_row *rows, int n, char *why, size_t why_cap)
{
    int m0 = -1, b0 = -1;
    for (int i = 0; i < n; i++) {
        if (rows[i].model[0]) {
            if (m0 < 0)
                m0 = i;
            else if (strcmp(base_name(rows[m0].model), base_name(rows[i].model)) != 0) {
                snprintf(why, why_cap,
                         "the rows come from different models (%s and %s): their costs do not compare; give one "
                         "model's rows at a time, or --allow-mixed to compare them anyway",
                         rows[m0].model, rows[i].model);
                return false;
            }
        }
        if (rows[i].batch > 0) {
            if (b0 < 0)
                b0 = i;
            else if (rows[b0].batch != rows[i].batch) {
                snprintf(why, why_cap,
                         "the rows were measured at different batch sizes (%d and %d): latency limits mean other "
                         "things at each; give rows of one batch size, or --allow-mixed to compare them per sample "
                         "anyway",
                         rows[b0].batch, rows[i].batch);
                return false;
            }
        }
    }
    return true;
}

bool tt_adv_any_batched(const tt_adv_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        if (rows[i].batch > 1)
            return true;
    return false;
}

double tt_adv_serverless_billed_ms(const tt_adv_serverless *s)
{
    if (s->granularity_ms <= 0)
        return s->duration_ms;
    /* the epsilon keeps 120.0000000001 (a float's noise) from being billed as 121 */
    return ceil(s->duration_ms / s->granularity_ms - 1e-9) * s->granularity_ms;
}

double tt_adv_serverless_per_request(const tt_adv_serverless *s)
{
    double billed_ms = tt_adv_serverless_billed_ms(s);
    return s->per_million_requests / 1e6 + s->per_gb_second * (s->memory_mb / 1024.0) * (billed_ms / 1000.0);
}

void tt_adv_monthly_compare(const tt_adv_row *row, double volume, const tt_adv_serverless *s, tt_adv_monthly *out)
{
    memset(out, 0, sizeof *out);
    double monthly = row->price_used * TT_ADV_HOURS_PER_MONTH;
    double use = s->utilization > 0 && s->utilization <= 1 ? s->utilization : 1;
    int batch = row->batch > 0 ? row->batch : 1;
    out->capacity = row->mean_ms > 0 ? TT_ADV_HOURS_PER_MONTH * 3600.0 * 1000.0 / row->mean_ms * batch * use : 0;
    out->instances = out->capacity > 0 ? (int)ceil(volume / out->capacity) : 0;
    if (out->instances < 1)
        out->instances = 1; /* always on means at least one, even at volume 0 */
    out->always_on_usd = out->instances * monthly;
    double per_request = tt_adv_serverless_per_request(s);
    out->serverless_usd = volume * per_request;
    /* One instance costs `monthly` whatever its load; serverless grows with the volume. They
     * cross where volume * per_request = monthly, if one instance can still serve that. */
    out->crossover = per_request > 0 ? monthly / per_request : -1;
    if (out->crossover > out->capacity)
        out->crossover = -1;
}

bool tt_adv_parse_bytes(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return false;
    while (*end == ' ')
        end++;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1024.0},
        {"kib", 1024.0},
        {"kb", 1000.0},
        {"m", 1024.0 * 1024},
        {"mib", 1024.0 * 1024},
        {"mb", 1e6},
        {"g", 1024.0 * 1024 * 1024},
        {"gib", 1024.0 * 1024 * 1024},
        {"gb", 1e9},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].suffix) == 0) {
            *out = v * units[i].mult;
            return true;
        }
    return false;
}
