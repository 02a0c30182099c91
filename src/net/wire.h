/* The tether wire protocol, shared by tetherd and the client: frame headers, command codes
 * and a bounds-checked codec for every message. A frame is a 16-byte header followed by
 * `len` payload bytes; nothing read from the network is used before it is checked here. */
#ifndef TT_NET_WIRE_H
#define TT_NET_WIRE_H

#include "core/mem.h"
#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_WIRE_MAGIC 0x52485454u /* "TTHR" as little-endian bytes */
#define TT_WIRE_VERSION 1
#define TT_WIRE_HEADER 16
#define TT_WIRE_ALIGN 64         /* tensor data in a payload starts at multiples of this */
#define TT_WIRE_TOKEN_LEN 32     /* attachment tokens: 256 random bits */
#define TT_WIRE_HASH_LEN 32      /* model content address: SHA-256 */
#define TT_WIRE_MAX_NAME 1024    /* tensor names, ids, types and other strings */
#define TT_WIRE_MAX_TENSORS 4096 /* inputs or outputs of one run */
#define TT_WIRE_MAX_ID 63        /* slot ids and server ids (bytes, without the NUL) */

/* Frame header, little-endian on the wire:
 *   u8 cmd | u8 status | u16 flags | u32 req_id | u64 len
 * A reply has the request's cmd with TT_CMD_REPLY set, the same req_id, and status 0 or a
 * tether_status; an error reply's payload is a tt_msg_error. flags must be 0 (reserved). */
typedef enum tt_wire_cmd {
    TT_CMD_HELLO = 0x01,     /* first frame of every connection: magic, version */
    TT_CMD_PING = 0x02,      /* health: the server answers at once */
    TT_CMD_AUTH = 0x03,      /* binds the connection to one attachment (slot id + token) */
    TT_CMD_DESCRIBE = 0x04,  /* the server and its slots as JSON (the bound slot in detail) */
    TT_CMD_RESERVE = 0x10,   /* reserve a slot of a type: returns its id and token */
    TT_CMD_RELEASE = 0x11,   /* give the bound slot back */
    TT_CMD_MODEL_PUT = 0x20, /* upload a model under its SHA-256 */
    TT_CMD_OPEN = 0x21,      /* open a session on a cached model: a handle and its inputs/outputs */
    TT_CMD_CLOSE = 0x22,     /* close a session handle */
    TT_CMD_RUN = 0x23,       /* run a session: tensors in, tensors out */
    TT_CMD_OPEN_MODEL = 0x24, /* open a model of the server's repository by name: a handle (no AUTH needed) */
} tt_wire_cmd;
#define TT_CMD_REPLY 0x80

const char *tt_cmd_name(int cmd); /* "RUN", ..., or "unknown" */

typedef struct tt_frame_hdr {
    uint8_t cmd;
    uint8_t status;
    uint16_t flags;
    uint32_t req_id;
    uint64_t len;
} tt_frame_hdr;

void tt_frame_hdr_encode(const tt_frame_hdr *h, uint8_t out[TT_WIRE_HEADER]);
/* Decodes and checks a header: a known command, flags 0, a status only on replies, a
 * known status code. The payload length is checked by the caller against its own limit. */
tt_status tt_frame_hdr_decode(const uint8_t in[TT_WIRE_HEADER], tt_frame_hdr *h);

static inline size_t tt_wire_align(size_t n)
{
    return (n + TT_WIRE_ALIGN - 1) & ~(size_t)(TT_WIRE_ALIGN - 1);
}

/* ---- reading: every read checks the bytes left; the first failure sticks -------------- */

typedef struct tt_rd {
    const uint8_t *p;
    size_t n, off;
    const char *bad; /* what failed to decode, NULL while all is well */
} tt_rd;

static inline void tt_rd_init(tt_rd *r, const void *p, size_t n)
{
    *r = (tt_rd){.p = p, .n = n};
}
uint8_t tt_rd_u8(tt_rd *r, const char *what);
uint16_t tt_rd_u16(tt_rd *r, const char *what);
uint32_t tt_rd_u32(tt_rd *r, const char *what);
uint64_t tt_rd_u64(tt_rd *r, const char *what);
double tt_rd_f64(tt_rd *r, const char *what);
/* Fixed-size bytes (a token, a hash). */
void tt_rd_bytes(tt_rd *r, void *out, size_t n, const char *what);
/* A u16-length string copied into out (NUL-terminated); longer than cap-1 is an error. */
void tt_rd_str(tt_rd *r, char *out, size_t cap, const char *what);
/* A u16-length string copied into the arena. */
char *tt_rd_str_arena(tt_rd *r, tt_arena *a, const char *what);
/* A u32-length blob, returned in place (not NUL-terminated). */
const uint8_t *tt_rd_blob(tt_rd *r, size_t *n, const char *what);
/* The error for a failed read (PROTOCOL, naming the field and offset), or TT_OK. Fails
 * too when `exact` and bytes are left over. */
