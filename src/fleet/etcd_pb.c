/* etcd's KV.Txn in protobuf's wire format: varints, and length-delimited fields for bytes
 * and nested messages. Field numbers are etcd's (api/etcdserverpb/rpc.proto,
 * api/mvccpb/kv.proto). */
#include "fleet/etcd_pb.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

/* ---- encoding -------------------------------------------------------------------------- */

typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} pbuf;

static void put_bytes(pbuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *q = tt_realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_varint(pbuf *b, uint64_t v)
{
    uint8_t s[10];
    size_t n = 0;
    do {
        s[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put_bytes(b, s, n);
}

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static void put_tag(pbuf *b, unsigned field, unsigned wt)
{
    put_varint(b, (uint64_t)field << 3 | wt);
}

/* An int64, bool or enum field (negative numbers as protobuf writes them: ten bytes). */
static void put_int(pbuf *b, unsigned field, int64_t v)
{
    put_tag(b, field, WT_VARINT);
    put_varint(b, (uint64_t)v);
}

static void put_field(pbuf *b, unsigned field, const void *p, size_t n)
{
    put_tag(b, field, WT_LEN);
    put_varint(b, n);
    put_bytes(b, p, n);
}

static void put_str(pbuf *b, unsigned field, const char *s)
{
    put_field(b, field, s, strlen(s));
}

/* Appends message m as field `field` of b, and frees m. */
static void put_msg(pbuf *b, unsigned field, pbuf *m)
{
    if (m->oom)
        b->oom = true;
    else
        put_field(b, field, m->p, m->n);
    tt_free(m->p);
    memset(m, 0, sizeof *m);
}

/* RequestOp { RangeRequest request_range = 1 } over every key under prefix. */
static void put_range_op(pbuf *branch, unsigned field, const char *prefix, const char *end, bool serializable)
{
    pbuf range = {0}, op = {0};
    put_str(&range, 1, prefix); /* key */
    put_str(&range, 2, end);    /* range_end */
    if (serializable)
        put_int(&range, 7, 1);
    put_msg(&op, 1, &range);
    put_msg(branch, field, &op);
}

tt_status tt_etcd_pb_txn_request(const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                                 const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded,
                                 bool serializable, uint8_t **out, size_t *n)
{
    /* our targets (CREATE, MOD, VERSION) as etcd's CompareTarget, and the field of the
     * Compare's target_union each compares against */
    static const int64_t target[] = {1, 2, 0};
    static const unsigned union_field[] = {5, 6, 4};
    *out = NULL;
    *n = 0;
    char ends[8][TT_ETCD_MAX_PREFIX];
    if (n_prefixes > 8)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd: %zu prefixes to read in a transaction (0..8)", n_prefixes);
    for (size_t i = 0; i < n_prefixes; i++)
        if (strlen(prefixes[i]) >= TT_ETCD_MAX_PREFIX)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd prefix '%.60s' is too long", prefixes[i]);
        else
            tt_etcd_prefix_end(prefixes[i], ends[i], sizeof ends[i]);
    pbuf txn = {0};
    for (size_t i = 0; i < n_cmp; i++) {
        pbuf c = {0};
        put_int(&c, 1, cmp[i].greater ? 1 : 0); /* result: EQUAL or GREATER */
        put_int(&c, 2, target[cmp[i].target]);
        put_str(&c, 3, cmp[i].key);
        put_int(&c, union_field[cmp[i].target], cmp[i].rev); /* written even when 0: a oneof */
        put_msg(&txn, 1, &c);
    }
    for (size_t i = 0; i < n_ops; i++) {
        pbuf req = {0}, op = {0};
        put_str(&req, 1, ops[i].key);
        if (!ops[i].del) {
            put_str(&req, 2, ops[i].value ? ops[i].value : "");
            if (ops[i].lease)
                put_int(&req, 3, ops[i].lease);
        }
        put_msg(&op, ops[i].del ? 3 : 2, &req); /* request_delete_range or request_put */
        put_msg(&txn, 2, &op);
    }
    /* the reads come after the writes: a range sees the transaction's own writes */
    for (size_t i = 0; read_if_succeeded && i < n_prefixes; i++)
        put_range_op(&txn, 2, prefixes[i], ends[i], serializable);
    for (size_t i = 0; i < n_prefixes; i++)
        put_range_op(&txn, 3, prefixes[i], ends[i], serializable);
    if (txn.oom || txn.n > UINT32_MAX) {
        tt_free(txn.p);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for an etcd request");
    }
    /* gRPC's prefix: not compressed, then the length, big-endian */
    pbuf msg = {0};
    uint8_t prefix[5] = {0, (uint8_t)(txn.n >> 24), (uint8_t)(txn.n >> 16), (uint8_t)(txn.n >> 8), (uint8_t)txn.n};
    put_bytes(&msg, prefix, sizeof prefix);
    put_bytes(&msg, txn.p, txn.n);
    tt_free(txn.p);
    if (msg.oom) {
        tt_free(msg.p);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for an etcd request");
    }
    *out = msg.p;
    *n = msg.n;
    return TT_OK;
}

/* ---- decoding -------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd;

static uint64_t get_varint(rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            break;
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true; /* ran out, or over ten bytes */
    return 0;
}

/* The next field's number and wire type; false at the end of r or when r is malformed. */
static bool next_field(rd *r, uint64_t *field, unsigned *wt)
{
    if (r->bad || r->p >= r->end)
        return false;
    uint64_t tag = get_varint(r);
    *field = tag >> 3;
    *wt = (unsigned)(tag & 7);
    return !r->bad;
}

/* A length-delimited field's contents as a reader of their own. */
static rd get_sub(rd *r)
{
    uint64_t n = get_varint(r);
    rd sub = {r->p, r->p, true};
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return sub;
    }
    sub.end = r->p + n;
    sub.bad = false;
    r->p += n;
    return sub;
}

static void skip(rd *r, unsigned wt)
{
    size_t n = 0;
    switch (wt) {
    case WT_VARINT: get_varint(r); return;
    case WT_LEN: get_sub(r); return;
    case WT_I64: n = 8; break;
    case WT_I32: n = 4; break;
    default: /* groups, long gone from protobuf, and wire types that do not exist */ r->bad = true; return;
    }
    if ((size_t)(r->end - r->p) < n)
        r->bad = true;
    else
        r->p += n;
}

/* A varint field's value, or a wrong wire type marked bad. */
static int64_t get_int(rd *r, unsigned wt)
{
    if (wt != WT_VARINT) {
        r->bad = true;
        return 0;
    }
    return (int64_t)get_varint(r);
}

/* A bytes field as a NUL-terminated copy (replacing *s: the last occurrence wins). */
static bool get_bytes(rd *r, unsigned wt, char **s, size_t *n)
{
    if (wt != WT_LEN) {
        r->bad = true;
        return true;
    }
    rd b = get_sub(r);
    if (r->bad)
        return true;
    size_t len = (size_t)(b.end - b.p);
    char *c = tt_malloc(len + 1);
    if (!c)
        return false;
    memcpy(c, b.p, len);
    c[len] = 0;
    tt_free(*s);
    *s = c;
    if (n)
        *n = len;
    return true;
}

/* mvccpb.KeyValue. false when out of memory; r->bad when malformed. */
static bool get_kv(rd *r, tt_etcd_kv *kv)
{
    uint64_t f;
    unsigned wt;
    while (next_field(r, &f, &wt)) {
        bool ok = true;
        switch (f) {
        case 1: ok = get_bytes(r, wt, &kv->key, NULL); break;
        case 2: kv->create_rev = get_int(r, wt); break;
        case 3: kv->mod_rev = get_int(r, wt); break;
        case 4: kv->version = get_int(r, wt); break;
        case 5: ok = get_bytes(r, wt, &kv->value, &kv->value_len); break;
        case 6: kv->lease = get_int(r, wt); break;
        default: skip(r, wt);
        }
        if (!ok)
            return false;
    }
    return true;
}

/* RangeResponse: its kvs appended to out. */
static tt_status get_range(rd *r, tt_etcd_kvs *out)
{
    uint64_t f;
    unsigned wt;
    while (next_field(r, &f, &wt)) {
        if (f != 2 || wt != WT_LEN) {
            skip(r, wt);
            continue;
        }
        rd sub = get_sub(r);
        if (r->bad)
            break;
        if (out->n == 0 || (out->n >= 4 && (out->n & (out->n - 1)) == 0)) { /* grown at 0, 4, 8, 16, ... */
            size_t cap = out->n < 4 ? 4 : 2 * out->n;
            tt_etcd_kv *grown = tt_realloc(out->kv, sizeof *grown * cap);
            if (!grown)
                return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
            out->kv = grown;
        }
        tt_etcd_kv *kv = &out->kv[out->n++];
        memset(kv, 0, sizeof *kv);
        if (!get_kv(&sub, kv))
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        if (sub.bad)
            r->bad = true;
        else if (!kv->key)
            return tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply holds a key-value without a key");
        if (!kv->value && !(kv->value = tt_calloc(1, 1)))
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    return r->bad ? tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply holds a malformed range response") : TT_OK;
}

/* ResponseHeader: its revision. */
static int64_t get_revision(rd *r)
{
    int64_t rev = 0;
    uint64_t f;
    unsigned wt;
    while (next_field(r, &f, &wt))
        if (f == 3)
            rev = get_int(r, wt);
        else
            skip(r, wt);
    return rev;
}

/* ResponseOp: a range response's kvs appended to read (NULL: skipped); the responses of puts
 * and deletes are skipped, and nested transactions are never sent. */
static tt_status get_op(rd *r, tt_etcd_kvs *read)
{
    tt_status st = TT_OK;
    uint64_t f;
    unsigned wt;
    while (st == TT_OK && next_field(r, &f, &wt)) {
        if (f == 1 && wt == WT_LEN && read) {
            rd range = get_sub(r);
            if (!r->bad)
                st = get_range(&range, read);
        } else {
            skip(r, wt);
        }
    }
    return st;
}

tt_status tt_etcd_pb_txn_reply(const uint8_t *p, size_t n, bool *succeeded, int64_t *revision, tt_etcd_kvs *read)
{
    *succeeded = false;
    *revision = 0;
    if (read)
        memset(read, 0, sizeof *read);
    if (n < 5)
        return tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply is %zu bytes, short of a message", n);
    if (p[0] != 0)
        return tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply is compressed (flag %u), which was not asked for",
                        p[0]);
    uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (len != n - 5)
        return tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply declares a %u-byte message in %zu bytes", len, n - 5);
    rd r = {p + 5, p + n, false};
    tt_status st = TT_OK;
    uint64_t f;
    unsigned wt;
    while (st == TT_OK && next_field(&r, &f, &wt)) {
        if (f == 2) {
            *succeeded = get_int(&r, wt) != 0;
        } else if ((f == 1 || f == 3) && wt == WT_LEN) { /* the header, or a ResponseOp */
            rd sub = get_sub(&r);
            if (r.bad)
                break;
            if (f == 1)
                *revision = get_revision(&sub);
            else
                st = get_op(&sub, read);
            r.bad = sub.bad;
        } else {
            skip(&r, wt);
        }
    }
    if (st == TT_OK && r.bad)
        st = tt_error(TETHER_ERR_PROTOCOL, "etcd's gRPC reply is malformed (a length or number past its end)");
    if (read) {
        if (st != TT_OK)
            tt_etcd_kvs_free(read);
        else
            read->revision = *revision;
    }
    return st;
}

void tt_etcd_prefix_end(const char *prefix, char *out, size_t n)
{
    snprintf(out, n, "%s", prefix);
    size_t len = strlen(out);
    while (len > 0 && (unsigned char)out[len - 1] == 0xff)
        out[--len] = 0;
    if (len > 0)
        out[len - 1] = (char)((unsigned char)out[len - 1] + 1);
}
