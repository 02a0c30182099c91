/* Health of an attachment: reachable (TCP), speaking our protocol (HELLO), still ours
 * (AUTH with the recorded token), and what the server says of the slot (DESCRIBE). */
#include "client/attach.h"
#include "client/conn.h"
#include "core/mem.h"
#include "net/tls.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void fill_from_describe(tt_accel_health *h, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *me = root ? cJSON_GetObjectItemCaseSensitive(root, "attached") : NULL;
    if (cJSON_IsObject(me)) {
        h->memory_used = (uint64_t)num(me, "memory_used_bytes");
        h->memory_quota = (uint64_t)num(me, "memory_quota_bytes");
        h->tflops = num(me, "compute_tflops");
        h->inferences = (uint64_t)num(me, "inferences");
        h->errors = (uint64_t)num(me, "errors");
        h->models_loaded = (int)num(me, "models_loaded");
        h->lease_expires_in_s = num(me, "lease_expires_in_s");
        double price = num(me, "price_per_hour");
        h->price_per_hour = price > 0 ? price : -1; /* the server says 0 when no price is set */
    }
    cJSON_Delete(root);
}

void tt_accel_probe(const tt_attachment *a, int timeout_ms, tt_accel_health *h)
{
    memset(h, 0, sizeof *h);
    h->status = "unreachable";
    h->price_per_hour = -1;
    h->memory_quota = a->memory_bytes;
    h->tflops = a->tflops;
    tt_endpoint ep;
    uint8_t token[TT_WIRE_TOKEN_LEN];
    if (tt_endpoint_parse(a->endpoint, &ep) != TT_OK) {
        snprintf(h->reason, sizeof h->reason, "%s", tether_last_error());
        return;
    }
    int64_t deadline = tt_deadline_ms(timeout_ms);
    tt_rconn *c;
    if (tt_rconn_connect_tls(&ep, &a->tls, deadline, &c) != TT_OK) {
        snprintf(h->reason, sizeof h->reason, "%s", tether_last_error());
        return;
    }
    h->status = "unhealthy";
    tt_msg_hello_reply hello;
    tt_status st = tt_rconn_hello(c, deadline, &hello);
    if (st == TT_OK) {
        snprintf(h->server_id, sizeof h->server_id, "%s", hello.server_id);
        st = tt_attachment_token(a, token);
    }
    if (st == TT_OK)
        st = tt_rconn_auth(c, a->id, token, deadline, NULL);
    memset(token, 0, sizeof token);
    tt_wr w = {0};
    tt_reply r = {0};
    if (st == TT_OK) {
        int64_t t0 = tt_now_ns();
        tt_wr_frame_begin(&w);
        st = tt_rconn_call(c, TT_CMD_PING, &w, NULL, 0, 0, deadline, &r);
        h->rtt_ms = (tt_now_ns() - t0) / 1e6;
        tt_reply_free(&r);
    }
    if (st == TT_OK) {
        w.n = 0;
        tt_wr_frame_begin(&w);
        st = tt_rconn_call(c, TT_CMD_DESCRIBE, &w, NULL, 0, 0, deadline, &r);
        char *json = NULL;
        if (st == TT_OK)
            st = tt_msg_text_decode(tt_reply_data(&r), r.len, &json);
        if (st == TT_OK)
            fill_from_describe(h, json);
        tt_free(json);
        tt_reply_free(&r);
    }
    tt_wr_free(&w);
    tt_rconn_close(c);
    if (st != TT_OK) {
        snprintf(h->reason, sizeof h->reason, "%s", tether_last_error());
        if (st == TETHER_ERR_NETWORK || st == TETHER_ERR_TIMEOUT)
            h->status = "unreachable";
        return;
    }
    h->status = "healthy";
}
