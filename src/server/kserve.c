/* KServe v2 bodies: the infer request parser (cJSON after a bounded nesting scan; tensors
 * from JSON values or from the binary section) and the response encoder (numbers written
 * so that FP32 and FP64 values read back exactly; binary outputs appended raw). */
#include "server/kserve.h"

#include "core/dtype.h"
#include "core/mem.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    tether_dtype t;
} kinds[] = {
    {"BOOL", TETHER_DTYPE_BOOL},       {"UINT8", TETHER_DTYPE_UINT8},     {"UINT16", TETHER_DTYPE_UINT16},
    {"UINT32", TETHER_DTYPE_UINT32},   {"UINT64", TETHER_DTYPE_UINT64},   {"INT8", TETHER_DTYPE_INT8},
    {"INT16", TETHER_DTYPE_INT16},     {"INT32", TETHER_DTYPE_INT32},     {"INT64", TETHER_DTYPE_INT64},
    {"FP16", TETHER_DTYPE_FLOAT16},    {"FP32", TETHER_DTYPE_FLOAT},      {"FP64", TETHER_DTYPE_DOUBLE},
    {"BF16", TETHER_DTYPE_BFLOAT16},   {"BYTES", TETHER_DTYPE_STRING},
};

const char *tt_kserve_dtype_name(tether_dtype t)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].t == t)
            return kinds[i].name;
    return NULL;
}

tether_dtype tt_kserve_dtype_parse(const char *s)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, s) == 0)
            return kinds[i].t;
    return TETHER_DTYPE_UNDEFINED;
}

void tt_kserve_req_free(tt_kserve_req *r)
{
    tt_arena_free(&r->arena);
    memset(r, 0, sizeof *r);
}

/* ---- parsing -------------------------------------------------------------------------- */

/* The deepest nesting of [ and { outside strings, stopping once over max. */
static int json_depth(const uint8_t *p, size_t n, int max)
{
    int depth = 0, deepest = 0;
    bool str = false;
    for (size_t i = 0; i < n && deepest <= max; i++) {
        uint8_t c = p[i];
        if (str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                str = false;
        } else if (c == '"') {
            str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest)
                deepest = depth;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return deepest;
}

typedef struct fill {
    const char *name;
    tether_dtype dt;
    void *data;
    size_t numel, i;
} fill;

static tt_status put_value(fill *f, const cJSON *v)
{
    if (f->i >= f->numel)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': more data values than its shape holds (%zu)",
                        f->name, f->numel);
    if (f->dt == TETHER_DTYPE_BOOL) {
        if (!cJSON_IsBool(v))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': element %zu is not a BOOL (true or false)",
                            f->name, f->i);
        ((uint8_t *)f->data)[f->i++] = cJSON_IsTrue(v) ? 1 : 0;
        return TT_OK;
    }
    if (!cJSON_IsNumber(v))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': element %zu is not a number (datatype %s)", f->name,
                        f->i, tt_kserve_dtype_name(f->dt));
    double d = v->valuedouble;
    if (tt_dtype_is_float(f->dt)) {
        tt_store_f64(f->data, f->dt, f->i++, d);
        return TT_OK;
    }
    double lo, hi;
    switch (f->dt) {
    case TETHER_DTYPE_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case TETHER_DTYPE_UINT8: lo = 0, hi = UINT8_MAX; break;
    case TETHER_DTYPE_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case TETHER_DTYPE_UINT16: lo = 0, hi = UINT16_MAX; break;
    case TETHER_DTYPE_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case TETHER_DTYPE_UINT32: lo = 0, hi = UINT32_MAX; break;
    case TETHER_DTYPE_UINT64: lo = 0, hi = 9007199254740992.0; break;
    default: lo = -9007199254740992.0, hi = 9007199254740992.0; break; /* JSON numbers are exact to 2^53 */
    }
    if (d != floor(d) || d < lo || d > hi)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "input '%s': element %zu (%.17g) is not a %s value%s", f->name, f->i, d,
                        tt_kserve_dtype_name(f->dt),
                        fabs(d) > 9007199254740992.0 ? " JSON carries exactly (send it as binary data)" : "");
    tt_store_i64(f->data, f->dt, f->i++, (int64_t)d);
    return TT_OK;
}

static tt_status walk(fill *f, const cJSON *v)
{
    if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c; c = c->next)
            TT_TRY(walk(f, c));
        return TT_OK;
    }
    return put_value(f, v);
}

