/* numpy's .npy format (a magic string, a version, a Python-dict header naming dtype, order
 * and shape, then the raw array) in either byte order and in C or Fortran order, and .npz
 * archives of them (zip, stored or deflated). Arrays come out in C order and this machine's
 * byte order; every length read from the file is checked before use. */
#include "cli.h"

#include "core/status.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef TETHER_HAVE_ZLIB
#include <zlib.h>
#endif

#define NPY_MAX_BYTES ((size_t)1 << 36)

/* numpy's type characters: kind and item size -> dtype. */
static const struct {
    char kind;
    int size;
    tether_dtype dtype;
} g_kinds[] = {
    {'f', 4, TETHER_DTYPE_FLOAT},  {'f', 8, TETHER_DTYPE_DOUBLE},   {'f', 2, TETHER_DTYPE_FLOAT16},
    {'i', 1, TETHER_DTYPE_INT8},   {'i', 2, TETHER_DTYPE_INT16},    {'i', 4, TETHER_DTYPE_INT32},
    {'i', 8, TETHER_DTYPE_INT64},  {'u', 1, TETHER_DTYPE_UINT8},    {'u', 2, TETHER_DTYPE_UINT16},
    {'u', 4, TETHER_DTYPE_UINT32}, {'u', 8, TETHER_DTYPE_UINT64},   {'b', 1, TETHER_DTYPE_BOOL},
    {'c', 8, TETHER_DTYPE_COMPLEX64}, {'c', 16, TETHER_DTYPE_COMPLEX128},
};

/* Types numpy has no characters for go by ml_dtypes' names, which np.load reads once
 * ml_dtypes is imported; elements are one byte each (two for bfloat16), as ml_dtypes lays
 * them out. */
