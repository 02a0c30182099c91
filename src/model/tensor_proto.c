/* TensorProto and SparseTensorProto decoding: raw_data, the typed fields, and external
 * data files. Sizes are checked against the bytes actually present before anything is
 * allocated, so a hostile shape cannot make tether allocate more than the input holds. */
#include "model/raw.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOMEM() tt_error(TETHER_ERR_NO_MEMORY, "out of memory decoding a tensor")

typedef struct tensor_fields {
    const char *name;
    int dtype;
    int n_dims;
    int64_t dims[TT_MAX_RANK];
    const uint8_t *raw;
    size_t raw_len;
    bool has_raw;
    size_t n_float, n_int32, n_int64, n_double, n_uint64, n_string;
    bool external;
    const char *location;
    size_t location_len;
    uint64_t ext_offset, ext_length;
    bool has_length;
} tensor_fields;

static tt_status parse_external_entry(const tt_pb *parent, const tt_pb_field *ef, tensor_fields *tf)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(tt_pb_sub(parent, ef, &r));
    const uint8_t *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    int rc;
    while ((rc = tt_pb_next(&r, &f)) > 0) {
        if (f.wire != TT_PB_LEN)
            continue;
        if (f.num == 1)
            key = f.data, klen = f.len;
        else if (f.num == 2)
            val = f.data, vlen = f.len;
    }
    if (rc < 0)
        return TETHER_ERR_INVALID_MODEL;
    if (!key)
        return TT_OK;
    char num[32];
    if (klen == 8 && memcmp(key, "location", 8) == 0) {
        tf->location = (const char *)val;
        tf->location_len = vlen;
    } else if ((klen == 6 && memcmp(key, "offset", 6) == 0) || (klen == 6 && memcmp(key, "length", 6) == 0)) {
        if (!val || vlen == 0 || vlen >= sizeof num)
            return tt_error(TETHER_ERR_INVALID_MODEL, "external data %.*s at byte %zu is malformed", (int)klen, key,
                            ef->offset);
        memcpy(num, val, vlen);
        num[vlen] = 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(num, &end, 10);
        if (*end || errno || num[0] == '-')
            return tt_error(TETHER_ERR_INVALID_MODEL, "external data %.*s '%s' is not a number", (int)klen, key, num);
        if (key[0] == 'o') {
            tf->ext_offset = v;
        } else {
            tf->ext_length = v;
            tf->has_length = true;
        }
    }
    return TT_OK;
}

static tt_status scan_tensor(tt_decoder *d, const tt_pb *msg, size_t msg_offset, tensor_fields *tf)
{
    tt_pb r = *msg;
    tt_pb_field f;
    int rc;
    memset(tf, 0, sizeof *tf);
    size_t k;
    while ((rc = tt_pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1: {
            size_t cnt;
            TT_TRY(tt_pb_count(&f, TT_PB_VARINT, &cnt));
            if (cnt > (size_t)(TT_MAX_RANK - tf->n_dims))
                return tt_error(TETHER_ERR_UNSUPPORTED, "tensor at byte %zu has rank above %d", msg_offset,
                                TT_MAX_RANK);
            size_t n = (size_t)tf->n_dims;
            TT_TRY(tt_pb_varints(&f, (uint64_t *)tf->dims, TT_MAX_RANK, &n));
            tf->n_dims = (int)n;
            break;
        }
        case 2:
            if (f.wire != TT_PB_VARINT)
                return tt_error(TETHER_ERR_INVALID_MODEL, "tensor data_type at byte %zu is malformed", f.offset);
            tf->dtype = (int)(int32_t)f.u;
            break;
        case 3:
            return tt_error(TETHER_ERR_UNSUPPORTED, "segmented tensors (byte %zu) are not supported", f.offset);
        case 4: TT_TRY(tt_pb_count(&f, TT_PB_I32, &k)); tf->n_float += k; break;
        case 5: TT_TRY(tt_pb_count(&f, TT_PB_VARINT, &k)); tf->n_int32 += k; break;
        case 7: TT_TRY(tt_pb_count(&f, TT_PB_VARINT, &k)); tf->n_int64 += k; break;
        case 10: TT_TRY(tt_pb_count(&f, TT_PB_I64, &k)); tf->n_double += k; break;
        case 11: TT_TRY(tt_pb_count(&f, TT_PB_VARINT, &k)); tf->n_uint64 += k; break;
        case 6:
            if (f.wire != TT_PB_LEN)
                return tt_error(TETHER_ERR_INVALID_MODEL, "tensor string_data at byte %zu is malformed", f.offset);
            tf->n_string++;
            break;
        case 8:
            if (f.wire != TT_PB_LEN || memchr(f.data, 0, f.len))
                return tt_error(TETHER_ERR_INVALID_MODEL, "tensor name at byte %zu is malformed", f.offset);
            if (d && !(tf->name = tt_arena_strndup(d->a, (const char *)f.data, f.len)))
                return NOMEM();
            break;
        case 9:
            if (f.wire != TT_PB_LEN)
                return tt_error(TETHER_ERR_INVALID_MODEL, "tensor raw_data at byte %zu is malformed", f.offset);
            tf->raw = f.data;
            tf->raw_len = f.len;
            tf->has_raw = true;
            break;
        case 13:
            if (f.wire != TT_PB_LEN)
                return tt_error(TETHER_ERR_INVALID_MODEL, "tensor external_data at byte %zu is malformed", f.offset);
            TT_TRY(parse_external_entry(&r, &f, tf));
            break;
        case 14: tf->external = f.u == 1; break;
        default: break;
        }
    }
    if (rc < 0)
        return TETHER_ERR_INVALID_MODEL;
    return TT_OK;
}

