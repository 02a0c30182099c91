/* The host price catalog (EC2 on-demand, us-east-1, Linux, as published in 2019-2020) and
 * the user price file. Accelerator prices are not repeated here: they come from the
 * accelerator catalog (core/catalog.c), so there is one table per kind of thing. */
#include "prices.h"

#include "csv.h"
#include "core/catalog.h"
#include "model/model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GiB (1024.0 * 1024.0 * 1024.0)

/* name, $/hour, RAM, GPU memory (all GPUs), vCPUs. GPU memory: g4dn one T4 (16 GiB),
 * p2 K80 GPUs (12 GiB each), p3 V100 GPUs (16 GiB each). */
static const tt_price g_hosts[] = {
    {"c5.large", 0.085, 4 * GiB, 0, 2, TT_PRICE_HOST},
    {"c5.xlarge", 0.17, 8 * GiB, 0, 4, TT_PRICE_HOST},
    {"c5.2xlarge", 0.34, 16 * GiB, 0, 8, TT_PRICE_HOST},
    {"c5.4xlarge", 0.68, 32 * GiB, 0, 16, TT_PRICE_HOST},
    {"c5.9xlarge", 1.53, 72 * GiB, 0, 36, TT_PRICE_HOST},
    {"c5.18xlarge", 3.06, 144 * GiB, 0, 72, TT_PRICE_HOST},
    {"m5.large", 0.096, 8 * GiB, 0, 2, TT_PRICE_HOST},
    {"m5.xlarge", 0.192, 16 * GiB, 0, 4, TT_PRICE_HOST},
    {"m5.2xlarge", 0.384, 32 * GiB, 0, 8, TT_PRICE_HOST},
    {"m5.4xlarge", 0.768, 64 * GiB, 0, 16, TT_PRICE_HOST},
    {"g4dn.xlarge", 0.526, 16 * GiB, 16 * GiB, 4, TT_PRICE_HOST},
    {"g4dn.2xlarge", 0.752, 32 * GiB, 16 * GiB, 8, TT_PRICE_HOST},
    {"g4dn.4xlarge", 1.204, 64 * GiB, 16 * GiB, 16, TT_PRICE_HOST},
    {"p2.xlarge", 0.90, 61 * GiB, 12 * GiB, 4, TT_PRICE_HOST},
    {"p2.8xlarge", 7.20, 488 * GiB, 96 * GiB, 32, TT_PRICE_HOST},
    {"p3.2xlarge", 3.06, 61 * GiB, 16 * GiB, 8, TT_PRICE_HOST},
    {"p3.8xlarge", 12.24, 244 * GiB, 64 * GiB, 32, TT_PRICE_HOST},
};

const tt_price *tt_prices_builtin_hosts(int *n)
{
    *n = (int)(sizeof g_hosts / sizeof g_hosts[0]);
    return g_hosts;
}

