/* Reading the advisor's input rows from `tether bench --json` files or tables as people print
 * them: CSV, tab-separated or Markdown, with headers in the tools' names or the write-ups'
 * words, prices with "$", type names in any case or old spelling. Every number is checked
 * (finite, not negative) and every error names the file and the row. */
#include "advise_io.h"

#include "csv.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 100000

static tt_status append(tt_adv_row **rows, int *n, const tt_adv_row *r, const char *name)
{
    if (*n >= MAX_ROWS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: more than %d rows", name, MAX_ROWS);
    tt_adv_row *grown = realloc(*rows, (size_t)(*n + 1) * sizeof *grown);
    if (!grown)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", name);
    *rows = grown;
    grown[(*n)++] = *r;
    return TT_OK;
}

static tt_status copy_name(char *dst, size_t cap, const char *src, const char *what, const char *name, int row)
{
    if (strlen(src) >= cap)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: %s '%.40s...' is too long", name, row, what, src);
    snprintf(dst, cap, "%s", src);
    return TT_OK;
}

/* A type name as the catalog spells it (tables print "C5.4XL", "eia.medium", "ml.c5.large"). */
static tt_status set_name(char *dst, size_t cap, const char *src, const char *what, const char *name, int row)
{
    char canon[128];
    tt_price_canon(src, canon, sizeof canon);
    return copy_name(dst, cap, canon, what, name, row);
}

/* ---- JSON: an object with "rows", or an array of rows --------------------------------- */

/* A number field: *out < 0 and OK when absent or null (if optional). */
static tt_status json_number(const cJSON *obj, const char *key, bool required, double *out, const char *name, int row)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = -1;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d has no \"%s\"", name, row, key);
        return TT_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"%s\" is not a non-negative number", name, row, key);
    *out = v->valuedouble;
    return TT_OK;
}

/* The document's own model and batch, for rows that do not carry them. */
typedef struct doc_defaults {
    const char *model;
    int batch;
} doc_defaults;

static tt_status json_row(const cJSON *o, const char *name, int row, const doc_defaults *dd, tt_adv_row *r)
{
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d is not an object", name, row);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "host");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(o, "accelerator");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (host && cJSON_IsString(host))
        TT_TRY(set_name(r->host, sizeof r->host, host->valuestring, "host", name, row));
    else if (host && !cJSON_IsNull(host))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"host\" is not a string", name, row);
    if (acc && cJSON_IsString(acc))
        TT_TRY(set_name(r->accelerator, sizeof r->accelerator, acc->valuestring, "accelerator", name, row));
    else if (acc && !cJSON_IsNull(acc))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"accelerator\" is not a string", name, row);
    const char *m = model && cJSON_IsString(model) ? model->valuestring : dd->model;
    if (m)
        TT_TRY(copy_name(r->model, sizeof r->model, m, "model", name, row));
    TT_TRY(json_number(o, "price_per_hour", false, &r->price_per_hour, name, row));
    TT_TRY(json_number(o, "mean_ms", true, &r->mean_ms, name, row));
    TT_TRY(json_number(o, "p90_ms", false, &r->p90_ms, name, row));
    TT_TRY(json_number(o, "p95_ms", false, &r->p95_ms, name, row));
    TT_TRY(json_number(o, "p99_ms", false, &r->p99_ms, name, row));
    double batch;
    TT_TRY(json_number(o, "batch", false, &batch, name, row));
    if (batch >= 0 && (batch < 1 || batch > 1e9 || batch != floor(batch)))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"batch\" is not a whole number of at least 1", name,
                        row);
    r->batch = batch >= 1 ? (int)batch : dd->batch;
    double mem;
    TT_TRY(json_number(o, "memory_needed", false, &mem, name, row));
    if (mem < 0)
        TT_TRY(json_number(o, "memory_bytes", false, &mem, name, row));
    r->memory_needed = mem > 0 ? mem : 0;
    return TT_OK;
}

static tt_status read_json(const char *text, const char *name, tt_adv_row **rows, int *n)
{
    cJSON *doc = cJSON_Parse(text);
    if (!doc) {
        const char *at = cJSON_GetErrorPtr();
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: malformed JSON near byte %ld", name,
                        at ? (long)(at - text) : 0L);
    }
    const cJSON *arr = cJSON_IsArray(doc) ? doc : cJSON_GetObjectItemCaseSensitive(doc, "rows");
    doc_defaults dd = {0};
    if (cJSON_IsObject(doc)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "model"), *b = cJSON_GetObjectItemCaseSensitive(doc, "batch");
        dd.model = cJSON_IsString(m) ? m->valuestring : NULL;
        dd.batch = cJSON_IsNumber(b) && b->valuedouble >= 1 && b->valuedouble <= 1e9 ? (int)b->valuedouble : 0;
    }
    tt_status s = TT_OK;
    if (!cJSON_IsArray(arr)) {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: expected an array of rows or an object with \"rows\"", name);
    } else {
        int i = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, arr)
        {
            tt_adv_row r;
            i++;
            if ((s = json_row(o, name, i, &dd, &r)) != TT_OK || (s = append(rows, n, &r, name)) != TT_OK)
                break;
        }
    }
    cJSON_Delete(doc);
    return s;
}

