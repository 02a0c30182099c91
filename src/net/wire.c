/* The wire codec: little-endian fields read through a cursor that checks every length
 * against the bytes left, and writers for each message. Decoders never trust a count or a
 * size before it has been compared with what the payload can hold. */
#include "net/wire.h"

#include "core/dtype.h"
#include "core/tensor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

const char *tt_cmd_name(int cmd)
{
    switch (cmd & ~TT_CMD_REPLY) {
    case TT_CMD_HELLO: return "HELLO";
    case TT_CMD_PING: return "PING";
    case TT_CMD_AUTH: return "AUTH";
    case TT_CMD_DESCRIBE: return "DESCRIBE";
    case TT_CMD_RESERVE: return "RESERVE";
    case TT_CMD_RELEASE: return "RELEASE";
    case TT_CMD_MODEL_PUT: return "MODEL_PUT";
    case TT_CMD_OPEN: return "OPEN";
    case TT_CMD_CLOSE: return "CLOSE";
    case TT_CMD_RUN: return "RUN";
    case TT_CMD_OPEN_MODEL: return "OPEN_MODEL";
    }
    return "unknown";
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void tt_frame_hdr_encode(const tt_frame_hdr *h, uint8_t out[TT_WIRE_HEADER])
{
    out[0] = h->cmd;
    out[1] = h->status;
    put16(out + 2, h->flags);
    put32(out + 4, h->req_id);
    put64(out + 8, h->len);
}

tt_status tt_frame_hdr_decode(const uint8_t in[TT_WIRE_HEADER], tt_frame_hdr *h)
{
    h->cmd = in[0];
    h->status = in[1];
    h->flags = get16(in + 2);
    h->req_id = get32(in + 4);
    h->len = get64(in + 8);
    if (strcmp(tt_cmd_name(h->cmd), "unknown") == 0)
        return tt_error(TETHER_ERR_PROTOCOL, "unknown command 0x%02x in frame header", h->cmd);
    if (h->flags != 0)
        return tt_error(TETHER_ERR_PROTOCOL, "frame flags 0x%04x are not 0 (reserved)", h->flags);
    if (!(h->cmd & TT_CMD_REPLY) && h->status != 0)
        return tt_error(TETHER_ERR_PROTOCOL, "request %s carries status %u", tt_cmd_name(h->cmd), h->status);
    if (h->status > TETHER_ERR_INTERNAL)
        return tt_error(TETHER_ERR_PROTOCOL, "unknown status %u in a %s reply", h->status, tt_cmd_name(h->cmd));
    return TT_OK;
}

/* ---- reader ------------------------------------------------------------------------ */

static const uint8_t *rd_take(tt_rd *r, size_t n, const char *what)
{
    if (r->bad)
        return NULL;
    if (n > r->n - r->off) {
        r->bad = what;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t tt_rd_u8(tt_rd *r, const char *what)
{
    const uint8_t *p = rd_take(r, 1, what);
    return p ? p[0] : 0;
}

uint16_t tt_rd_u16(tt_rd *r, const char *what)
{
    const uint8_t *p = rd_take(r, 2, what);
    return p ? get16(p) : 0;
}

uint32_t tt_rd_u32(tt_rd *r, const char *what)
{
    const uint8_t *p = rd_take(r, 4, what);
    return p ? get32(p) : 0;
}

uint64_t tt_rd_u64(tt_rd *r, const char *what)
{
    const uint8_t *p = rd_take(r, 8, what);
    return p ? get64(p) : 0;
}

double tt_rd_f64(tt_rd *r, const char *what)
{
    uint64_t bits = tt_rd_u64(r, what);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

void tt_rd_bytes(tt_rd *r, void *out, size_t n, const char *what)
{
    const uint8_t *p = rd_take(r, n, what);
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

void tt_rd_str(tt_rd *r, char *out, size_t cap, const char *what)
{
    out[0] = 0;
    uint16_t len = tt_rd_u16(r, what);
    if (r->bad)
        return;
    if (len >= cap) {
        r->bad = what;
        return;
    }
    const uint8_t *p = rd_take(r, len, what);
    if (!p)
        return;
    if (memchr(p, 0, len)) { /* a NUL inside would silently cut the name short */
        r->bad = what;
        return;
    }
    memcpy(out, p, len);
    out[len] = 0;
}

char *tt_rd_str_arena(tt_rd *r, tt_arena *a, const char *what)
{
    uint16_t len = tt_rd_u16(r, what);
    if (r->bad)
        return NULL;
    if (len > TT_WIRE_MAX_NAME) {
        r->bad = what;
        return NULL;
    }
    const uint8_t *p = rd_take(r, len, what);
    if (!p)
        return NULL;
    if (memchr(p, 0, len)) {
        r->bad = what;
        return NULL;
    }
    char *s = tt_arena_strndup(a, (const char *)p, len);
    if (!s)
        r->bad = "memory for a name";
    return s;
}

const uint8_t *tt_rd_blob(tt_rd *r, size_t *n, const char *what)
{
    uint32_t len = tt_rd_u32(r, what);
    const uint8_t *p = rd_take(r, len, what);
    *n = p ? len : 0;
    return p;
}

tt_status tt_rd_done(const tt_rd *r, const char *msg_name, bool exact)
{
    if (r->bad)
        return tt_error(TETHER_ERR_PROTOCOL, "malformed %s: bad or truncated %s at byte %zu of %zu", msg_name, r->bad,
                        r->off, r->n);
    if (exact && r->off != r->n)
        return tt_error(TETHER_ERR_PROTOCOL, "malformed %s: %zu unexpected bytes after byte %zu", msg_name,
                        r->n - r->off, r->off);
    return TT_OK;
}

/* ---- writer ------------------------------------------------------------------------ */

static uint8_t *wr_room(tt_wr *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (n > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->n < n) {
            if (cap > SIZE_MAX / 2) {
                w->oom = true;
                return NULL;
            }
            cap *= 2;
        }
        uint8_t *p = tt_realloc(w->p, cap);
        if (!p) {
            w->oom = true;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    uint8_t *p = w->p + w->n;
    w->n += n;
    return p;
}

void tt_wr_u8(tt_wr *w, uint8_t v)
{
    uint8_t *p = wr_room(w, 1);
    if (p)
        *p = v;
}

void tt_wr_u16(tt_wr *w, uint16_t v)
{
    uint8_t *p = wr_room(w, 2);
    if (p)
        put16(p, v);
}

void tt_wr_u32(tt_wr *w, uint32_t v)
{
    uint8_t *p = wr_room(w, 4);
    if (p)
        put32(p, v);
}

void tt_wr_u64(tt_wr *w, uint64_t v)
{
    uint8_t *p = wr_room(w, 8);
    if (p)
        put64(p, v);
}

void tt_wr_f64(tt_wr *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    tt_wr_u64(w, bits);
}

void tt_wr_bytes(tt_wr *w, const void *src, size_t n)
{
    uint8_t *p = wr_room(w, n);
    if (p && n)
        memcpy(p, src, n);
}

void tt_wr_str(tt_wr *w, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len > UINT16_MAX)
        len = UINT16_MAX;
    tt_wr_u16(w, (uint16_t)len);
    tt_wr_bytes(w, s, len);
}

void tt_wr_blob(tt_wr *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->oom = true;
        return;
    }
    tt_wr_u32(w, (uint32_t)n);
    tt_wr_bytes(w, p, n);
}

void tt_wr_zeros(tt_wr *w, size_t n)
{
    uint8_t *p = wr_room(w, n);
    if (p)
        memset(p, 0, n);
}

void tt_wr_frame_begin(tt_wr *w)
{
    tt_wr_zeros(w, TT_WIRE_HEADER);
}

void tt_wr_frame_end(tt_wr *w, uint8_t cmd, uint8_t status, uint32_t req_id, uint64_t extra)
{
    if (w->oom || w->n < TT_WIRE_HEADER)
        return;
    tt_frame_hdr h = {.cmd = cmd, .status = status, .req_id = req_id, .len = w->n - TT_WIRE_HEADER + extra};
    tt_frame_hdr_encode(&h, w->p);
}

tt_status tt_wr_status(const tt_wr *w)
{
    return w->oom ? tt_error(TETHER_ERR_NO_MEMORY, "out of memory encoding a message") : TT_OK;
}

void tt_wr_free(tt_wr *w)
{
    tt_free(w->p);
    *w = (tt_wr){0};
}

/* ---- messages ---------------------------------------------------------------------- */

void tt_msg_hello_encode(tt_wr *w, const tt_msg_hello *m)
{
    tt_wr_u32(w, m->magic);
    tt_wr_u16(w, m->version);
    tt_wr_str(w, m->name);
}

tt_status tt_msg_hello_decode(const void *p, size_t n, tt_msg_hello *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    m->magic = tt_rd_u32(&r, "magic");
    m->version = tt_rd_u16(&r, "version");
    tt_rd_str(&r, m->name, sizeof m->name, "client name");
    return tt_rd_done(&r, "HELLO", true);
}

void tt_msg_hello_reply_encode(tt_wr *w, const tt_msg_hello_reply *m)
{
    tt_wr_u16(w, m->version);
    tt_wr_str(w, m->server_id);
    tt_wr_str(w, m->device);
    tt_wr_u64(w, m->max_frame);
}

tt_status tt_msg_hello_reply_decode(const void *p, size_t n, tt_msg_hello_reply *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    m->version = tt_rd_u16(&r, "version");
    tt_rd_str(&r, m->server_id, sizeof m->server_id, "server id");
    tt_rd_str(&r, m->device, sizeof m->device, "device");
    m->max_frame = tt_rd_u64(&r, "max frame");
    return tt_rd_done(&r, "HELLO reply", true);
}

void tt_msg_auth_encode(tt_wr *w, const tt_msg_auth *m)
{
    tt_wr_str(w, m->slot_id);
    tt_wr_bytes(w, m->token, sizeof m->token);
}

tt_status tt_msg_auth_decode(const void *p, size_t n, tt_msg_auth *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    tt_rd_str(&r, m->slot_id, sizeof m->slot_id, "slot id");
    tt_rd_bytes(&r, m->token, sizeof m->token, "token");
    return tt_rd_done(&r, "AUTH", true);
}

void tt_msg_reserve_encode(tt_wr *w, const tt_msg_reserve *m)
{
    tt_wr_str(w, m->type);
    tt_wr_u32(w, m->lease_s);
    tt_wr_str(w, m->holder);
    if (m->key[0] || m->slot_index1)
        tt_wr_str(w, m->key);
    if (m->slot_index1)
        tt_wr_u32(w, m->slot_index1);
}

tt_status tt_msg_reserve_decode(const void *p, size_t n, tt_msg_reserve *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    tt_rd_str(&r, m->type, sizeof m->type, "type");
    m->lease_s = tt_rd_u32(&r, "lease");
    tt_rd_str(&r, m->holder, sizeof m->holder, "holder");
    m->key[0] = 0;
    if (!r.bad && r.off < r.n)
        tt_rd_str(&r, m->key, sizeof m->key, "key");
    m->slot_index1 = !r.bad && r.off < r.n ? tt_rd_u32(&r, "slot") : 0;
    return tt_rd_done(&r, "RESERVE", true);
}

void tt_msg_slot_encode(tt_wr *w, const tt_msg_slot *m)
{
    tt_wr_str(w, m->id);
    tt_wr_str(w, m->type);
    tt_wr_bytes(w, m->token, sizeof m->token);
    tt_wr_u64(w, m->memory_bytes);
    tt_wr_f64(w, m->flops_per_s);
    tt_wr_u32(w, m->lease_s);
}

tt_status tt_msg_slot_decode(const void *p, size_t n, tt_msg_slot *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    tt_rd_str(&r, m->id, sizeof m->id, "slot id");
    tt_rd_str(&r, m->type, sizeof m->type, "type");
    tt_rd_bytes(&r, m->token, sizeof m->token, "token");
    m->memory_bytes = tt_rd_u64(&r, "memory");
    m->flops_per_s = tt_rd_f64(&r, "rate");
    m->lease_s = tt_rd_u32(&r, "lease");
    return tt_rd_done(&r, "slot reply", true);
}

void tt_msg_error_encode(tt_wr *w, const char *message, const char *accel_id)
{
    tt_wr_str(w, message);
    tt_wr_str(w, accel_id);
}

tt_status tt_msg_error_decode(const void *p, size_t n, tt_msg_error *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    /* a server's message longer than ours is cut rather than refused: it is only text */
    uint16_t len = tt_rd_u16(&r, "message");
    size_t keep = len < sizeof m->message - 1 ? len : sizeof m->message - 1;
    const uint8_t *s = r.bad ? NULL : (len <= r.n - r.off ? r.p + r.off : NULL);
    if (!s)
        r.bad = "message";
    else
        r.off += len;
    m->message[0] = 0;
    if (s) {
        memcpy(m->message, s, keep);
        m->message[keep] = 0;
        for (size_t i = 0; i < keep; i++) /* text for humans: keep control bytes out of terminals */
            if ((unsigned char)m->message[i] < 0x20 && m->message[i] != '\n')
                m->message[i] = '?';
    }
    tt_rd_str(&r, m->accel_id, sizeof m->accel_id, "accelerator id");
    return tt_rd_done(&r, "error reply", true);
}

tt_status tt_msg_text_decode(const void *p, size_t n, char **json)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    size_t len;
    const uint8_t *s = tt_rd_blob(&r, &len, "text");
    TT_TRY(tt_rd_done(&r, "DESCRIBE reply", true));
    char *out = tt_malloc(len + 1);
    if (!out)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a %zu-byte reply", len);
    memcpy(out, s, len);
    out[len] = 0;
    *json = out;
    return TT_OK;
}

static void info_encode(tt_wr *w, const tether_value_info *v)
{
    tt_wr_str(w, v->name);
    tt_wr_u8(w, (uint8_t)v->dtype);
    tt_wr_u8(w, (uint8_t)(int8_t)v->rank);
    for (int d = 0; d < v->rank; d++) {
        tt_wr_u64(w, (uint64_t)v->dims[d]);
        tt_wr_str(w, v->dim_names[d] ? v->dim_names[d] : "");
    }
}

void tt_msg_open_reply_encode(tt_wr *w, const tt_msg_open_reply *m, const tether_value_info *in,
                              const tether_value_info *out)
{
    tt_wr_u32(w, m->handle);
    tt_wr_u64(w, m->weight_bytes);
    tt_wr_u64(w, m->activation_bytes);
    tt_wr_u64(w, m->flops);
    tt_wr_u64(w, m->parameters);
    tt_wr_u32(w, m->nodes);
    tt_wr_u64(w, m->memory_used);
    tt_wr_u64(w, m->memory_quota);
    tt_wr_u16(w, m->n_inputs);
    tt_wr_u16(w, m->n_outputs);
    for (int i = 0; i < m->n_inputs; i++)
        info_encode(w, &in[i]);
    for (int i = 0; i < m->n_outputs; i++)
        info_encode(w, &out[i]);
}

static void info_decode(tt_rd *r, tt_arena *a, tt_wire_info *v)
{
    v->name = tt_rd_str_arena(r, a, "value name");
    v->dtype = tt_rd_u8(r, "value dtype");
    v->rank = (int8_t)tt_rd_u8(r, "value rank");
    if (!r->bad && (v->rank < -1 || v->rank > TETHER_MAX_RANK || (v->dtype != 0 && !tt_dtype_valid(v->dtype))))
        r->bad = "value type";
    for (int d = 0; d < v->rank && !r->bad; d++) {
        v->dims[d] = (int64_t)tt_rd_u64(r, "value dims");
        if (v->dims[d] < -1)
            r->bad = "value dims";
        char *nm = tt_rd_str_arena(r, a, "dim name");
        v->dim_names[d] = nm && *nm ? nm : NULL;
    }
}

tt_status tt_msg_open_reply_decode(const void *p, size_t n, tt_arena *a, tt_msg_open_reply *m)
{
    tt_rd r;
    tt_rd_init(&r, p, n);
    m->handle = tt_rd_u32(&r, "handle");
    m->weight_bytes = tt_rd_u64(&r, "weight bytes");
    m->activation_bytes = tt_rd_u64(&r, "activation bytes");
    m->flops = tt_rd_u64(&r, "flops");
    m->parameters = tt_rd_u64(&r, "parameters");
    m->nodes = tt_rd_u32(&r, "nodes");
    m->memory_used = tt_rd_u64(&r, "memory used");
    m->memory_quota = tt_rd_u64(&r, "memory quota");
    m->n_inputs = tt_rd_u16(&r, "input count");
    m->n_outputs = tt_rd_u16(&r, "output count");
    TT_TRY(tt_rd_done(&r, "OPEN reply", false));
    /* each info takes at least 4 bytes: a count past what is left is refused before allocating */
    if ((size_t)m->n_inputs + m->n_outputs > (r.n - r.off) / 4)
        return tt_error(TETHER_ERR_PROTOCOL, "malformed OPEN reply: %u inputs and %u outputs cannot fit in %zu bytes",
                        m->n_inputs, m->n_outputs, r.n - r.off);
    m->inputs = tt_arena_alloc(a, sizeof(tt_wire_info) * ((size_t)m->n_inputs + 1));
    m->outputs = tt_arena_alloc(a, sizeof(tt_wire_info) * ((size_t)m->n_outputs + 1));
    if (!m->inputs || !m->outputs)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory decoding an OPEN reply");
    for (int i = 0; i < m->n_inputs; i++)
        info_decode(&r, a, &m->inputs[i]);
    for (int i = 0; i < m->n_outputs; i++)
        info_decode(&r, a, &m->outputs[i]);
    return tt_rd_done(&r, "OPEN reply", true);
}

/* ---- tensors ----------------------------------------------------------------------- */

static bool dtype_sendable(int dt)
{
    return tt_dtype_valid(dt) && dt != TETHER_DTYPE_STRING && tt_dtype_size(dt) > 0;
}

tt_status tt_wire_tensors_encode(tt_wr *w, size_t hdr_bytes, const tether_tensor *t, size_t n, uint64_t *data_off,
                                 uint64_t *payload_len)
{
    if (n > TT_WIRE_MAX_TENSORS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%zu tensors are more than the protocol carries (%d)", n,
                        TT_WIRE_MAX_TENSORS);
    /* metadata size first: the data offsets written into it depend on where it ends */
    size_t meta = 4;
    for (size_t i = 0; i < n; i++) {
        if (!dtype_sendable(t[i].dtype))
            return tt_error(TETHER_ERR_UNSUPPORTED, "tensor '%s' is of type %s, which cannot be sent to an accelerator",
                            t[i].name ? t[i].name : "?", tt_dtype_name(t[i].dtype));
        if (t[i].rank < 0 || t[i].rank > TETHER_MAX_RANK)
            return tt_error(TETHER_ERR_SHAPE, "tensor '%s' has rank %d", t[i].name ? t[i].name : "?", t[i].rank);
        size_t len = t[i].name ? strlen(t[i].name) : 0;
        if (len > TT_WIRE_MAX_NAME)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tensor name '%.40s...' is longer than %d bytes", t[i].name,
                            TT_WIRE_MAX_NAME);
        meta += 2 + len + 2 + 8 * (size_t)t[i].rank + 16;
    }
    uint64_t pos = tt_wire_align(w->n - hdr_bytes + meta), end = w->n - hdr_bytes + meta;
    tt_wr_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        int64_t numel;
        TT_TRY(tt_shape_numel(t[i].rank, t[i].dims, &numel));
        uint64_t nbytes = (uint64_t)numel * tt_dtype_size(t[i].dtype);
        tt_wr_str(w, t[i].name);
        tt_wr_u8(w, (uint8_t)t[i].dtype);
        tt_wr_u8(w, (uint8_t)t[i].rank);
        for (int d = 0; d < t[i].rank; d++)
            tt_wr_u64(w, (uint64_t)t[i].dims[d]);
        tt_wr_u64(w, pos);
        tt_wr_u64(w, nbytes);
        data_off[i] = pos;
        end = pos + nbytes; /* the payload ends with the last tensor's bytes, not its padding */
        pos = tt_wire_align(end);
    }
    *payload_len = end;
    return tt_wr_status(w);
}

tt_status tt_wire_tensors_decode(tt_rd *r, uint64_t max_tensor, tt_arena *a, tt_wire_tensor **out, size_t *n)
{
    uint32_t count = tt_rd_u32(r, "tensor count");
    TT_TRY(tt_rd_done(r, "tensor list", false));
    /* each tensor's metadata takes at least 20 bytes */
    if (count > TT_WIRE_MAX_TENSORS || count > (r->n - r->off) / 20)
        return tt_error(TETHER_ERR_PROTOCOL, "malformed tensor list: %u tensors cannot fit in %zu bytes", count,
                        r->n - r->off);
    tt_wire_tensor *ts = tt_arena_alloc(a, sizeof *ts * ((size_t)count + 1));
    if (!ts)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory decoding %u tensors", count);
    for (uint32_t i = 0; i < count; i++) {
        tt_wire_tensor *t = &ts[i];
        t->name = tt_rd_str_arena(r, a, "tensor name");
        t->dtype = tt_rd_u8(r, "tensor dtype");
        t->rank = tt_rd_u8(r, "tensor rank");
        TT_TRY(tt_rd_done(r, "tensor metadata", false));
        if (!dtype_sendable(t->dtype))
            return tt_error(TETHER_ERR_PROTOCOL, "tensor %u ('%s'): dtype %u cannot travel on the wire", i, t->name,
                            t->dtype);
        if (t->rank > TETHER_MAX_RANK)
            return tt_error(TETHER_ERR_PROTOCOL, "tensor %u ('%s'): rank %u is over %d", i, t->name, t->rank,
                            TETHER_MAX_RANK);
        for (int d = 0; d < t->rank; d++)
            t->dims[d] = (int64_t)tt_rd_u64(r, "tensor dims");
        t->offset = tt_rd_u64(r, "tensor offset");
        t->nbytes = tt_rd_u64(r, "tensor size");
        TT_TRY(tt_rd_done(r, "tensor metadata", false));
        uint64_t numel = 1;
        for (int d = 0; d < t->rank; d++) {
            if (t->dims[d] < 0 || !tt_mul_ok(numel, (uint64_t)t->dims[d], &numel))
                return tt_error(TETHER_ERR_PROTOCOL,
                                "tensor %u ('%s'): dimension %d (%" PRId64 ") is negative or "
                                "the element count overflows",
                                i, t->name, d, t->dims[d]);
        }
        uint64_t need;
        if (!tt_mul_ok(numel, tt_dtype_size(t->dtype), &need) || need != t->nbytes)
            return tt_error(TETHER_ERR_PROTOCOL,
                            "tensor %u ('%s'): %" PRIu64 " elements of %s do not make the %" PRIu64 " bytes declared",
                            i, t->name, numel, tt_dtype_name(t->dtype), t->nbytes);
        if (t->nbytes > max_tensor)
            return tt_error(TETHER_ERR_PROTOCOL,
                            "tensor %u ('%s'): %" PRIu64 " bytes are over the %" PRIu64 "-byte limit", i, t->name,
                            t->nbytes, max_tensor);
    }
    /* data regions: aligned, after the metadata, in order, inside the payload */
    uint64_t lo = r->off;
    for (uint32_t i = 0; i < count; i++) {
        tt_wire_tensor *t = &ts[i];
        if (t->offset % TT_WIRE_ALIGN || t->offset < lo || t->offset > r->n || t->nbytes > r->n - t->offset)
            return tt_error(TETHER_ERR_PROTOCOL,
                            "tensor %u ('%s'): data at byte %" PRIu64 " (+%" PRIu64
                            ") is unaligned, overlaps, or lies outside the %zu-byte payload",
                            i, t->name, t->offset, t->nbytes, r->n);
        lo = t->offset + t->nbytes;
    }
    *out = ts;
    *n = count;
    return TT_OK;
}

int tt_wire_iov_fill(struct iovec *iov, const tt_wr *w, size_t hdr_bytes, const tether_tensor *t, size_t n,
                     const uint64_t *data_off)
{
    static const uint8_t zeros[TT_WIRE_ALIGN];
    int k = 0;
    iov[k++] = (struct iovec){w->p, w->n};
    uint64_t pos = w->n - hdr_bytes;
    for (size_t i = 0; i < n; i++) {
        if (data_off[i] > pos)
            iov[k++] = (struct iovec){(void *)zeros, (size_t)(data_off[i] - pos)};
        int64_t numel;
        tt_shape_numel(t[i].rank, t[i].dims, &numel);
        size_t nbytes = (size_t)numel * tt_dtype_size(t[i].dtype);
        if (nbytes)
            iov[k++] = (struct iovec){t[i].data, nbytes};
        pos = data_off[i] + nbytes;
    }
    return k;
}
