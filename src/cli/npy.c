/* numpy's .npy format: a magic string, a version, a Python-dict header naming dtype,
 * order and shape, then the raw array. */
#include "cli.h"

#include "core/status.h"
#include "model/model.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    tether_dtype dtype;
} g_descr[] = {
    {"<f4", TETHER_DTYPE_FLOAT},   {"<f8", TETHER_DTYPE_DOUBLE},  {"<f2", TETHER_DTYPE_FLOAT16},
    {"|i1", TETHER_DTYPE_INT8},    {"<i2", TETHER_DTYPE_INT16},   {"<i4", TETHER_DTYPE_INT32},
    {"<i8", TETHER_DTYPE_INT64},   {"|u1", TETHER_DTYPE_UINT8},   {"<u2", TETHER_DTYPE_UINT16},
    {"<u4", TETHER_DTYPE_UINT32},  {"<u8", TETHER_DTYPE_UINT64},  {"|b1", TETHER_DTYPE_BOOL},
    {"<c8", TETHER_DTYPE_COMPLEX64}, {"<c16", TETHER_DTYPE_COMPLEX128},
    /* numpy has no names for these: ml_dtypes' names, which np.load reads once ml_dtypes is
     * imported; the elements are one byte each (two for bfloat16), as ml_dtypes lays them out */
    {"bfloat16", TETHER_DTYPE_BFLOAT16},         {"float8_e4m3fn", TETHER_DTYPE_FLOAT8E4M3FN},
    {"float8_e4m3fnuz", TETHER_DTYPE_FLOAT8E4M3FNUZ}, {"float8_e5m2", TETHER_DTYPE_FLOAT8E5M2},
    {"float8_e5m2fnuz", TETHER_DTYPE_FLOAT8E5M2FNUZ}, {"float8_e8m0fnu", TETHER_DTYPE_FLOAT8E8M0},
    {"int4", TETHER_DTYPE_INT4},                 {"uint4", TETHER_DTYPE_UINT4},
    {"float4_e2m1fn", TETHER_DTYPE_FLOAT4E2M1},  {"int2", TETHER_DTYPE_INT2},
    {"uint2", TETHER_DTYPE_UINT2},
};

const char *tt_cli_tensor_desc(const tether_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "%s[", tether_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
    return buf;
}

/* Finds 'key': in the header dict and returns a pointer just past the colon. */
static const char *dict_value(const char *h, const char *key)
{
    const char *p = strstr(h, key);
    if (!p)
        return NULL;
    p = strchr(p + strlen(key), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

tether_status tt_npy_read(const char *path, tether_tensor *t)
{
    void *raw;
    size_t n;
    memset(t, 0, sizeof *t);
    TT_TRY(tt_read_file(path, (size_t)1 << 36, &raw, &n));
    unsigned char *b = raw;
    tether_status s = TETHER_OK;
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is not a .npy file", path);
        goto out;
    }
    size_t hlen, hoff;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (n >= 12 && (b[6] == 2 || b[6] == 3)) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': unsupported .npy version %d", path, b[6]);
        goto out;
    }
    if (hlen > n - hoff) {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': truncated .npy header", path);
        goto out;
    }
    char *h = malloc(hlen + 1);
    if (!h) {
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    const char *descr = dict_value(h, "'descr'"), *fo = dict_value(h, "'fortran_order'"),
               *shape = dict_value(h, "'shape'");
    if (!descr || !fo || !shape || *shape != '(') {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed .npy header", path);
    } else if (strncmp(fo, "False", 5) != 0) {
        s = tt_error(TETHER_ERR_UNSUPPORTED, "'%s': Fortran-order arrays are not supported; save with C order", path);
    } else {
        t->dtype = TETHER_DTYPE_UNDEFINED;
        for (size_t i = 0; i < sizeof g_descr / sizeof g_descr[0]; i++) {
            size_t l = strlen(g_descr[i].descr);
            if (descr[0] == '\'' && strncmp(descr + 1, g_descr[i].descr, l) == 0 && descr[1 + l] == '\'')
                t->dtype = g_descr[i].dtype;
        }
        /* '<' and '|' are interchangeable for one-byte types; '=' means native (little-endian here) */
        if (t->dtype == TETHER_DTYPE_UNDEFINED && descr[0] == '\'' && (descr[1] == '|' || descr[1] == '=') ) {
            for (size_t i = 0; i < sizeof g_descr / sizeof g_descr[0]; i++)
                if (strncmp(descr + 2, g_descr[i].descr + 1, strlen(g_descr[i].descr) - 1) == 0 &&
                    descr[1 + strlen(g_descr[i].descr)] == '\'')
                    t->dtype = g_descr[i].dtype;
        }
        if (t->dtype == TETHER_DTYPE_UNDEFINED) {
            s = tt_error(TETHER_ERR_UNSUPPORTED, "'%s': unsupported dtype %.12s", path, descr);
        } else {
            const char *p = shape + 1;
            uint64_t numel = 1;
            t->rank = 0;
            while (*p && *p != ')' && s == TETHER_OK) {
                while (*p == ' ' || *p == ',')
                    p++;
                if (*p == ')')
                    break;
                char *end;
                errno = 0;
                long long d = strtoll(p, &end, 10);
                if (end == p || d < 0 || errno || t->rank >= TETHER_MAX_RANK) {
                    s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': bad shape in .npy header", path);
                    break;
                }
                t->dims[t->rank++] = d;
                if (__builtin_mul_overflow(numel, (uint64_t)d, &numel))
                    s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': shape too large", path);
                p = end;
            }
            size_t es = tether_dtype_size(t->dtype);
            size_t need = (size_t)numel * es;
            if (s == TETHER_OK && (numel > SIZE_MAX / es || need > n - hoff - hlen))
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': %zu bytes of data, shape needs %zu", path,
                             n - hoff - hlen, need);
            if (s == TETHER_OK) {
                t->size = need;
                t->data = malloc(need ? need : 1);
                if (!t->data)
                    s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
                else
                    memcpy(t->data, b + hoff + hlen, need);
            }
        }
    }
    free(h);
out:
    free(raw);
    return s;
}

tether_status tt_npy_write(const char *path, const tether_tensor *t)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof g_descr / sizeof g_descr[0]; i++)
        if (g_descr[i].dtype == t->dtype)
            descr = g_descr[i].descr;
    if (!descr)
        return tt_error(TETHER_ERR_UNSUPPORTED, "cannot write %s tensors to .npy", tether_dtype_name(t->dtype));
    char h[512];
    int o = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        o += snprintf(h + o, sizeof h - (size_t)o, "%lld,%s", (long long)t->dims[i], t->rank > 1 && i < t->rank - 1 ? " " : "");
    o += snprintf(h + o, sizeof h - (size_t)o, "), }");
    /* pad with spaces so that the data starts on a 64-byte boundary, ending in '\n' */
    int total = 10 + o + 1;
    int pad = (64 - total % 64) % 64;
    memset(h + o, ' ', (size_t)pad);
    o += pad;
    h[o++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return tt_error(TETHER_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(o & 0xff), (unsigned char)(o >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, (size_t)o, f) == (size_t)o &&
              (t->size == 0 || fwrite(t->data, 1, t->size, f) == t->size);
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return tt_error(TETHER_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
    return TETHER_OK;
}