/* ---- tables: CSV, tab-separated, or Markdown, with the headers people print ------------- */

typedef enum col_kind {
    C_IGNORE = 0,
    C_HOST,
    C_ACC,
    C_PRICE,      /* host + accelerator */
    C_PRICE_HOST, /* the host's part */
    C_PRICE_ACC,  /* the accelerator's part */
    C_MEAN,
    C_P90,
    C_P95,
    C_P99,
    C_MEM,
    C_BATCH,
    C_MODEL,
    C_KINDS
} col_kind;

static const char *g_kind_names[C_KINDS] = {"", "host", "accelerator", "price_per_hour", "host price",
                                             "accelerator price", "mean_ms", "p90_ms", "p95_ms", "p99_ms",
                                             "memory_needed", "batch", "model"};

static bool has_word(const char *words, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = words; (p = strstr(p, w)); p++)
        if ((p == words || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return true;
    return false;
}

/* What a header names: the canonical names, and the words tables use ("Instance type",
 * "EI accelerator", "Price per hour ($)", "Average latency (ms)", "P90 latency", ...). */
static col_kind classify(const char *header)
{
    char w[256];
    size_t k = 0;
    bool dollar = false;
    for (const char *p = header; *p && k + 1 < sizeof w; p++) {
        unsigned char c = (unsigned char)*p;
        dollar |= c == '$';
        w[k++] = isalnum(c) ? (char)tolower(c) : ' ';
    }
    w[k] = 0;
    /* collapse the spaces */
    char words[256];
    size_t o = 0;
    for (size_t i = 0; i < k; i++)
        if (w[i] != ' ' || (o && words[o - 1] != ' '))
            words[o++] = w[i];
    while (o && words[o - 1] == ' ')
        o--;
    words[o] = 0;
    static const struct {
        const char *name;
        col_kind kind;
    } exact[] = {{"host", C_HOST},         {"accelerator", C_ACC}, {"price per hour", C_PRICE},
                 {"mean ms", C_MEAN},      {"p90 ms", C_P90},      {"p95 ms", C_P95},
                 {"p99 ms", C_P99},        {"memory needed", C_MEM}, {"memory bytes", C_MEM},
                 {"batch", C_BATCH},       {"model", C_MODEL}};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(words, exact[i].name))
            return exact[i].kind;
    if (has_word(words, "p90") || has_word(words, "90th") || (has_word(words, "90") && strstr(words, "percentile")))
        return C_P90;
    if (has_word(words, "p95") || has_word(words, "95th") || (has_word(words, "95") && strstr(words, "percentile")))
        return C_P95;
    if (has_word(words, "p99") || has_word(words, "99th") || (has_word(words, "99") && strstr(words, "percentile")))
        return C_P99;
    if (has_word(words, "first") || strstr(words, "throughput") || strstr(words, "per second") ||
        has_word(words, "p50") || strstr(words, "median") || strstr(words, "per 100") || strstr(words, "per 1000") ||
        strstr(words, "per million") || strstr(words, "per inference") || strstr(words, "per sample") ||
        strstr(words, "saving"))
        return C_IGNORE; /* derived, or another statistic */
    bool hourly = has_word(words, "hour") || has_word(words, "hr") || has_word(words, "h") || strstr(words, "hourly");
    if (strstr(words, "price") || has_word(words, "usd") || (dollar && hourly) ||
        (strstr(words, "cost") && hourly)) {
        if (strstr(words, "total") || strstr(words, "combined"))
            return C_PRICE;
        if (strstr(words, "accelerator") || has_word(words, "eia") || has_word(words, "ei"))
            return C_PRICE_ACC;
        if (strstr(words, "instance") || has_word(words, "host") || has_word(words, "ec2"))
            return C_PRICE_HOST;
        return C_PRICE;
    }
    if (strstr(words, "mean") || strstr(words, "average") || has_word(words, "avg") || !strcmp(words, "latency") ||
        !strcmp(words, "latency ms") || !strcmp(words, "inference latency") ||
        !strcmp(words, "inference latency ms"))
        return C_MEAN;
    if (strstr(words, "batch"))
        return C_BATCH;
    if (strstr(words, "memory"))
        return C_MEM;
    if (((strstr(words, "instance") || has_word(words, "host")) && strstr(words, "accelerator")) ||
        has_word(words, "configuration") || has_word(words, "combination") || has_word(words, "setup"))
        return C_HOST; /* "c5.large + eia2.medium" in one column */
    if (strstr(words, "accelerator") || has_word(words, "eia") || has_word(words, "ei") ||
        strstr(words, "elastic inference"))
        return C_ACC;
    if (has_word(words, "host") || strstr(words, "instance") || has_word(words, "machine") || has_word(words, "ec2"))
        return C_HOST;
    if (has_word(words, "model") || has_word(words, "network"))
        return C_MODEL;
    return C_IGNORE;
}