static const struct {
    const char *name;
    tether_dtype dtype;
} g_named[] = {
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

/* "'<f4'": byte order, kind, size. big: the data is big-endian. */
static bool parse_descr(const char *d, tether_dtype *dt, bool *big)
{
    if (d[0] != '\'' && d[0] != '"')
        return false;
    for (size_t i = 0; i < sizeof g_named / sizeof g_named[0]; i++) {
        size_t l = strlen(g_named[i].name);
        if (strncmp(d + 1, g_named[i].name, l) == 0 && d[1 + l] == d[0]) {
            *dt = g_named[i].dtype;
            *big = false;
            return true;
        }
    }
    char q = d[0], order = d[1];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return false;
    char kind = d[2];
    if (!kind) /* the header ends inside the descr */
        return false;
    char *end;
    long size = strtol(d + 3, &end, 10);
    if (end == d + 3 || *end != q)
        return false;
    for (size_t i = 0; i < sizeof g_kinds / sizeof g_kinds[0]; i++)
        if (g_kinds[i].kind == kind && g_kinds[i].size == size) {
            *dt = g_kinds[i].dtype;
            *big = order == '>' && size > 1;
            return true;
        }
    return false;
}

static void byteswap(void *data, size_t count, size_t es, tether_dtype dt)
{
    /* complex numbers are two floats, each swapped on its own */
    size_t unit = dt == TETHER_DTYPE_COMPLEX64 || dt == TETHER_DTYPE_COMPLEX128 ? es / 2 : es;
    unsigned char *p = data;
    for (size_t i = 0; i < count * (es / unit); i++, p += unit)
        for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
            unsigned char c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
}

/* Fortran order (first index fastest) into C order (last index fastest); total: the
 * element count, the product of dims, checked by the caller (no stride exceeds it). */
static void fortran_to_c(const unsigned char *src, unsigned char *dst, int rank, const int64_t *dims, size_t es,
                         int64_t total)
{
    int64_t fstride[TETHER_MAX_RANK], idx[TETHER_MAX_RANK] = {0};
    if (total == 0)
        return; /* a zero dimension: the others' product may not even fit */
    int64_t stride = 1;
    for (int d = 0; d < rank; d++) {
        fstride[d] = stride;
        stride *= dims[d];
    }
    for (int64_t i = 0; i < total; i++) {
        int64_t off = 0;
        for (int d = 0; d < rank; d++)
            off += idx[d] * fstride[d];
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
}

tether_status tt_npy_parse(const void *buf, size_t n, const char *label, tether_tensor *t)
{
    const unsigned char *b = buf;
    memset(t, 0, sizeof *t);
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is not a .npy file", label);
    size_t hlen, hoff;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (n >= 12 && (b[6] == 2 || b[6] == 3)) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': unsupported .npy version %d", label, b[6]);
    }
    if (hlen > n - hoff)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': truncated .npy header", label);
    char *h = malloc(hlen + 1);
    if (!h)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", label);
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    tether_status s = TETHER_OK;
    const char *descr = dict_value(h, "'descr'"), *fo = dict_value(h, "'fortran_order'"),
               *shape = dict_value(h, "'shape'");
    bool big = false, fortran = false;
    if (!descr || !fo || !shape || *shape != '(') {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed .npy header", label);
    } else if (strncmp(fo, "True", 4) == 0) {
        fortran = true;
    } else if (strncmp(fo, "False", 5) != 0) {
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed fortran_order in the .npy header", label);
    }
    if (s == TETHER_OK && !parse_descr(descr, &t->dtype, &big)) {
        const char *q = descr, *e = *descr ? descr + 1 : descr; /* descr may end the header */
        while (*e && *e != ',' && *e != '}' && e - q < 40)
            e++;
        s = tt_error(TETHER_ERR_UNSUPPORTED, "'%s': unsupported dtype %.*s (numbers, bool, complex and ml_dtypes' types only)", label,
                     (int)(e - q), q);
    }
    uint64_t numel = 1;
    if (s == TETHER_OK) {
        const char *p = shape + 1;
        while (*p && *p != ')' && s == TETHER_OK) {
            while (*p == ' ' || *p == ',')
                p++;
            if (*p == ')')
                break;
            char *end;
            errno = 0;
            long long d = strtoll(p, &end, 10);
            if (end == p || d < 0 || errno || t->rank >= TETHER_MAX_RANK) {
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': bad shape in the .npy header (rank at most %d)",
                             label, TETHER_MAX_RANK);
                break;
            }
            t->dims[t->rank++] = d;
            if (__builtin_mul_overflow(numel, (uint64_t)d, &numel))
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': shape too large", label);
            p = end;
        }
    }
    size_t es = tether_dtype_size(t->dtype);
    size_t have = n - hoff - hlen, need = 0;
    if (s == TETHER_OK && (numel > SIZE_MAX / es || (need = (size_t)numel * es) > have))
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': %zu bytes of data, its shape needs %llu", label, have,
                     (unsigned long long)numel * es);
    if (s == TETHER_OK) {
        t->size = need;
        t->data = malloc(need ? need : 1);
        if (!t->data)
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s' (%zu bytes)", label, need);
    }
    if (s == TETHER_OK) {
        const unsigned char *src = b + hoff + hlen;
        if (fortran && t->rank > 1)
            fortran_to_c(src, t->data, t->rank, t->dims, es, (int64_t)numel);
        else
            memcpy(t->data, src, need);
        if (big)
            byteswap(t->data, (size_t)numel, es, t->dtype);
    }
    free(h);
    if (s != TETHER_OK) {
        free(t->data);
        memset(t, 0, sizeof *t);
    }
    return s;
}

/* ---- .npz: a zip archive of NAME.npy members ------------------------------------------------ */

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

#define NPZ_MAX_MEMBERS 4096