void tt_price_canon(const char *in, char *out, size_t n)
{
    char buf[128];
    size_t k = 0;
    while (*in == ' ' || *in == '\t')
        in++;
    for (; *in && k + 1 < sizeof buf; in++)
        buf[k++] = (char)tolower((unsigned char)*in);
    while (k && (buf[k - 1] == ' ' || buf[k - 1] == '\t'))
        k--;
    buf[k] = 0;
    if (!strcmp(buf, "none") || !strcmp(buf, "-") || !strcmp(buf, "n/a") || !strcmp(buf, "na") ||
        !strcmp(buf, "\xe2\x80\x94") /* an em dash */ || !strcmp(buf, "no")) {
        snprintf(out, n, "%s", "");
        return;
    }
    const char *p = buf;
    if (!strncmp(p, "ml.", 3)) /* SageMaker's names: ml.c5.large, ml.eia2.medium */
        p += 3;
    char fam[64], size[64];
    const char *dot = strchr(p, '.');
    if (!dot || (size_t)(dot - p) >= sizeof fam) {
        snprintf(out, n, "%s", p);
        return;
    }
    snprintf(fam, sizeof fam, "%.*s", (int)(dot - p), p);
    snprintf(size, sizeof size, "%s", dot + 1);
    if (!strcmp(fam, "eia"))
        snprintf(fam, sizeof fam, "eia1"); /* the first generation's name before eia2 */
    /* sizes: "xl" / "4xl" -> "xlarge" / "4xlarge", "med" -> "medium", "lg" -> "large", ... */
    static const struct {
        const char *s, *full;
    } sizes[] = {{"xl", "xlarge"}, {"lg", "large"}, {"l", "large"}, {"med", "medium"}, {"m", "medium"},
                 {"sm", "small"}, {"s", "small"}};
    size_t digits = strspn(size, "0123456789");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(size + digits, sizes[i].s) && (digits == 0 || !strcmp(sizes[i].s, "xl"))) {
            char full[64];
            snprintf(full, sizeof full, "%.*s%s", (int)digits, size, sizes[i].full);
            snprintf(size, sizeof size, "%s", full);
            break;
        }
    snprintf(out, n, "%s.%s", fam, size);
}

bool tt_price_parse(const char *s, double *out)
{
    char buf[64];
    size_t k = 0;
    for (const char *p = s; *p && k + 1 < sizeof buf; p++)
        if (*p != '$' && *p != ',' && *p != ' ' && *p != '\t')
            buf[k++] = (char)tolower((unsigned char)*p);
    buf[k] = 0;
    static const char *suffixes[] = {"/hour", "/hr", "/h", "perhour", "perhr", "usd", "us"};
    for (bool cut = true; cut;) {
        cut = false;
        size_t len = strlen(buf);
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
            size_t sl = strlen(suffixes[i]);
            if (len > sl && !strcmp(buf + len - sl, suffixes[i])) {
                buf[len - sl] = 0;
                cut = true;
                break;
            }
        }
    }
    if (!strncmp(buf, "usd", 3))
        memmove(buf, buf + 3, strlen(buf + 3) + 1);
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

bool tt_price_lookup(const tt_prices *user, const char *raw, tt_price *out, bool *from_user)
{
    if (from_user)
        *from_user = false;
    if (!raw || !*raw)
        return false;
    char name[128];
    tt_price_canon(raw, name, sizeof name);
    if (!*name)
        return false;
    for (int i = 0; user && i < user->n; i++)
        if (strcmp(user->entries[i].name, name) == 0) {
            *out = user->entries[i];
            if (from_user)
                *from_user = true;
            return true;
        }
    for (size_t i = 0; i < sizeof g_hosts / sizeof g_hosts[0]; i++)
        if (strcmp(g_hosts[i].name, name) == 0) {
            *out = g_hosts[i];
            return true;
        }
    const tt_accel_type *t = tt_catalog_find(name);
    if (t) {
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", t->name);
        /* The catalog says 0 for "no price given" (the cpu.* types): unknown, not free. */
        out->price_per_hour = t->price_per_hour > 0 ? t->price_per_hour : -1;
        out->memory_bytes = (double)t->memory_bytes;
        out->kind = TT_PRICE_ACCELERATOR;
        return true;
    }
    return false;
}

void tt_price_family(const char *name, char *out, int n)
{
    if (!name || !*name || strcmp(name, "none") == 0) {
        out[0] = 0;
        return;
    }
    const char *dot = strchr(name, '.');
    int len = dot ? (int)(dot - name) : (int)strlen(name);
    snprintf(out, (size_t)n, "%.*s", len, name);
}