typedef enum table_fmt { FMT_CSV, FMT_TSV, FMT_MARKDOWN } table_fmt;

/* Removes Markdown emphasis and code marks around a cell: **c5.large**, `eia2.medium`. */
static char *unmark(char *c)
{
    while (*c == '*' || *c == '`' || *c == '_' || *c == ' ')
        c++;
    size_t n = strlen(c);
    while (n && (c[n - 1] == '*' || c[n - 1] == '`' || c[n - 1] == '_' || c[n - 1] == ' '))
        c[--n] = 0;
    return c;
}

static int split_sep(char *line, char sep, char **f)
{
    int n = 0;
    for (char *p = line;; p++) {
        char *start = p;
        while (*p && *p != sep)
            p++;
        if (n == TT_CSV_MAX_FIELDS)
            return -1;
        bool last = *p == 0;
        *p = 0;
        f[n++] = start;
        if (last)
            break;
    }
    for (int i = 0; i < n; i++) {
        char *c = f[i];
        while (*c == ' ' || *c == '\t')
            c++;
        size_t len = strlen(c);
        while (len && (c[len - 1] == ' ' || c[len - 1] == '\t' || c[len - 1] == '\r'))
            c[--len] = 0;
        f[i] = c;
    }
    return n;
}

/* The next record: its fields, 0 at the end, -1 when malformed. Markdown's separator rows
 * (|---|:---:|) are skipped. */
static int next_record(tt_csv_reader *rd, table_fmt fmt, char **f)
{
    if (fmt == FMT_CSV)
        return tt_csv_next(rd, f);
    while (rd->next) {
        char *line = rd->next;
        rd->next = strchr(line, '\n');
        if (rd->next)
            *rd->next++ = 0;
        rd->line_no++;
        if (tt_csv_skip(line))
            continue;
        if (fmt == FMT_TSV)
            return split_sep(line, '\t', f);
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '|')
            continue; /* prose around the table: a caption, a note */
        int n = split_sep(p + 1, '|', f);
        if (n > 0 && !*f[n - 1])
            n--; /* the closing '|' */
        bool sep = n > 0;
        for (int i = 0; i < n && sep; i++)
            sep = *f[i] && strspn(f[i], "-: ") == strlen(f[i]);
        if (sep)
            continue;
        for (int i = 0; i < n; i++)
            f[i] = unmark(f[i]);
        return n;
    }
    return 0;
}

