/* Reading the advisor's input rows from `tether bench --json` files or CSV tables. Every
 * number is checked (finite, not negative) and every error names the file and the row. */
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

static tt_status json_row(const cJSON *o, const char *name, int row, tt_adv_row *r)
{
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d is not an object", name, row);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "host");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(o, "accelerator");
    if (host && cJSON_IsString(host))
        TT_TRY(copy_name(r->host, sizeof r->host, host->valuestring, "host", name, row));
    else if (host && !cJSON_IsNull(host))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"host\" is not a string", name, row);
    if (acc && cJSON_IsString(acc))
        TT_TRY(copy_name(r->accelerator, sizeof r->accelerator, acc->valuestring, "accelerator", name, row));
    else if (acc && !cJSON_IsNull(acc))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: row %d: \"accelerator\" is not a string", name, row);
    TT_TRY(json_number(o, "price_per_hour", false, &r->price_per_hour, name, row));
    TT_TRY(json_number(o, "mean_ms", true, &r->mean_ms, name, row));
    TT_TRY(json_number(o, "p90_ms", true, &r->p90_ms, name, row));
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
            if ((s = json_row(o, name, i, &r)) != TT_OK || (s = append(rows, n, &r, name)) != TT_OK)
                break;
        }
    }
    cJSON_Delete(doc);
    return s;
}

/* ---- CSV -------------------------------------------------------------------------------- */

static bool csv_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static tt_status read_csv(char *text, const char *name, tt_adv_row **rows, int *n)
{
    static const char *required[] = {"host", "accelerator", "price_per_hour", "mean_ms", "p90_ms"};
    char *header[TT_CSV_MAX_FIELDS];
    int nh = -1, col[5], c_mem = -1;
    tt_csv_reader rd = {.next = text};
    char *f[TT_CSV_MAX_FIELDS];
    for (int nf; (nf = tt_csv_next(&rd, f)) != 0;) {
        if (nf < 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: malformed CSV line", name, rd.line_no);
        if (nh < 0) {
            nh = nf;
            memcpy(header, f, sizeof f);
            for (int i = 0; i < 5; i++)
                if ((col[i] = tt_csv_column(header, nh, required[i])) < 0)
                    return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                    "%s:%d: the header has no column '%s' (expected "
                                    "host,accelerator,price_per_hour,mean_ms,p90_ms[,memory_needed])",
                                    name, rd.line_no, required[i]);
            c_mem = tt_csv_column(header, nh, "memory_needed");
            continue;
        }
        if (nf != nh)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: %d fields, the header has %d", name, rd.line_no, nf,
                            nh);
        tt_adv_row r = {0};
        TT_TRY(copy_name(r.host, sizeof r.host, f[col[0]], "host", name, rd.line_no));
        TT_TRY(copy_name(r.accelerator, sizeof r.accelerator, f[col[1]], "accelerator", name, rd.line_no));
        r.price_per_hour = -1;
        if (*f[col[2]] && !csv_number(f[col[2]], &r.price_per_hour))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: price_per_hour '%s' is not a non-negative number",
                            name, rd.line_no, f[col[2]]);
        if (!csv_number(f[col[3]], &r.mean_ms))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: mean_ms '%s' is not a non-negative number", name,
                            rd.line_no, f[col[3]]);
        if (!csv_number(f[col[4]], &r.p90_ms))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: p90_ms '%s' is not a non-negative number", name,
                            rd.line_no, f[col[4]]);
        if (c_mem >= 0 && *f[c_mem] && !tt_adv_parse_bytes(f[c_mem], &r.memory_needed))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: memory_needed '%s' is not a size (bytes, or 2GiB)",
                            name, rd.line_no, f[c_mem]);
        TT_TRY(append(rows, n, &r, name));
    }
    if (nh < 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: empty (expected a CSV header or bench JSON)", name);
    return TT_OK;
}

tt_status tt_adv_read_text(char *text, const char *name, tt_adv_row **rows, int *n)
{
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '{' || *p == '[')
        return read_json(p, name, rows, n);
    return read_csv(text, name, rows, n);
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