/* Reject locations that leave the model's folder: absolute paths and "..". */
static bool safe_location(const char *loc, size_t n)
{
    if (n == 0 || loc[0] == '/' || memchr(loc, 0, n))
        return false;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && loc[j] != '/')
            j++;
        if (j - i == 2 && loc[i] == '.' && loc[i + 1] == '.')
            return false;
        i = j + 1;
    }
    return true;
}

#define TT_MAX_LOCATION 1024 /* bytes of an external data path relative to the model */

static tt_status read_external(tt_decoder *d, const tensor_fields *tf, const char *tname, void *dst, size_t bytes)
{
    if (!d || !d->dir)
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "tensor '%s' keeps its data in an external file, but the model was opened from bytes; open "
                        "it from its path",
                        tname);
    if (!tf->location || !safe_location(tf->location, tf->location_len))
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "tensor '%s': external data location is missing or leaves the model's folder", tname);
    if (tf->location_len > TT_MAX_LOCATION)
        return tt_error(TETHER_ERR_INVALID_MODEL, "tensor '%s': external data location is longer than %d bytes", tname,
                        TT_MAX_LOCATION);
    char rel[TT_MAX_LOCATION + 1];
    snprintf(rel, sizeof rel, "%.*s", (int)tf->location_len, tf->location);
    /* only inside the model's folder: no symbolic link may lead out of it */
    int fd = tt_open_beneath(d->dir, rel);
    if (fd < 0 && (errno == EXDEV || errno == ELOOP))
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "tensor '%s': external data '%s' leads outside the model's folder through a symbolic link; "
                        "tether reads external data only from regular files inside the folder",
                        tname, rel);
    if (fd < 0)
        return tt_error(TETHER_ERR_IO, "tensor '%s': cannot open external data '%s': %s", tname, rel,
                        strerror(errno));
    struct stat st;
    tt_status s = TT_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = tt_error(TETHER_ERR_IO, "tensor '%s': external data '%.*s' is not a regular file", tname,
                     (int)tf->location_len, tf->location);
    } else if (tf->has_length && tf->ext_length != bytes) {
        s = tt_error(TETHER_ERR_INVALID_MODEL, "tensor '%s': external data length %" PRIu64 " != %zu bytes its shape needs",
                     tname, tf->ext_length, bytes);
    } else if (tf->ext_offset > (uint64_t)st.st_size || bytes > (uint64_t)st.st_size - tf->ext_offset) {
        s = tt_error(TETHER_ERR_INVALID_MODEL,
                     "tensor '%s': external data wants %zu bytes at offset %" PRIu64 " of '%.*s', which has %lld",
                     tname, bytes, tf->ext_offset, (int)tf->location_len, tf->location, (long long)st.st_size);
    } else if (dst) { /* dst == NULL: only check that the bytes are there */
        size_t done = 0;
        while (done < bytes) {
            ssize_t k = pread(fd, (char *)dst + done, bytes - done, (off_t)(tf->ext_offset + done));
            if (k <= 0) {
                s = tt_error(TETHER_ERR_IO, "tensor '%s': reading external data failed: %s", tname,
                             k < 0 ? strerror(errno) : "unexpected end of file");
                break;
            }
            done += (size_t)k;
        }
    }
    close(fd);
    return s;
}