/* A latency: "12.5", "12.5 ms", "12.5ms". */
static bool parse_ms(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end[0] == 'm' && end[1] == 's')
        end += 2;
    if (end == s || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static tt_status read_table(char *text, const char *name, tt_adv_row **rows, int *n)
{
    /* the format: Markdown when any line is a table row (prose around it is skipped), else
     * tab-separated or CSV by the first line that is not a comment */
    table_fmt fmt = FMT_CSV;
    bool first = true;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '|') {
            fmt = FMT_MARKDOWN;
            break;
        }
        char line[64];
        snprintf(line, sizeof line, "%.*s", (int)(len < 63 ? len : 63), p);
        if (first && !tt_csv_skip(line)) {
            first = false;
            if (memchr(p, '\t', len) && !memchr(p, ',', len))
                fmt = FMT_TSV;
        }
        if (!e)
            break;
        p = e + 1;
    }
    int col[C_KINDS], nh = -1;
    tt_csv_reader rd = {.next = text};
    char *f[TT_CSV_MAX_FIELDS];
    for (int nf; (nf = next_record(&rd, fmt, f)) != 0;) {
        if (nf < 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: malformed %s line", name, rd.line_no,
                            fmt == FMT_MARKDOWN ? "table" : fmt == FMT_TSV ? "tab-separated" : "CSV");
        if (nh < 0) {
            nh = nf;
            for (int k = 0; k < C_KINDS; k++)
                col[k] = -1;
            for (int i = 0; i < nf; i++) {
                col_kind k = classify(f[i]);
                if (k != C_IGNORE && col[k] < 0)
                    col[k] = i;
            }
            if (col[C_HOST] < 0)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                "%s:%d: the header has no column 'host' (the host or instance type; expected "
                                "host,accelerator,price_per_hour,mean_ms[,p90_ms,p95_ms,p99_ms,batch,model,"
                                "memory_needed] or headers such as 'Instance type', 'Price per hour', 'Mean "
                                "latency (ms)')",
                                name, rd.line_no);
            if (col[C_MEAN] < 0)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                "%s:%d: the header has no column 'mean_ms' (mean latency per inference, e.g. "
                                "'Average latency (ms)'): cost is price times mean latency",
                                name, rd.line_no);
            continue;
        }
        if (nf != nh)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: %d fields, the header has %d", name, rd.line_no, nf,
                            nh);
        tt_adv_row r = {0};
        r.price_per_hour = r.p90_ms = r.p95_ms = r.p99_ms = -1;
        char host[128];
        snprintf(host, sizeof host, "%s", f[col[C_HOST]]);
        char *plus = col[C_ACC] < 0 ? strchr(host, '+') : NULL; /* "c5.large + eia2.medium" */
        if (plus)
            *plus = 0;
        TT_TRY(set_name(r.host, sizeof r.host, host, "host", name, rd.line_no));
        const char *acc = plus ? plus + 1 : col[C_ACC] >= 0 ? f[col[C_ACC]] : "";
        TT_TRY(set_name(r.accelerator, sizeof r.accelerator, acc, "accelerator", name, rd.line_no));
        /* price: the total, or the host's and the accelerator's parts */
        double part[3] = {-1, -1, -1};
        const col_kind pk[3] = {C_PRICE, C_PRICE_HOST, C_PRICE_ACC};
        for (int i = 0; i < 3; i++) {
            const char *v = col[pk[i]] >= 0 ? f[col[pk[i]]] : "";
            if (*v && strcmp(v, "-") != 0 && !tt_price_parse(v, &part[i]))
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: %s '%s' is not a non-negative number", name,
                                rd.line_no, g_kind_names[pk[i]], v);
        }
        if (part[0] >= 0)
            r.price_per_hour = part[0];
        else if (part[1] >= 0 && (part[2] >= 0 || !r.accelerator[0]))
            r.price_per_hour = part[1] + (part[2] > 0 ? part[2] : 0);
        if (!parse_ms(f[col[C_MEAN]], &r.mean_ms))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: mean_ms '%s' is not a non-negative number", name,
                            rd.line_no, f[col[C_MEAN]]);
        double *pct[3] = {&r.p90_ms, &r.p95_ms, &r.p99_ms};
        const col_kind pc[3] = {C_P90, C_P95, C_P99};
        for (int i = 0; i < 3; i++) {
            const char *v = col[pc[i]] >= 0 ? f[col[pc[i]]] : "";
            if (*v && strcmp(v, "-") != 0 && !parse_ms(v, pct[i]))
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: %s '%s' is not a non-negative number", name,
                                rd.line_no, g_kind_names[pc[i]], v);
        }
        if (col[C_MEM] >= 0 && *f[col[C_MEM]] && !tt_adv_parse_bytes(f[col[C_MEM]], &r.memory_needed))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: memory_needed '%s' is not a size (bytes, or 2GiB)",
                            name, rd.line_no, f[col[C_MEM]]);
        if (col[C_BATCH] >= 0 && *f[col[C_BATCH]]) {
            char *end;
            long b = strtol(f[col[C_BATCH]], &end, 10);
            if (end == f[col[C_BATCH]] || *end || b < 1 || b > 1000000000)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: batch '%s' is not a whole number of at least 1",
                                name, rd.line_no, f[col[C_BATCH]]);
            r.batch = (int)b;
        }
        if (col[C_MODEL] >= 0)
            TT_TRY(copy_name(r.model, sizeof r.model, f[col[C_MODEL]], "model", name, rd.line_no));
        TT_TRY(append(rows, n, &r, name));
    }
    if (nh < 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: empty (expected a table with a header, or bench JSON)", name);
    return TT_OK;
}

tt_status tt_adv_read_text(char *text, const char *name, tt_adv_row **rows, int *n)
{
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '{' || *p == '[')
        return read_json(p, name, rows, n);
    return read_table(text, name, rows, n);
}

tt_status tt_adv_read_file(const char *path, tt_adv_row **rows, int *n)
{
    void *raw;
    size_t size;
    TT_TRY(tt_read_file(path, (size_t)64 << 20, &raw, &size));
    char *text = realloc(raw, size + 1);
    if (!text) {
        free(raw);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", path);
    }
    text[size] = 0;
    if (memchr(text, 0, size)) {
        free(text);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: binary file, expected CSV or JSON", path);
    }
    tt_status s = tt_adv_read_text(text, path, rows, n);
    free(text);
    return s;
}