static tt_status parse_shape(const cJSON *shape, const char *name, tether_tensor *t)
{
    if (!cJSON_IsArray(shape))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': \"shape\" must be an array of integers", name);
    int rank = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (rank >= TETHER_MAX_RANK)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': rank over %d", name, TETHER_MAX_RANK);
        if (!cJSON_IsNumber(d) || d->valuedouble != floor(d->valuedouble) || d->valuedouble < 0 ||
            d->valuedouble > 1e15)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': shape element %d is not a dimension (>= 0)",
                            name, rank);
        t->dims[rank++] = (int64_t)d->valuedouble;
    }
    t->rank = rank;
    return TT_OK;
}

static tt_status parse_input(const cJSON *in, size_t idx, const uint8_t *bin, size_t bin_len, size_t *bin_off,
                             const tt_kserve_limits *lim, tt_kserve_req *r, tether_tensor *t)
{
    if (!cJSON_IsObject(in))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "inputs[%zu] is not an object", idx);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    if (!cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) > 1024)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "inputs[%zu] has no \"name\" string", idx);
    const char *nm = name->valuestring;
    for (size_t k = 0; k < idx; k++)
        if (strcmp(r->inputs[k].name, nm) == 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' is given twice", nm);
    t->name = tt_arena_strdup(&r->arena, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    if (!cJSON_IsString(dt))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' has no \"datatype\" string", nm);
    t->dtype = tt_kserve_dtype_parse(dt->valuestring);
    if (t->dtype == TETHER_DTYPE_UNDEFINED)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "input '%s': unknown datatype '%.32s' (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, "
                        "BF16)",
                        nm, dt->valuestring);
    if (t->dtype == TETHER_DTYPE_STRING)
        return tt_error(TETHER_ERR_UNSUPPORTED, "input '%s': BYTES tensors are not supported by tetherd", nm);
    TT_TRY(parse_shape(cJSON_GetObjectItemCaseSensitive(in, "shape"), nm, t));
    uint64_t numel = 1, bytes;
    for (int d = 0; d < t->rank; d++)
        if (!tt_mul_ok(numel, (uint64_t)t->dims[d], &numel))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': the shape's element count overflows", nm);
    if (!tt_mul_ok(numel, tether_dtype_size(t->dtype), &bytes) || bytes > lim->max_tensor_bytes)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': %" PRIu64 " elements of %s are over the %" PRIu64
                        "-byte limit for one tensor",
                        nm, numel, dt->valuestring, lim->max_tensor_bytes);
    t->size = (size_t)bytes;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(in, "parameters");
    const cJSON *bsize = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_size") : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    if (bsize) {
        if (!cJSON_IsNumber(bsize) || bsize->valuedouble < 0 || bsize->valuedouble != floor(bsize->valuedouble))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': binary_data_size is not a byte count", nm);
        if (data)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' has both \"data\" and binary_data_size", nm);
        double want = bsize->valuedouble;
        if (want != (double)bytes)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "input '%s': binary_data_size is %.0f, but shape and datatype make %" PRIu64 " bytes", nm,
                            want, bytes);
        if (bytes > bin_len - *bin_off)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "input '%s': %" PRIu64 " binary bytes declared, only %zu left in the body (truncated?)",
                            nm, bytes, bin_len - *bin_off);
        t->data = tt_arena_alloc_data(&r->arena, bytes ? (size_t)bytes : 1);
        if (!t->data)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for input '%s'", nm);
        memcpy(t->data, bin + *bin_off, (size_t)bytes);
        *bin_off += (size_t)bytes;
        return TT_OK;
    }
    if (!cJSON_IsArray(data))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' has no \"data\" array (nor binary_data_size)", nm);
    t->data = tt_arena_alloc_data(&r->arena, bytes ? (size_t)bytes : 1);
    if (!t->data)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for input '%s'", nm);
    fill f = {.name = nm, .dt = t->dtype, .data = t->data, .numel = (size_t)numel};
    TT_TRY(walk(&f, data));
    if (f.i != f.numel)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': %zu data values for a shape of %zu elements", nm, f.i,
                        f.numel);
    return TT_OK;
}