/* Checks (before allocating, and before any size limit) that the data the tensor claims is
 * really there. numel and bytes are exact unless `overflow`: the shape's size does not fit
 * 64 bits, which no data present can match. */
static tt_status check_sizes(tt_decoder *d, const tensor_fields *tf, const char *tname, uint64_t numel, uint64_t bytes,
                             bool overflow)
{
    tt_dtype dt = (tt_dtype)tf->dtype;
    char shape[160];
    tt_dims_str(tf->n_dims, tf->dims, shape, sizeof shape);
    if (tf->external) {
        /* string elements are pointers: file bytes must never become them */
        if (dt == TETHER_DTYPE_STRING)
            return tt_error(TETHER_ERR_INVALID_MODEL, "string tensor '%s' cannot keep its data externally", tname);
        if (overflow)
            return tt_error(TETHER_ERR_INVALID_MODEL, "tensor '%s': shape %s is too large for any external file", tname,
                            shape);
        return read_external(d, tf, tname, NULL, (size_t)bytes);
    }
    if (tf->has_raw) {
        if (dt == TETHER_DTYPE_STRING)
            return tt_error(TETHER_ERR_INVALID_MODEL, "string tensor '%s' uses raw_data", tname);
        if (overflow)
            return tt_error(TETHER_ERR_INVALID_MODEL,
                            "tensor '%s' (%s) has %zu bytes of raw_data but its shape %s needs more than 2^64", tname,
                            tt_dtype_name(dt), tf->raw_len, shape);
        if (tf->raw_len != bytes)
            return tt_error(TETHER_ERR_INVALID_MODEL,
                            "tensor '%s' (%s) has %zu bytes of raw_data but its shape %s needs %" PRIu64, tname,
                            tt_dtype_name(dt), tf->raw_len, shape, bytes);
        return TT_OK;
    }
    size_t have;
    uint64_t want = numel;
    if (tt_dtype_bits(dt) < 8) /* int32_data holds the packed bytes, one per entry */
        want = tt_dtype_packed_bytes(dt, numel);
    switch (dt) {
    case TETHER_DTYPE_FLOAT: have = tf->n_float; break;
    case TETHER_DTYPE_COMPLEX64: have = tf->n_float, overflow |= !tt_mul_ok(numel, 2, &want); break;
    case TETHER_DTYPE_DOUBLE: have = tf->n_double; break;
    case TETHER_DTYPE_COMPLEX128: have = tf->n_double, overflow |= !tt_mul_ok(numel, 2, &want); break;
    case TETHER_DTYPE_INT64: have = tf->n_int64; break;
    case TETHER_DTYPE_UINT32:
    case TETHER_DTYPE_UINT64: have = tf->n_uint64; break;
    case TETHER_DTYPE_STRING: have = tf->n_string; break;
    default: have = tf->n_int32; break;
    }
    if (overflow || have != want)
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "tensor '%s' (%s%s) holds %zu elements but its shape needs %s%" PRIu64, tname,
                        tt_dtype_name(dt), shape, have, overflow ? "more than " : "", overflow ? UINT64_MAX : want);
    return TT_OK;
}