/* One member's bytes, inflated when deflated. *out is malloc'ed. */
static tether_status npz_member(const unsigned char *z, size_t zn, const char *path, const char *name, uint64_t local,
                                uint64_t csize, uint64_t usize, unsigned method, unsigned char **out)
{
    if (local > zn || zn - local < 30 || le32(z + local) != 0x04034b50)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': member '%s' has no local header", path, name);
    uint64_t data = local + 30 + le16(z + local + 26) + le16(z + local + 28);
    if (data > zn || csize > zn - data)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': member '%s' runs past the end of the archive", path, name);
    if (usize > NPY_MAX_BYTES)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': member '%s' is larger than %zu bytes", path, name,
                        NPY_MAX_BYTES);
    /* the method and sizes are checked against the bytes there before any memory is taken
     * for them: stored members are as large as their data, and deflate expands at most 1032
     * times */
    if (method != 0 && method != 8)
        return tt_error(TETHER_ERR_UNSUPPORTED, "'%s': member '%s' uses zip method %u (stored and deflated only)", path,
                        name, method);
    if (method == 0 && csize != usize)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': stored member '%s' has two sizes", path, name);
    if (method == 8 && usize > csize * 1032 + 64)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "'%s': member '%s' claims %llu bytes, more than its %llu deflated bytes can hold", path, name,
                        (unsigned long long)usize, (unsigned long long)csize);
    unsigned char *buf = malloc(usize ? (size_t)usize : 1);
    if (!buf)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s' from '%s'", name, path);
    if (method == 0) {
        memcpy(buf, z + data, (size_t)usize);
    } else if (method == 8) {
#ifdef TETHER_HAVE_ZLIB
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(buf);
            return tt_error(TETHER_ERR_NO_MEMORY, "'%s': cannot start inflating '%s'", path, name);
        }
        /* zlib counts in uInt: feed and drain in pieces no larger than 1 GiB */
        const unsigned char *in = z + data;
        uint64_t in_left = csize;
        int zr;
        do {
            if (zs.avail_in == 0 && in_left) {
                zs.next_in = (unsigned char *)in;
                zs.avail_in = (uInt)(in_left > (1u << 30) ? 1u << 30 : in_left);
                in += zs.avail_in;
                in_left -= zs.avail_in;
            }
            uint64_t room = usize - (uint64_t)zs.total_out;
            zs.next_out = buf + zs.total_out;
            zs.avail_out = (uInt)(room > (1u << 30) ? 1u << 30 : room);
            zr = inflate(&zs, Z_NO_FLUSH); /* Z_BUF_ERROR: no progress possible (input or room used up) */
        } while (zr == Z_OK);
        uint64_t out_done = (uint64_t)zs.total_out;
        inflateEnd(&zs);
        if (zr != Z_STREAM_END || out_done != usize) {
            free(buf);
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': member '%s' does not inflate to its %llu bytes", path,
                            name, (unsigned long long)usize);
        }
#else
        free(buf);
        return tt_error(TETHER_ERR_UNSUPPORTED,
                        "'%s': member '%s' is compressed (numpy.savez_compressed) and this build has no zlib: "
                        "save it with numpy.savez",
                        path, name);
#endif
    }
    *out = buf;
    return TETHER_OK;
}

tether_status tt_npz_parse(const void *buf, size_t n, const char *path, tt_npz *out)
{
    const unsigned char *z = buf;
    memset(out, 0, sizeof *out);
    /* the end-of-central-directory record: within the last 64 KiB + 22 bytes */
    size_t eocd = SIZE_MAX;
    for (size_t i = n >= 22 ? n - 22 + 1 : 0; i-- > 0 && n - i <= 65535 + 22;)
        if (le32(z + i) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is not a zip archive (.npz)", path);
    uint64_t count = le16(z + eocd + 10), cd_size = le32(z + eocd + 12), cd_off = le32(z + eocd + 16);
    if ((count == 0xffff || cd_off == 0xffffffffu || cd_size == 0xffffffffu) && eocd >= 20 &&
        le32(z + eocd - 20) == 0x07064b50) {
        /* zip64: the locator points at the zip64 end record */
        uint64_t rec = le64(z + eocd - 20 + 8);
        if (rec > n || n - rec < 56 || le32(z + rec) != 0x06064b50)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed zip64 end record", path);
        count = le64(z + rec + 32);
        cd_size = le64(z + rec + 40);
        cd_off = le64(z + rec + 48);
    }
    if (cd_off > n || cd_size > n - cd_off)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': the zip directory runs past the end of the file", path);
    if (count > NPZ_MAX_MEMBERS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': more than %d arrays", path, NPZ_MAX_MEMBERS);
    out->arrays = calloc((size_t)count + 1, sizeof *out->arrays);
    out->names = calloc((size_t)count + 1, sizeof *out->names);
    if (!out->arrays || !out->names) {
        tt_npz_free(out);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", path);
    }
    tether_status s = TETHER_OK;
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < count && s == TETHER_OK; i++) {
        if (end - p < 46 || le32(z + p) != 0x02014b50) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed zip directory entry %llu", path,
                         (unsigned long long)i);
            break;
        }
        unsigned method = le16(z + p + 10), nlen = le16(z + p + 28), xlen = le16(z + p + 30), clen = le16(z + p + 32);
        uint64_t csize = le32(z + p + 20), usize = le32(z + p + 24), local = le32(z + p + 42);
        if (end - p - 46 < (uint64_t)nlen + xlen + clen) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': malformed zip directory entry %llu", path,
                         (unsigned long long)i);
            break;
        }
        const unsigned char *nm = z + p + 46, *x = nm + nlen, *xend = x + xlen;
        /* zip64 sizes and offset, in the order of the fields that overflowed */
        while (xend - x >= 4) {
            unsigned id = le16(x), len = le16(x + 2);
            const unsigned char *f = x + 4;
            if ((size_t)(xend - f) < len)
                break;
            if (id == 0x0001) {
                const unsigned char *fe = f + len;
                if (usize == 0xffffffffu && fe - f >= 8)
                    usize = le64(f), f += 8;
                if (csize == 0xffffffffu && fe - f >= 8)
                    csize = le64(f), f += 8;
                if (local == 0xffffffffu && fe - f >= 8)
                    local = le64(f);
            }
            x += 4 + len;
        }
        char name[256];
        if (nlen < 5 || nlen >= sizeof name || memcmp(nm + nlen - 4, ".npy", 4) != 0) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': member '%.*s' is not a .npy array", path,
                         (int)(nlen < 200 ? nlen : 200), (const char *)nm);
            break;
        }
        snprintf(name, sizeof name, "%.*s", (int)(nlen - 4), (const char *)nm);
        if (memchr(name, 0, nlen - 4)) {
            s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': a member's name holds a NUL byte", path);
            break;
        }
        unsigned char *data = NULL;
        s = npz_member(z, n, path, name, local, csize, usize, method, &data);
        if (s == TETHER_OK) {
            char label[600];
            snprintf(label, sizeof label, "%s:%s", path, name);
            s = tt_npy_parse(data, (size_t)usize, label, &out->arrays[out->n]);
            free(data);
        }
        if (s == TETHER_OK && !(out->names[out->n] = strdup(name)))
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s'", path);
        if (s == TETHER_OK)
            out->n++;
        else
            free(out->arrays[out->n].data);
        p += 46 + (uint64_t)nlen + xlen + clen;
    }
    if (s != TETHER_OK)
        tt_npz_free(out);
    return s;
}