static tt_status parse_root(const cJSON *root, const uint8_t *bin, size_t bin_len, const tt_kserve_limits *lim,
                            tt_kserve_req *r)
{
    if (!cJSON_IsObject(root))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "the request body is not a JSON object");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id) {
        if (!cJSON_IsString(id) || strlen(id->valuestring) > 256)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "\"id\" must be a string of at most 256 bytes");
        r->id = tt_arena_strdup(&r->arena, id->valuestring);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (params && !cJSON_IsObject(params))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "\"parameters\" must be an object");
    const cJSON *bo = params ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_output") : NULL;
    if (bo && !cJSON_IsBool(bo))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "parameters.binary_data_output must be true or false");
    r->binary_all = bo && cJSON_IsTrue(bo);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!cJSON_IsArray(inputs))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "the request has no \"inputs\" array");
    size_t n = (size_t)cJSON_GetArraySize(inputs);
    if (n == 0 || n > lim->max_tensors)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%zu inputs: a request carries 1 to %zu", n, lim->max_tensors);
    r->inputs = tt_arena_alloc(&r->arena, sizeof *r->inputs * n);
    if (!r->inputs)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    size_t off = 0, i = 0;
    for (const cJSON *in = inputs->child; in; in = in->next, i++) {
        r->n_inputs = i;
        TT_TRY(parse_input(in, i, bin, bin_len, &off, lim, r, &r->inputs[i]));
    }
    r->n_inputs = n;
    if (off != bin_len)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%zu bytes of binary data follow the JSON header, but the inputs' binary_data_size add up to "
                        "%zu",
                        bin_len, off);
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (!outputs)
        return TT_OK;
    if (!cJSON_IsArray(outputs))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "\"outputs\" must be an array");
    n = (size_t)cJSON_GetArraySize(outputs);
    if (n > lim->max_tensors)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%zu outputs requested, at most %zu", n, lim->max_tensors);
    r->outputs = tt_arena_alloc(&r->arena, sizeof *r->outputs * (n ? n : 1));
    if (!r->outputs)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    i = 0;
    for (const cJSON *o = outputs->child; o; o = o->next, i++) {
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name) || strlen(name->valuestring) > 1024)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "outputs[%zu] has no \"name\" string", i);
        r->outputs[i].name = tt_arena_strdup(&r->arena, name->valuestring);
        r->outputs[i].binary = r->binary_all;
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        const cJSON *bd = cJSON_IsObject(op) ? cJSON_GetObjectItemCaseSensitive(op, "binary_data") : NULL;
        if (bd && !cJSON_IsBool(bd))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "output '%s': binary_data must be true or false",
                            name->valuestring);
        if (bd)
            r->outputs[i].binary = cJSON_IsTrue(bd);
        if (!r->outputs[i].name)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    r->n_outputs = n;
    return TT_OK;
}

tt_status tt_kserve_parse_infer(const uint8_t *body, size_t len, size_t json_len, const tt_kserve_limits *lim,
                                tt_kserve_req *out)
{
    memset(out, 0, sizeof *out);
    tt_arena_init(&out->arena);
    if (json_len > len)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "Inference-Header-Content-Length is %zu, but the body has only %zu bytes", json_len, len);
    if (json_len == 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "the request body is empty");
    int depth = json_depth(body, json_len, lim->max_depth);
    if (depth > lim->max_depth)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "the JSON is nested deeper than %d levels", lim->max_depth);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, json_len, &end, false);
    if (!root) {
        size_t at = end && end >= (const char *)body ? (size_t)(end - (const char *)body) : 0;
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "the request is not valid JSON (at byte %zu of %zu)", at,
                        json_len);
    }
    tt_status st = parse_root(root, body + json_len, len - json_len, lim, out);
    cJSON_Delete(root);
    if (st != TT_OK)
        tt_kserve_req_free(out);
    return st;
}

/* ---- encoding ------------------------------------------------------------------------- */

typedef struct obuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} obuf;