static tt_status fill_typed(const tt_pb *msg, const tensor_fields *tf, tt_tensor *t, tt_arena *a)
{
    tt_pb r = *msg;
    tt_pb_field f;
    int rc;
    tt_dtype dt = t->dtype;
    size_t numel = (size_t)tt_tensor_numel(t), elems = numel;
    bool packed = tt_dtype_bits(dt) < 8;
    if (packed) /* int32_data holds the packed bytes, one per entry */
        numel = (size_t)tt_dtype_packed_bytes(dt, numel);
    size_t n = 0;
    uint64_t *tmp = NULL;
    bool via_varint = dt != TETHER_DTYPE_FLOAT && dt != TETHER_DTYPE_COMPLEX64 && dt != TETHER_DTYPE_DOUBLE &&
                      dt != TETHER_DTYPE_COMPLEX128 && dt != TETHER_DTYPE_STRING;
    if (via_varint && numel && !(tmp = tt_malloc(numel * sizeof *tmp)))
        return NOMEM();
    tt_status s = TT_OK;
    int want_field = dt == TETHER_DTYPE_FLOAT || dt == TETHER_DTYPE_COMPLEX64    ? 4
                     : dt == TETHER_DTYPE_DOUBLE || dt == TETHER_DTYPE_COMPLEX128 ? 10
                     : dt == TETHER_DTYPE_INT64                                   ? 7
                     : dt == TETHER_DTYPE_UINT32 || dt == TETHER_DTYPE_UINT64     ? 11
                     : dt == TETHER_DTYPE_STRING                                  ? 6
                                                                                  : 5;
    size_t cap = (dt == TETHER_DTYPE_COMPLEX64 || dt == TETHER_DTYPE_COMPLEX128) ? numel * 2 : numel;
    while (s == TT_OK && (rc = tt_pb_next(&r, &f)) > 0) {
        if ((int)f.num != want_field)
            continue;
        if (want_field == 4)
            s = tt_pb_fixed32(&f, t->data, cap, &n);
        else if (want_field == 10)
            s = tt_pb_fixed64(&f, t->data, cap, &n);
        else if (want_field == 6) {
            char **strs = t->data;
            if (n >= numel)
                break;
            if (a) {
                if (!(strs[n] = tt_arena_strndup(a, (const char *)f.data, f.len)))
                    s = NOMEM();
            } else {
                s = tt_tensor_set_string(t, (int64_t)n, (const char *)f.data, f.len);
            }
            n++;
        } else {
            s = tt_pb_varints(&f, tmp, numel, &n);
        }
    }
    if (s == TT_OK && rc < 0)
        s = TETHER_ERR_INVALID_MODEL;
    if (s == TT_OK && packed) {
        uint8_t *bytes = (uint8_t *)tmp; /* narrowed in place: byte i is read after it is written */
        for (size_t i = 0; i < numel; i++)
            bytes[i] = (uint8_t)tmp[i];
        tt_unpack_bits(bytes, dt, t->data, elems);
    } else if (s == TT_OK && via_varint) {
        for (size_t i = 0; i < numel; i++) {
            uint64_t v = tmp[i];
            switch (dt) {
            case TETHER_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
            case TETHER_DTYPE_UINT64: ((uint64_t *)t->data)[i] = v; break;
            case TETHER_DTYPE_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
            case TETHER_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
            case TETHER_DTYPE_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
            case TETHER_DTYPE_UINT16:
            case TETHER_DTYPE_FLOAT16:
            case TETHER_DTYPE_BFLOAT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
            case TETHER_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
            case TETHER_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
            case TETHER_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
            default: /* the 8-bit small types: one per entry */
                if (tt_dtype_size(dt) == 1)
                    ((uint8_t *)t->data)[i] = (uint8_t)v;
                break;
            }
        }
    }
    tt_free(tmp);
    return s;
}