/* A non-negative number, the whole field; false otherwise. */
static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (s == end || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

tt_status tt_prices_load(const char *path, tt_prices *out)
{
    memset(out, 0, sizeof *out);
    void *raw;
    size_t size;
    TT_TRY(tt_read_file(path, (size_t)16 << 20, &raw, &size));
    char *text = realloc(raw, size + 1);
    if (!text) {
        free(raw);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", path);
    }
    text[size] = 0;
    tt_status s = TT_OK;
    char *header[TT_CSV_MAX_FIELDS];
    int nh = -1, c_name = -1, c_price = -1, c_kind = -1, c_mem = -1, c_gpu = -1;
    tt_csv_reader rd = {.next = text};
    char *f[TT_CSV_MAX_FIELDS];
    for (int nf; (nf = tt_csv_next(&rd, f)) != 0;) {
        if (nf < 0) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: malformed CSV line", path, rd.line_no);
            break;
        }
        if (nh < 0) {
            nh = nf;
            memcpy(header, f, sizeof f);
            c_name = tt_csv_column(header, nh, "name");
            c_price = tt_csv_column(header, nh, "price_per_hour");
            c_kind = tt_csv_column(header, nh, "kind");
            c_mem = tt_csv_column(header, nh, "memory_gib");
            c_gpu = tt_csv_column(header, nh, "gpu_memory_gib");
            if (c_name < 0 || c_price < 0) {
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT,
                             "%s:%d: a price file starts with a header naming at least the columns "
                             "name,price_per_hour (optional: kind,memory_gib,gpu_memory_gib)",
                             path, rd.line_no);
                break;
            }
            continue;
        }
        if (nf != nh) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: %d fields, the header has %d", path, rd.line_no, nf, nh);
            break;
        }
        tt_price p = {0};
        if (!*f[c_name] || strlen(f[c_name]) >= sizeof p.name) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: empty or over-long name", path, rd.line_no);
            break;
        }
        tt_price_canon(f[c_name], p.name, sizeof p.name);
        if (!tt_price_parse(f[c_price], &p.price_per_hour)) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: price_per_hour '%s' is not a non-negative number", path,
                         rd.line_no, f[c_price]);
            break;
        }
        /* Memory and kind: from the file when given, else what the built-in tables know. */
        tt_price known;
        bool have_known = tt_price_lookup(NULL, p.name, &known, NULL);
        p.kind = have_known ? known.kind : (tt_catalog_find(p.name) ? TT_PRICE_ACCELERATOR : TT_PRICE_HOST);
        p.memory_bytes = have_known ? known.memory_bytes : 0;
        p.gpu_memory_bytes = have_known ? known.gpu_memory_bytes : 0;
        p.vcpus = have_known ? known.vcpus : 0;
        if (c_kind >= 0 && *f[c_kind]) {
            if (strcmp(f[c_kind], "host") == 0)
                p.kind = TT_PRICE_HOST;
            else if (strcmp(f[c_kind], "accelerator") == 0)
                p.kind = TT_PRICE_ACCELERATOR;
            else {
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: kind '%s' is neither host nor accelerator", path,
                             rd.line_no, f[c_kind]);
                break;
            }
        }
        double gib;
        if (c_mem >= 0 && *f[c_mem]) {
            if (!parse_number(f[c_mem], &gib)) {
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: memory_gib '%s' is not a number", path, rd.line_no,
                             f[c_mem]);
                break;
            }
            p.memory_bytes = gib * GiB;
        }
        if (c_gpu >= 0 && *f[c_gpu]) {
            if (!parse_number(f[c_gpu], &gib)) {
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: gpu_memory_gib '%s' is not a number", path,
                             rd.line_no, f[c_gpu]);
                break;
            }
            p.gpu_memory_bytes = gib * GiB;
        }
        tt_price *grown = realloc(out->entries, (size_t)(out->n + 1) * sizeof *grown);
        if (!grown) {
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", path);
            break;
        }
        out->entries = grown;
        out->entries[out->n++] = p;
    }
    if (s == TT_OK && nh < 0)
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: empty price file (expected a header name,price_per_hour)", path);
    free(text);
    if (s != TT_OK)
        tt_prices_free(out);
    return s;
}

void tt_prices_free(tt_prices *p)
{
    free(p->entries);
    p->entries = NULL;
    p->n = 0;
}