tt_status tt_rd_done(const tt_rd *r, const char *msg_name, bool exact);

/* ---- writing: a growable buffer; an allocation failure sticks -------------------------- */

typedef struct tt_wr {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} tt_wr;

void tt_wr_u8(tt_wr *w, uint8_t v);
void tt_wr_u16(tt_wr *w, uint16_t v);
void tt_wr_u32(tt_wr *w, uint32_t v);
void tt_wr_u64(tt_wr *w, uint64_t v);
void tt_wr_f64(tt_wr *w, double v);
void tt_wr_bytes(tt_wr *w, const void *p, size_t n);
void tt_wr_str(tt_wr *w, const char *s); /* truncated at 65535 bytes */
void tt_wr_blob(tt_wr *w, const void *p, size_t n);
void tt_wr_zeros(tt_wr *w, size_t n);
/* Reserves room for a frame header at the start; tt_wr_frame fills it in. */
void tt_wr_frame_begin(tt_wr *w);
/* Fills the header reserved by tt_wr_frame_begin; extra: payload bytes sent after w's. */
void tt_wr_frame_end(tt_wr *w, uint8_t cmd, uint8_t status, uint32_t req_id, uint64_t extra);
tt_status tt_wr_status(const tt_wr *w);
void tt_wr_free(tt_wr *w);

/* ---- messages -------------------------------------------------------------------------- */

typedef struct tt_msg_hello {
    uint32_t magic;
    uint16_t version;
    char name[TT_WIRE_MAX_ID + 1]; /* client program, for logs */
} tt_msg_hello;

typedef struct tt_msg_hello_reply {
    uint16_t version;
    char server_id[TT_WIRE_MAX_ID + 1];
    char device[TT_WIRE_MAX_ID + 1];
    uint64_t max_frame; /* the largest payload this server accepts after AUTH */
} tt_msg_hello_reply;

typedef struct tt_msg_auth {
    char slot_id[TT_WIRE_MAX_ID + 1];
    uint8_t token[TT_WIRE_TOKEN_LEN];
} tt_msg_auth;

#define TT_WIRE_MAX_KEY 255 /* reservation keys (bytes, without the NUL) */

typedef struct tt_msg_reserve {
    char type[32];
    uint32_t lease_s; /* 0: the server's default */
    char holder[TT_WIRE_MAX_ID + 1];
    char key[TT_WIRE_MAX_KEY + 1]; /* a reservation key; "" for none (then not sent at all,
                                      so servers that know no keys still accept the frame) */
    /* 1 + the index of the one slot wanted (a fleet client claimed it); 0: any free slot of
     * the type. On the wire a u32 after the key (sent, empty, when there is none), absent
     * when 0. */
    uint32_t slot_index1;
} tt_msg_reserve;

/* Reply to RESERVE (with the token) and to AUTH (token all zero). */
typedef struct tt_msg_slot {
    char id[TT_WIRE_MAX_ID + 1];
    char type[32];
    uint8_t token[TT_WIRE_TOKEN_LEN];
    uint64_t memory_bytes;
    double flops_per_s;
    uint32_t lease_s;
} tt_msg_slot;

typedef struct tt_msg_error {
    char message[768];
    char accel_id[TT_WIRE_MAX_ID + 1]; /* "" when the connection is bound to no slot */
} tt_msg_error;

/* An input or output as a model declares it (the OPEN reply). */
typedef struct tt_wire_info {
    char *name;
    uint8_t dtype;
    int8_t rank;                      /* -1: unknown */
    int64_t dims[TETHER_MAX_RANK];    /* -1: not fixed */
    char *dim_names[TETHER_MAX_RANK]; /* NULL when not named */
} tt_wire_info;