static tt_status decode_tensor_msg(tt_decoder *d, const tt_pb *msg, size_t offset, tt_arena *a, tt_tensor *t,
                                   const char **name_out)
{
    tensor_fields tf;
    TT_TRY(scan_tensor(d, msg, offset, &tf));
    const char *tname = tf.name ? tf.name : "";
    if (name_out)
        *name_out = tname;
    if (!tt_dtype_valid(tf.dtype))
        return tt_error(TETHER_ERR_INVALID_MODEL, "tensor '%s' at byte %zu has invalid data type %d", tname, offset,
                        tf.dtype);
    uint64_t n = 1, nbytes = 0;
    bool overflow = false;
    for (int i = 0; i < tf.n_dims; i++) {
        if (tf.dims[i] < 0)
            return tt_error(TETHER_ERR_INVALID_MODEL, "tensor '%s' has negative dimension %" PRId64, tname, tf.dims[i]);
        overflow |= !tt_mul_ok(n, (uint64_t)tf.dims[i], &n);
    }
    if (tt_dtype_bits((tt_dtype)tf.dtype) < 8) /* stored packed: 2 or 4 elements a byte */
        nbytes = tt_dtype_packed_bytes((tt_dtype)tf.dtype, n);
    else
        overflow |= !tt_mul_ok(n, tt_dtype_size((tt_dtype)tf.dtype), &nbytes);
    TT_TRY(check_sizes(d, &tf, tname, n, nbytes, overflow));
    /* the data is there; the size limit still applies to what tether will hold */
    tt_status s = tt_tensor_init(t, (tt_dtype)tf.dtype, tf.n_dims, tf.dims);
    if (s != TT_OK)
        return tt_error_prefix(s, "tensor '%s': ", tname);
    int64_t numel = tt_tensor_numel(t);
    size_t bytes = (size_t)numel * tt_dtype_size(t->dtype);
    bool str = t->dtype == TETHER_DTYPE_STRING;
    if (a) {
        t->data = tt_arena_alloc_data(a, bytes);
        if (!t->data)
            return NOMEM();
        if (str)
            for (int64_t i = 0; i < numel; i++)
                ((char **)t->data)[i] = (char *)"";
    } else {
        TT_TRY(tt_tensor_alloc(t, t->dtype, t->rank, t->dims));
    }
    if (tt_dtype_bits(t->dtype) < 8 && (tf.external || tf.has_raw)) {
        size_t pb = (size_t)tt_dtype_packed_bytes(t->dtype, (uint64_t)numel);
        uint8_t *tmp = NULL;
        const uint8_t *src = tf.raw;
        if (tf.external) {
            if (pb && !(tmp = tt_malloc(pb)))
                s = NOMEM();
            else
                s = read_external(d, &tf, tname, tmp, pb);
            src = tmp;
        }
        if (s == TT_OK)
            tt_unpack_bits(src, t->dtype, t->data, (size_t)numel);
        tt_free(tmp);
    } else if (tf.external) {
        s = read_external(d, &tf, tname, t->data, bytes);
    } else if (tf.has_raw) {
        memcpy(t->data, tf.raw, bytes);
    } else {
        s = fill_typed(msg, &tf, t, a);
    }
    if (s == TT_OK && t->dtype == TETHER_DTYPE_BOOL) {
        /* kernels may index with a bool: raw bytes other than 0 and 1 become 1 */
        uint8_t *b = t->data;
        for (size_t i = 0; i < bytes; i++)
            b[i] = b[i] != 0;
    }
    if (s != TT_OK && !a)
        tt_tensor_release(t);
    return s;
}

tt_status tt_decode_tensor(tt_decoder *d, const tt_pb *parent, const tt_pb_field *f, tt_arena *a, tt_tensor *t,
                           const char **name)
{
    tt_pb r;
    if (f->wire != TT_PB_LEN)
        return tt_error(TETHER_ERR_INVALID_MODEL, "tensor at byte %zu is malformed", f->offset);
    TT_TRY(tt_pb_sub(parent, f, &r));
    return decode_tensor_msg(d, &r, f->offset, a, t, name);
}

/* A sparse tensor may expand when densified to at most this, or TT_SPARSE_RATIO times its
 * encoded size if that is more: a few bytes must not claim gigabytes of zeros. */
#define TT_SPARSE_DENSE_MIN ((uint64_t)64 << 20)
#define TT_SPARSE_RATIO 1024

/* Scatters the nnz values into the dense tensor t (already zeroed) at indices that are
 * either [nnz] linear positions or [nnz, rank] coordinates. */
static tt_status sparse_scatter(const char *vname, const tt_tensor *values, const tt_tensor *indices, tt_tensor *t)
{
    int64_t nnz = values->dims[0], total = tt_tensor_numel(t), nd = t->rank;
    size_t esz = tt_dtype_size(values->dtype);
    bool coo = indices->rank == 2;
    if (!((indices->rank == 1 && indices->dims[0] == nnz) ||
          (coo && indices->dims[0] == nnz && indices->dims[1] == nd)))
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "sparse tensor '%s': indices must be [%" PRId64 "] or [%" PRId64 ", %" PRId64 "]", vname, nnz,
                        nnz, nd);
    const int64_t *idx = indices->data;
    for (int64_t k = 0; k < nnz; k++) {
        int64_t lin = 0;
        if (coo) {
            for (int64_t j = 0; j < nd; j++) {
                int64_t c = idx[k * nd + j];
                if (c < 0 || c >= t->dims[j])
                    return tt_error(TETHER_ERR_INVALID_MODEL,
                                    "sparse tensor '%s': index %" PRId64 " of dimension %" PRId64
                                    " is out of range [0, %" PRId64 ")",
                                    vname, c, j, t->dims[j]);
                lin = lin * t->dims[j] + c;
            }
        } else {
            lin = idx[k];
            if (lin < 0 || lin >= total)
                return tt_error(TETHER_ERR_INVALID_MODEL,
                                "sparse tensor '%s': index %" PRId64 " is out of range [0, %" PRId64 ")", vname, lin,
                                total);
        }
        memcpy((char *)t->data + lin * (int64_t)esz, (const char *)values->data + k * (int64_t)esz, esz);
    }
    return TT_OK;
}

