/* libFuzzer target for the wire protocol's decoders (src/net/wire.c): a frame header, then
 * the payload decoded as the message its command names — the same code tetherd and the
 * client run on every byte from the network. Decoded tensors are checked against the
 * payload's bounds, so a decoder that lets one through is a crash here.
 * TETHER_FUZZ_SEEDS=DIR writes a seed corpus of valid frames into DIR first. */
#include "core/mem.h"
#include "net/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_tensors(const tt_wire_tensor *t, size_t n, size_t payload_len)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].offset % TT_WIRE_ALIGN || t[i].offset > payload_len || t[i].nbytes > payload_len - t[i].offset ||
            t[i].rank > TETHER_MAX_RANK)
            abort(); /* a decoder accepted a tensor outside its payload */
    }
}

static void decode_payload(uint8_t cmd, const uint8_t *p, size_t n)
{
    tt_arena a;
    tt_arena_init(&a);
    switch (cmd & ~TT_CMD_REPLY) {
    case TT_CMD_HELLO: {
        tt_msg_hello m;
        tt_msg_hello_reply r;
        tt_msg_hello_decode(p, n, &m);
        tt_msg_hello_reply_decode(p, n, &r);
        break;
    }
    case TT_CMD_AUTH: {
        tt_msg_auth m;
        tt_msg_slot s;
        tt_msg_auth_decode(p, n, &m);
        tt_msg_slot_decode(p, n, &s);
        break;
    }
    case TT_CMD_RESERVE: {
        tt_msg_reserve m;
        tt_msg_reserve_decode(p, n, &m);
        break;
    }
    case TT_CMD_DESCRIBE: {
        char *json = NULL;
        if (tt_msg_text_decode(p, n, &json) == TT_OK && strlen(json) > n)
            abort();
        tt_free(json);
        break;
    }
    case TT_CMD_OPEN: {
        tt_msg_open_reply m;
        if (tt_msg_open_reply_decode(p, n, &a, &m) == TT_OK)
            for (int i = 0; i < m.n_inputs; i++)
                if (m.inputs[i].rank > TETHER_MAX_RANK)
                    abort();
        break;
    }
    case TT_CMD_RUN: {
        /* a request (u32 handle) and a reply (three u64) prefix the same tensor list */
        for (size_t skip = 4; skip <= 24; skip += 20) {
            tt_rd r;
            tt_rd_init(&r, p, n);
            uint8_t prefix[24];
            tt_rd_bytes(&r, prefix, skip, "prefix");
            tt_wire_tensor *t;
            size_t count;
            if (!r.bad && tt_wire_tensors_decode(&r, (uint64_t)1 << 34, &a, &t, &count) == TT_OK)
                check_tensors(t, count, n);
        }
        break;
    }
    default: {
        tt_msg_error e;
        tt_msg_error_decode(p, n, &e);
        break;
    }
    }
    tt_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < TT_WIRE_HEADER)
        return 0;
    tt_frame_hdr h;
    if (tt_frame_hdr_decode(data, &h) != TT_OK)
        return 0;
    /* the payload is what follows, whatever the header claims: as on a real connection, a
     * claimed length past the data is a frame still arriving, never read past */
    size_t n = size - TT_WIRE_HEADER;
    if (h.len < n)
        n = (size_t)h.len;
    uint8_t *p = tt_malloc_aligned(n); /* payloads sit in aligned buffers, as the server's do */
    if (!p)
        return 0;
    memcpy(p, data + TT_WIRE_HEADER, n);
    decode_payload(h.cmd, p, n);
    tt_free_aligned(p);
    return 0;
}

/* ---- seeds -------------------------------------------------------------------------- */

static void seed(const char *dir, const char *name, uint8_t cmd, tt_wr *w)
{
    tt_wr_frame_end(w, cmd, cmd & TT_CMD_REPLY ? 0 : 0, 1, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(w->p, 1, w->n, f);
        fclose(f);
    }
    tt_wr_free(w);
}

static void write_seeds(const char *dir)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_hello hello = {.magic = TT_WIRE_MAGIC, .version = TT_WIRE_VERSION, .name = "seed"};
    tt_msg_hello_encode(&w, &hello);
    seed(dir, "hello", TT_CMD_HELLO, &w);

    tt_wr_frame_begin(&w);
    tt_msg_auth auth;
    memset(&auth, 0, sizeof auth);
    snprintf(auth.slot_id, sizeof auth.slot_id, "eia-0123456789abcdef0123456789abcdef");
    tt_msg_auth_encode(&w, &auth);
    seed(dir, "auth", TT_CMD_AUTH, &w);

    tt_wr_frame_begin(&w);
    tt_msg_reserve res = {.type = "eia2.medium", .lease_s = 60, .holder = "host"};
    tt_msg_reserve_encode(&w, &res);
    seed(dir, "reserve", TT_CMD_RESERVE, &w);

    float x[6] = {1, 2, 3, 4, 5, 6};
    tether_tensor t[2] = {{.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x},
                          {.name = "idx", .dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {1}, .data = x}};
    uint64_t off[2], len;
    tt_wr_frame_begin(&w);
    tt_wr_u32(&w, 1);
    tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, 2, off, &len);
    tt_wr_zeros(&w, len - (w.n - TT_WIRE_HEADER));
    seed(dir, "run", TT_CMD_RUN, &w);

    tt_wr_frame_begin(&w);
    tt_wr_zeros(&w, 24);
    tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, 1, off, &len);
    tt_wr_zeros(&w, len - (w.n - TT_WIRE_HEADER));
    seed(dir, "run_reply", TT_CMD_RUN | TT_CMD_REPLY, &w);

    tt_wr_frame_begin(&w);
    tt_msg_open_reply o = {.handle = 1, .n_inputs = 1, .n_outputs = 1};
    tether_value_info vi = {
        .name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {-1, 3}, .dim_names = {"N", NULL}};
    tt_msg_open_reply_encode(&w, &o, &vi, &vi);
    seed(dir, "open_reply", TT_CMD_OPEN | TT_CMD_REPLY, &w);

    tt_wr_frame_begin(&w);
    tt_msg_error_encode(&w, "model needs 2 bytes", "eia-1");
    seed(dir, "error", TT_CMD_OPEN | TT_CMD_REPLY, &w);

    tt_wr_frame_begin(&w);
    tt_wr_blob(&w, "{\"server\":{}}", 13);
    seed(dir, "describe_reply", TT_CMD_DESCRIBE | TT_CMD_REPLY, &w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("TETHER_FUZZ_SEEDS");
    if (dir && *dir)
        write_seeds(dir);
    return 0;
}