static void ob_need(obuf *b, size_t k)
{
    if (b->oom || b->n + k <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + k)
        cap *= 2;
    uint8_t *p = tt_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void ob_put(obuf *b, const void *p, size_t k)
{
    ob_need(b, k);
    if (!b->oom) {
        memcpy(b->p + b->n, p, k);
        b->n += k;
    }
}

static void ob_printf(obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ob_printf(obuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof tmp) {
        ob_put(b, tmp, (size_t)k);
        return;
    }
    ob_need(b, (size_t)k + 1);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* A JSON string (cJSON escapes it). */
static void ob_str(obuf *b, const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *t = j ? cJSON_PrintUnformatted(j) : NULL;
    if (t)
        ob_put(b, t, strlen(t));
    else
        b->oom = true;
    cJSON_free(t);
    cJSON_Delete(j);
}

static void ob_number(obuf *b, double v, bool single)
{
    if (isnan(v))
        ob_put(b, "NaN", 3);
    else if (isinf(v))
        ob_printf(b, "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        ob_printf(b, single ? "%.9g" : "%.17g", v);
}

static void ob_values(obuf *b, const tether_tensor *t, const uint8_t *data, size_t numel)
{
    ob_put(b, "[", 1);
    for (size_t i = 0; i < numel; i++) {
        if (i)
            ob_put(b, ",", 1);
        switch (t->dtype) {
        case TETHER_DTYPE_BOOL: ob_printf(b, "%s", data[i] ? "true" : "false"); break;
        case TETHER_DTYPE_FLOAT:
        case TETHER_DTYPE_FLOAT16:
        case TETHER_DTYPE_BFLOAT16: ob_number(b, tt_load_f64(data, t->dtype, i), true); break;
        case TETHER_DTYPE_DOUBLE: ob_number(b, tt_load_f64(data, t->dtype, i), false); break;
        case TETHER_DTYPE_UINT64: ob_printf(b, "%" PRIu64, ((const uint64_t *)data)[i]); break;
        default: ob_printf(b, "%" PRId64, tt_load_i64(data, t->dtype, i)); break;
        }
    }
    ob_put(b, "]", 1);
}

tt_status tt_kserve_encode_infer(const char *model, int64_t version, const tt_kserve_req *req,
                                 const tether_outputs *out, int64_t row0, int64_t rows, int64_t total,
                                 tt_kserve_body *body)
{
    memset(body, 0, sizeof *body);
    size_t n = req->n_outputs ? req->n_outputs : tether_outputs_count(out);
    const tether_tensor *stack[16], **sel = n <= 16 ? stack : tt_calloc(n, sizeof *sel);
    bool bstack[16], *bin = n <= 16 ? bstack : tt_calloc(n, sizeof *bin);
    if (!sel || !bin) {
        if (sel != stack)
            tt_free(sel);
        if (bin != bstack)
            tt_free(bin);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    tt_status st = TT_OK;
    for (size_t i = 0; i < n && st == TT_OK; i++) {
        sel[i] = req->n_outputs ? tether_outputs_find(out, req->outputs[i].name) : tether_outputs_get(out, i);
        bin[i] = req->n_outputs ? req->outputs[i].binary : req->binary_all;
        if (!sel[i])
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s' has no output '%s'", model, req->outputs[i].name);
        else if (!tt_kserve_dtype_name(sel[i]->dtype) || sel[i]->dtype == TETHER_DTYPE_STRING)
            st = tt_error(TETHER_ERR_UNSUPPORTED, "output '%s' is %s, which KServe cannot carry", sel[i]->name,
                          tether_dtype_name(sel[i]->dtype));
    }
    obuf b = {0};
    size_t bin_total = 0;
    if (st == TT_OK) {
        ob_put(&b, "{\"model_name\":", 14);
        ob_str(&b, model);
        ob_printf(&b, ",\"model_version\":\"%" PRId64 "\"", version);
        if (req->id) {
            ob_put(&b, ",\"id\":", 6);
            ob_str(&b, req->id);
        }
        ob_put(&b, ",\"outputs\":[", 12);
        for (size_t i = 0; i < n; i++) {
            const tether_tensor *t = sel[i];
            int64_t dims[TETHER_MAX_RANK];
            memcpy(dims, t->dims, sizeof dims);
            size_t off = 0, size = t->size;
            if (total > 0) {
                size_t row_bytes = t->size / (size_t)total;
                off = (size_t)row0 * row_bytes;
                size = (size_t)rows * row_bytes;
                dims[0] = rows;
            }
            ob_put(&b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
            ob_str(&b, t->name);
            ob_printf(&b, ",\"datatype\":\"%s\",\"shape\":[", tt_kserve_dtype_name(t->dtype));
            for (int d = 0; d < t->rank; d++)
                ob_printf(&b, d ? ",%" PRId64 : "%" PRId64, dims[d]);
            ob_put(&b, "]", 1);
            if (bin[i]) {
                ob_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}", size);
                bin_total += size;
            } else {
                size_t es = tether_dtype_size(t->dtype);
                ob_put(&b, ",\"data\":", 8);
                ob_values(&b, t, (const uint8_t *)t->data + off, es ? size / es : 0);
                ob_put(&b, "}", 1);
            }
        }
        ob_put(&b, "]}", 2);
        body->json_len = b.n;
        ob_need(&b, bin_total);
        for (size_t i = 0; i < n && !b.oom; i++) {
            if (!bin[i])
                continue;
            const tether_tensor *t = sel[i];
            size_t off = 0, size = t->size;
            if (total > 0) {
                size_t row_bytes = t->size / (size_t)total;
                off = (size_t)row0 * row_bytes;
                size = (size_t)rows * row_bytes;
            }
            ob_put(&b, (const uint8_t *)t->data + off, size);
        }
        if (b.oom)
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory encoding the response");
    }
    if (sel != stack)
        tt_free(sel);
    if (bin != bstack)
        tt_free(bin);
    if (st != TT_OK) {
        tt_free(b.p);
        memset(body, 0, sizeof *body);
        return st;
    }
    body->p = b.p;
    body->len = b.n;
    return TT_OK;
}

char *tt_kserve_error_json(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg ? msg : "");
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *r = t ? tt_strdup(t) : NULL;
    cJSON_free(t);
    return r;
}