typedef struct tt_msg_open_reply {
    uint32_t handle;
    uint64_t weight_bytes, activation_bytes, flops, parameters;
    uint32_t nodes;
    uint64_t memory_used, memory_quota; /* the slot's, after this open */
    uint16_t n_inputs, n_outputs;
    tt_wire_info *inputs, *outputs; /* in the decode arena */
} tt_msg_open_reply;

/* A tensor in a RUN request or reply: metadata, with the data at payload + offset. */
typedef struct tt_wire_tensor {
    char *name; /* in the decode arena */
    uint8_t dtype;
    uint8_t rank;
    int64_t dims[TETHER_MAX_RANK];
    uint64_t offset, nbytes;
} tt_wire_tensor;

/* OPEN_MODEL request: str name, u64 version (0: the latest), str API key ("" for none); the
 * reply is an OPEN reply, whose handle has TT_WIRE_NAMED_HANDLE set. */
#define TT_WIRE_NAMED_HANDLE 0x80000000u

/* Run request prefix: u32 handle, then the tensors. Reply prefix: u64 flops, u64 queue_ns,
 * u64 compute_ns, then the tensors. */
typedef struct tt_msg_run_reply_stats {
    uint64_t flops, queue_ns, compute_ns;
} tt_msg_run_reply_stats;

void tt_msg_hello_encode(tt_wr *w, const tt_msg_hello *m);
tt_status tt_msg_hello_decode(const void *p, size_t n, tt_msg_hello *m);
void tt_msg_hello_reply_encode(tt_wr *w, const tt_msg_hello_reply *m);
tt_status tt_msg_hello_reply_decode(const void *p, size_t n, tt_msg_hello_reply *m);
void tt_msg_auth_encode(tt_wr *w, const tt_msg_auth *m);
tt_status tt_msg_auth_decode(const void *p, size_t n, tt_msg_auth *m);
void tt_msg_reserve_encode(tt_wr *w, const tt_msg_reserve *m);
tt_status tt_msg_reserve_decode(const void *p, size_t n, tt_msg_reserve *m);
void tt_msg_slot_encode(tt_wr *w, const tt_msg_slot *m);
tt_status tt_msg_slot_decode(const void *p, size_t n, tt_msg_slot *m);
void tt_msg_error_encode(tt_wr *w, const char *message, const char *accel_id);
tt_status tt_msg_error_decode(const void *p, size_t n, tt_msg_error *m);
/* JSON text in a u32 blob (DESCRIBE reply); *json is malloc'ed and NUL-terminated. */
tt_status tt_msg_text_decode(const void *p, size_t n, char **json);

/* OPEN reply: the value infos come from a session (tether_value_info). */
void tt_msg_open_reply_encode(tt_wr *w, const tt_msg_open_reply *m, const tether_value_info *in,
                              const tether_value_info *out);
tt_status tt_msg_open_reply_decode(const void *p, size_t n, tt_arena *a, tt_msg_open_reply *m);

/* Tensors. tt_wire_tensors_encode appends the count and metadata of n tensors to w, whose
 * first hdr_bytes bytes precede the payload (TT_WIRE_HEADER after tt_wr_frame_begin). The
 * data is laid out after the metadata at aligned offsets: data_off[i] is tensor i's offset
 * from the payload start, *payload_len the whole payload's length. The data itself is not
 * copied into w: tt_wire_iov_fill describes w's bytes, padding and each tensor's data as
 * iovecs for one writev. */
tt_status tt_wire_tensors_encode(tt_wr *w, size_t hdr_bytes, const tether_tensor *t, size_t n, uint64_t *data_off,
                                 uint64_t *payload_len);
/* Decodes tensor metadata from r (positioned after the message's prefix) and checks each
 * tensor: a sendable dtype, rank <= 8, non-negative dims whose product times the element
 * size equals nbytes (no overflow, at most max_tensor bytes), data aligned, inside the
 * payload, after the metadata and not overlapping the previous tensor. */
tt_status tt_wire_tensors_decode(tt_rd *r, uint64_t max_tensor, tt_arena *a, tt_wire_tensor **out, size_t *n);

/* iovecs tt_wire_iov_fill needs at most for n tensors. */
static inline size_t tt_wire_iov_count(size_t n)
{
    return 1 + 2 * n;
}
struct iovec;
/* Fills iov with w's bytes, then each tensor's padding and data; returns the count used. */
int tt_wire_iov_fill(struct iovec *iov, const tt_wr *w, size_t hdr_bytes, const tether_tensor *t, size_t n,
                     const uint64_t *data_off);

#endif