void tt_npz_free(tt_npz *z)
{
    for (int i = 0; i < z->n; i++) {
        free(z->arrays[i].data);
        free(z->names[i]);
    }
    free(z->arrays);
    free(z->names);
    memset(z, 0, sizeof *z);
}

bool tt_npz_is(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char m[4] = {0};
    struct stat st;
    bool zip = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, m, 4, 0) == 4 && memcmp(m, "PK\003\004", 4) == 0;
    close(fd);
    return zip;
}

tether_status tt_npz_read(const char *path, tt_npz *out)
{
    void *raw;
    size_t n;
    TT_TRY(tt_read_file(path, NPY_MAX_BYTES, &raw, &n));
    tether_status s = tt_npz_parse(raw, n, path, out);
    free(raw);
    return s;
}

tether_status tt_npy_read(const char *path, tether_tensor *t)
{
    void *raw;
    size_t n;
    memset(t, 0, sizeof *t);
    TT_TRY(tt_read_file(path, NPY_MAX_BYTES, &raw, &n));
    tether_status s = tt_npy_parse(raw, n, path, t);
    free(raw);
    return s;
}

tether_status tt_npy_write(const char *path, const tether_tensor *t)
{
    char descr[24] = "";
    for (size_t i = 0; i < sizeof g_kinds / sizeof g_kinds[0]; i++)
        if (g_kinds[i].dtype == t->dtype)
            snprintf(descr, sizeof descr, "%c%c%d", g_kinds[i].size == 1 ? '|' : '<', g_kinds[i].kind,
                     g_kinds[i].size);
    for (size_t i = 0; i < sizeof g_named / sizeof g_named[0]; i++)
        if (g_named[i].dtype == t->dtype)
            snprintf(descr, sizeof descr, "%s", g_named[i].name);
    if (!descr[0])
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
    /* a regular file only: a FIFO or device planted at the path must not block or receive it */
    int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0644);
    struct stat st = {0};
    if (fd < 0 && lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return tt_error(TETHER_ERR_IO, "cannot write '%s': not a regular file", path);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || ftruncate(fd, 0) != 0) {
        int e = fd < 0 ? errno : S_ISREG(st.st_mode) ? errno : 0;
        if (fd >= 0)
            close(fd);
        return tt_error(TETHER_ERR_IO, "cannot write '%s': %s", path, e ? strerror(e) : "not a regular file");
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        return tt_error(TETHER_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(o & 0xff), (unsigned char)(o >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, (size_t)o, f) == (size_t)o &&
              (t->size == 0 || fwrite(t->data, 1, t->size, f) == t->size);
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return tt_error(TETHER_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
    return TETHER_OK;
}
