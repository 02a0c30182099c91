/* Model loading entry points and test-data (TensorProto / SequenceProto / OptionalProto)
 * decoding. */
#include "model/model.h"

#include "model/raw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TT_MAX_MODEL_BYTES ((size_t)1 << 34) /* 16 GiB: well past any single protobuf file */

tt_status tt_read_file(const char *path, size_t max_bytes, void **data, size_t *n)
{
    /* non-blocking: opening a FIFO must not wait for a writer (it is then refused below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return tt_error(errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_IO, "cannot open '%s': %s", path,
                        strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tt_error(TETHER_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is %lld bytes, over the %zu-byte limit", path,
                        (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    char *buf = tt_malloc(size + 1);
    if (!buf) {
        close(fd);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading '%s' (%zu bytes)", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            tt_status s = tt_error(TETHER_ERR_IO, "reading '%s' failed: %s", path, k < 0 ? strerror(errno) : "short read");
            close(fd);
            tt_free(buf);
            return s;
        }
        got += (size_t)k;
    }
    close(fd);
    buf[size] = 0;
    *data = buf;
    *n = size;
    return TT_OK;
}

void tt_model_free(tt_model *m)
{
    if (!m)
        return;
    tt_arena a = m->arena;
    tt_arena_free(&a);
}

tt_status tt_model_load(const void *data, size_t n, const char *dir, tt_model **out)
{
    tt_arena a;
    tt_arena_init(&a);
    tt_model *m = tt_arena_alloc(&a, sizeof *m);
    if (!m)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory loading a model");
    m->arena = a;
    tt_decoder d = {.m = m, .a = &m->arena, .dir = dir};
    tt_status s = tt_strmap_init(&d.symbol_map, 16);
    tt_raw_graph *raw = NULL;
    if (s == TT_OK)
        s = tt_decode_model(&d, data, n, &raw);
    if (s == TT_OK) {
        m->symbols = d.symbols;
        m->n_symbols = d.n_symbols;
        tt_sha256(data, n, m->hash);
        s = tt_build_graph(m, raw, NULL, &m->graph);
    }
    tt_strmap_free(&d.symbol_map);
    if (s != TT_OK) {
        tt_model_free(m);
        return s;
    }
    *out = m;
    return TT_OK;
}

tt_status tt_model_load_file(const char *path, tt_model **out)
{
    void *data;
    size_t n;
    TT_TRY(tt_model_check_format(path));
    TT_TRY(tt_read_file(path, TT_MAX_MODEL_BYTES, &data, &n));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    tt_status s = tt_model_load(data, n, dir, out);
    tt_free(data);
    if (s != TT_OK)
        return tt_error_prefix(s, "%s: ", path);
    return TT_OK;
}

tt_status tt_tensor_from_pb(const void *data, size_t n, tt_tensor *t, char *name, size_t name_cap)
{
    tt_pb r;
    tt_pb_init(&r, data, n);
    tt_pb_field whole = {.num = 0, .wire = TT_PB_LEN, .data = data, .len = n};
    tt_arena a;
    tt_arena_init(&a);
    tt_decoder d = {.a = &a};
    const char *nm = NULL;
    tt_status s = tt_decode_tensor(&d, &r, &whole, NULL, t, &nm);
    if (name && name_cap)
        snprintf(name, name_cap, "%s", nm ? nm : "");
    tt_arena_free(&a);
    return s;
}

/* SequenceProto: elem_type = 2, tensor_values = 3. OptionalProto: elem_type = 2,
 * tensor_value = 3, sequence_value = 5. */
static tt_status seq_from_pb(tt_decoder *d, const tt_pb *r0, tt_dtype dtype, tt_seq **out)
{
    tt_pb r = *r0;
    tt_pb_field f;
    int rc;
    tt_seq *seq;
    TT_TRY(tt_seq_new(dtype, 0, &seq));
    tt_status s = TT_OK;
    while (s == TT_OK && (rc = tt_pb_next(&r, &f)) > 0) {
        if (f.num == 3) {
            tt_tensor t;
            s = tt_decode_tensor(d, &r, &f, NULL, &t, NULL);
            if (s == TT_OK) {
                if (seq->n == 0 && seq->dtype == TETHER_DTYPE_UNDEFINED)
                    seq->dtype = t.dtype;
                s = tt_seq_insert(seq, -1, &t);
                if (s != TT_OK)
                    tt_tensor_release(&t);
            }
        } else if (f.num == 4 || f.num == 5 || f.num == 6) {
            s = tt_error(TETHER_ERR_UNSUPPORTED, "only sequences of tensors are supported");
        }
    }
    if (s == TT_OK && rc < 0)
        s = tt_error(TETHER_ERR_INVALID_MODEL, "malformed SequenceProto");
    if (s != TT_OK) {
        tt_seq_free(seq);
        return s;
    }
    *out = seq;
    return TT_OK;
}

tt_status tt_value_from_pb(const void *data, size_t n, const tt_type *type, tt_value *v)
{
    memset(v, 0, sizeof *v);
    tt_pb r;
    tt_pb_init(&r, data, n);
    tt_arena a;
    tt_arena_init(&a);
    tt_decoder d = {.a = &a};
    tt_status s = TT_OK;
    tt_pb_field f;
    int rc;
    if (type->kind == TT_KIND_TENSOR) {
        s = tt_tensor_from_pb(data, n, &v->t, NULL, 0);
        if (s == TT_OK)
            v->kind = TT_KIND_TENSOR;
    } else if (type->kind == TT_KIND_SEQUENCE) {
        s = seq_from_pb(&d, &r, type->dtype, &v->seq);
        if (s == TT_OK)
            v->kind = TT_KIND_SEQUENCE;
    } else if (type->kind == TT_KIND_OPTIONAL) {
        while (s == TT_OK && (rc = tt_pb_next(&r, &f)) > 0) {
            /* a value given twice: the last one counts, as protobuf reads it (the one before
             * is released, not leaked) */
            if ((f.num == 3 && type->elem_kind == TT_KIND_TENSOR) || (f.num == 5 && type->elem_kind == TT_KIND_SEQUENCE))
                tt_value_release(v);
            if (f.num == 3 && type->elem_kind == TT_KIND_TENSOR) {
                s = tt_decode_tensor(&d, &r, &f, NULL, &v->t, NULL);
                if (s == TT_OK)
                    v->kind = TT_KIND_TENSOR;
            } else if (f.num == 5 && type->elem_kind == TT_KIND_SEQUENCE) {
                tt_pb sr;
                s = tt_pb_sub(&r, &f, &sr);
                if (s == TT_OK)
                    s = seq_from_pb(&d, &sr, type->dtype, &v->seq);
                if (s == TT_OK)
                    v->kind = TT_KIND_SEQUENCE;
            }
        }
        if (s == TT_OK && rc < 0)
            s = tt_error(TETHER_ERR_INVALID_MODEL, "malformed OptionalProto");
    } else {
        s = tt_error(TETHER_ERR_UNSUPPORTED, "values of this type cannot be decoded");
    }
    tt_arena_free(&a);
    if (s != TT_OK)
        tt_value_release(v);
    return s;
}