tt_status tt_decode_sparse_tensor(tt_decoder *d, const tt_pb *parent, const tt_pb_field *sf, tt_arena *a, tt_tensor *t,
                                  const char **name)
{
    tt_pb r;
    tt_pb_field f;
    int rc = 0;
    if (sf->wire != TT_PB_LEN)
        return tt_error(TETHER_ERR_INVALID_MODEL, "sparse tensor at byte %zu is malformed", sf->offset);
    TT_TRY(tt_pb_sub(parent, sf, &r));
    tt_tensor values = {0}, indices = {0};
    bool have_v = false, have_i = false;
    int64_t dims[TT_MAX_RANK];
    size_t nd = 0;
    tt_status s = TT_OK;
    const char *vname = "";
    while (s == TT_OK && (rc = tt_pb_next(&r, &f)) > 0) {
        if (f.num == 1 && !have_v) {
            s = tt_decode_tensor(d, &r, &f, NULL, &values, &vname);
            have_v = s == TT_OK;
        } else if (f.num == 2 && !have_i) {
            s = tt_decode_tensor(d, &r, &f, NULL, &indices, NULL);
            have_i = s == TT_OK;
        } else if (f.num == 3) {
            s = tt_pb_varints(&f, (uint64_t *)dims, TT_MAX_RANK, &nd);
        }
    }
    if (s == TT_OK && rc < 0)
        s = TETHER_ERR_INVALID_MODEL;
    if (s == TT_OK && name && !(*name = a ? tt_arena_strdup(a, vname) : ""))
        s = NOMEM();
    if (s == TT_OK && (!have_v || !have_i || values.rank != 1 || indices.dtype != TETHER_DTYPE_INT64 ||
                       values.dtype == TETHER_DTYPE_STRING))
        s = tt_error(TETHER_ERR_INVALID_MODEL, "sparse tensor '%s' needs 1-D values and int64 indices", vname);
    uint64_t dense = 1;
    for (size_t i = 0; s == TT_OK && i < nd; i++) {
        if (dims[i] < 0)
            s = tt_error(TETHER_ERR_INVALID_MODEL, "sparse tensor '%s' has negative dimension %" PRId64, vname,
                         dims[i]);
        else if (!tt_mul_ok(dense, (uint64_t)dims[i], &dense))
            dense = UINT64_MAX;
    }
    if (s == TT_OK && !tt_mul_ok(dense, tt_dtype_size(values.dtype), &dense))
        dense = UINT64_MAX;
    uint64_t bound = TT_SPARSE_DENSE_MIN;
    if (s == TT_OK && sf->len > bound / TT_SPARSE_RATIO)
        bound = (uint64_t)sf->len * TT_SPARSE_RATIO;
    if (s == TT_OK && dense > bound)
        s = tt_error(TETHER_ERR_INVALID_MODEL,
                     "sparse tensor '%s' (byte %zu): %zu bytes encoded would expand to %s%" PRIu64
                     " dense bytes, over the %" PRIu64 "-byte bound",
                     vname, sf->offset, sf->len, dense == UINT64_MAX ? "more than " : "", dense, bound);
    if (s == TT_OK)
        s = tt_tensor_init(t, values.dtype, (int)nd, dims);
    if (s == TT_OK) {
        if (a) {
            t->data = tt_arena_alloc(a, tt_tensor_nbytes(t)); /* zeroed */
            s = t->data ? TT_OK : NOMEM();
            } else {
            s = tt_tensor_alloc(t, values.dtype, (int)nd, dims);
        }
        if (s == TT_OK)
            s = sparse_scatter(vname, &values, &indices, t);
        if (s != TT_OK && !a)
            tt_tensor_release(t);
    }
    tt_tensor_release(&values);
    tt_tensor_release(&indices);
    return s;
}
