/* Attachment records in $TETHER_HOME/attachments.json (mode 0600: it holds tokens), read
 * and rewritten under an flock so that concurrent `tether attach` runs do not lose each
 * other's records. Ordinals are positions in attach order, after TETHER_VISIBLE_DEVICES. */
#include "client/attach.h"

#include "client/conn.h"
#include "client/orphans.h"
#include "client/records.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 10000

tt_status tt_tether_home(char *out, size_t n)
{
    const char *home = getenv("TETHER_HOME");
    if (home && *home) {
        snprintf(out, n, "%s", home);
    } else {
        const char *h = getenv("HOME");
        if (!h || !*h)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "neither TETHER_HOME nor HOME is set: cannot find attachments");
        snprintf(out, n, "%s/.tether", h);
    }
    return TT_OK;
}

static tt_status home_path(const char *file, char *out, size_t n, bool create)
{
    char home[1024];
    TT_TRY(tt_tether_home(home, sizeof home));
    if (create && mkdir(home, 0700) != 0 && errno != EEXIST)
        return tt_error(TETHER_ERR_IO, "cannot create the tether home '%s': %s", home, strerror(errno));
    snprintf(out, n, "%s/%s", home, file);
    return TT_OK;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

tt_status tt_attachment_token(const tt_attachment *a, uint8_t token[TT_WIRE_TOKEN_LEN])
{
    if (strlen(a->token) != 2 * TT_WIRE_TOKEN_LEN)
        return tt_error(TETHER_ERR_AUTH, "the record of %s holds no valid token (expected %d hex digits)", a->id,
                        2 * TT_WIRE_TOKEN_LEN);
    for (int i = 0; i < TT_WIRE_TOKEN_LEN; i++) {
        int hi = hexval(a->token[2 * i]), lo = hexval(a->token[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tt_error(TETHER_ERR_AUTH, "the record of %s holds a malformed token", a->id);
        token[i] = (uint8_t)(hi << 4 | lo);
    }
    return TT_OK;
}

/* ---- the records file ------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* A number of the record; 0 when it is missing or not a finite number >= 0 (the file is the
 * user's: an edited one must not make tether convert 1e30 to an integer). */
static double get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    return isfinite(d) && d >= 0 ? d : 0;
}

static uint64_t get_u64(const cJSON *o, const char *k)
{
    double d = get_num(o, k);
    return d < 18446744073709549568.0 ? (uint64_t)d : 0; /* the largest double below 2^64 */
}

/* Every record, in attach order (ordinal = index). */
tt_status tt_records_load(tt_attachment **out, int *n)
{
    *out = NULL;
    *n = 0;
    char path[1100];
    TT_TRY(home_path("attachments.json", path, sizeof path, false));
    void *data;
    size_t len;
    tt_status st = tt_read_file(path, 16u << 20, &data, &len);
    if (st == TETHER_ERR_NOT_FOUND) {
        tt_error_clear();
        return TT_OK;
    }
    TT_TRY(st);
    cJSON *root = cJSON_ParseWithLength(data, len);
    tt_free(data);
    const cJSON *arr = root ? cJSON_GetObjectItemCaseSensitive(root, "attachments") : NULL;
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return tt_error(TETHER_ERR_IO, "%s is damaged (not the JSON tether writes): move it away and attach again",
                        path);
    }
    int count = cJSON_GetArraySize(arr);
    tt_attachment *a = tt_calloc((size_t)count + 1, sizeof *a);
    if (!a) {
        cJSON_Delete(root);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    int k = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, arr)
    {
        tt_attachment *x = &a[k];
        copy_str(x->id, sizeof x->id, r, "id");
        copy_str(x->type, sizeof x->type, r, "type");
        copy_str(x->endpoint, sizeof x->endpoint, r, "endpoint");
        copy_str(x->token, sizeof x->token, r, "token");
        x->memory_bytes = get_u64(r, "memory_bytes");
        x->tflops = get_num(r, "tflops");
        copy_str(x->name, sizeof x->name, r, "name");
        if (!x->name[0]) /* a record from before names: its slot id names it */
            snprintf(x->name, sizeof x->name, "%.39s", x->id);
        copy_str(x->fleet, sizeof x->fleet, r, "fleet");
        copy_str(x->zone, sizeof x->zone, r, "zone");
        copy_str(x->server_id, sizeof x->server_id, r, "server_id");
        copy_str(x->tls.ca, sizeof x->tls.ca, r, "tls_ca");
        copy_str(x->tls.cert, sizeof x->tls.cert, r, "tls_cert");
        copy_str(x->tls.key, sizeof x->tls.key, r, "tls_key");
        copy_str(x->fleet_tls.ca, sizeof x->fleet_tls.ca, r, "fleet_ca");
        copy_str(x->fleet_tls.cert, sizeof x->fleet_tls.cert, r, "fleet_cert");
        copy_str(x->fleet_tls.key, sizeof x->fleet_tls.key, r, "fleet_key");
        copy_str(x->key, sizeof x->key, r, "reserve_key");
        if (!x->id[0] || !x->endpoint[0])
            continue; /* not a record we can use; dropped at the next write */
        x->ordinal = k++;
    }
    cJSON_Delete(root);
    *out = a;
    *n = k;
    return TT_OK;
}

tt_status tt_records_write_json(const char *path, cJSON *root)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    size_t len = strlen(text);
    tt_status st = tt_file_replace(path, tmp, text, len);
    if (st != TT_OK)
        unlink(tmp);
    memset(text, 0, len); /* it holds tokens */
    cJSON_free(text);
    return st;
}

tt_status tt_records_save(const tt_attachment *a, int n)
{
    char path[1100];
    TT_TRY(home_path("attachments.json", path, sizeof path, true));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON *arr = cJSON_AddArrayToObject(root, "attachments");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", a[i].id);
        cJSON_AddStringToObject(r, "type", a[i].type);
        cJSON_AddStringToObject(r, "endpoint", a[i].endpoint);
        cJSON_AddStringToObject(r, "token", a[i].token);
        cJSON_AddNumberToObject(r, "memory_bytes", (double)a[i].memory_bytes);
        cJSON_AddNumberToObject(r, "tflops", a[i].tflops);
        cJSON_AddStringToObject(r, "name", a[i].name);
        /* the optional fields only when set, so that plain records stay as they were */
        const struct {
            const char *key, *val;
        } opt[] = {{"fleet", a[i].fleet},          {"zone", a[i].zone},
                   {"server_id", a[i].server_id},  {"tls_ca", a[i].tls.ca},
                   {"tls_cert", a[i].tls.cert},    {"tls_key", a[i].tls.key},
                   {"fleet_ca", a[i].fleet_tls.ca}, {"fleet_cert", a[i].fleet_tls.cert},
                   {"fleet_key", a[i].fleet_tls.key}, {"reserve_key", a[i].key}};
        for (size_t k = 0; k < sizeof opt / sizeof opt[0]; k++)
            if (opt[k].val[0])
                cJSON_AddStringToObject(r, opt[k].key, opt[k].val);
        cJSON_AddItemToArray(arr, r);
    }
    return tt_records_write_json(path, root);
}

/* An exclusive lock over read-modify-write of the records. */
tt_status tt_records_lock(int *fd)
{
    char path[1100];
    TT_TRY(home_path("attachments.lock", path, sizeof path, true));
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return tt_error(TETHER_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            tt_status st = tt_error(TETHER_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
            close(*fd);
            return st;
        }
    }
    return TT_OK;
}

void tt_records_unlock(int fd)
{
    close(fd);
}

/* ---- visibility -------------------------------------------------------------------- */

/* The visibility list: TETHER_VISIBLE_DEVICES, else Elastic Inference's EI_VISIBLE_DEVICES
 * (the same form), so scripts written for EI keep working. *name says which was read. */
static const char *visible_env(const char **name)
{
    static const char *names[] = {"TETHER_VISIBLE_DEVICES", "EI_VISIBLE_DEVICES"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v) {
            if (name)
                *name = names[i];
            return v;
        }
    }
    return NULL;
}

/* Applies TETHER_VISIBLE_DEVICES ("1,eia-…"): the named attachments, in the order named,
 * renumbered from 0. Unset: all. A name that matches nothing is an error, not a surprise. */
static tt_status apply_visible(tt_attachment *all, int n, tt_attachment **out, int *nout)
{
    const char *var = NULL;
    const char *env = visible_env(&var);
    if (!env) {
        *out = all;
        *nout = n;
        return TT_OK;
    }
    tt_attachment *v = tt_calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        tt_free(all);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", env);
    int k = 0;
    char *save;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int found = -1;
        char *end;
        long ord = strtol(tok, &end, 10);
        if (*end == 0 && end != tok)
            found = ord >= 0 && ord < n ? (int)ord : -1;
        for (int i = 0; i < n && found < 0; i++)
            if (strcmp(all[i].id, tok) == 0)
                found = i;
        if (found < 0) {
            tt_status st = tt_error(TETHER_ERR_NOT_FOUND,
                                    "%s names '%s', which is not an attached accelerator "
                                    "(%d attached: see tether describe-accelerators)",
                                    var, tok, n);
            tt_free(v);
            tt_free(all);
            return st;
        }
        bool dup = false;
        for (int i = 0; i < k; i++)
            dup |= strcmp(v[i].id, all[found].id) == 0;
        if (dup || k >= n)
            continue;
        v[k] = all[found];
        v[k].ordinal = k;
        k++;
    }
    tt_free(all);
    *out = v;
    *nout = k;
    return TT_OK;
}

tt_status tt_attachments_list(tt_attachment **out, int *n)
{
    tt_attachment *all;
    int count;
    TT_TRY(tt_records_load(&all, &count));
    return apply_visible(all, count, out, n);
}

tt_status tt_attachment_get(int ordinal, tt_attachment *out)
{
    tt_attachment *a;
    int n;
    TT_TRY(tt_attachments_list(&a, &n));
    if (ordinal < 0 || ordinal >= n) {
        tt_free(a);
        if (n == 0)
            return tt_error(TETHER_ERR_NOT_FOUND,
                            "no accelerator eia:%d: none is attached%s (attach one with "
                            "'tether attach TYPE --server HOST:PORT')",
                            ordinal, visible_env(NULL) ? " or visible (TETHER_VISIBLE_DEVICES / EI_VISIBLE_DEVICES)" : "");
        return tt_error(TETHER_ERR_NOT_FOUND, "no accelerator eia:%d: %d %s visible (eia:0..eia:%d)", ordinal, n,
                        n == 1 ? "is" : "are", n - 1);
    }
    *out = a[ordinal];
    memset(a, 0, sizeof *a * (size_t)n);
    tt_free(a);
    return TT_OK;
}

/* ---- attach / detach ------------------------------------------------------------- */

tt_status tt_attach(const char *type, const char *server, tt_attachment *out)
{
    return tt_attach_ex(type, server, 0, out);
}

tt_status tt_attach_ex(const char *type, const char *server, uint32_t lease_s, tt_attachment *out)
{
    return tt_attach_key(type, server, lease_s, NULL, out);
}

tt_status tt_attach_key(const char *type, const char *server, uint32_t lease_s, const char *key, tt_attachment *out)
{
    if (!server)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tt_attach: type, server and out must not be NULL");
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.lease_s = lease_s;
    o.server = server;
    o.key = key;
    return tt_attach_with(type, &o, out);
}

tt_status tt_release_at(const tt_attachment *a, int timeout_ms)
{
    tt_endpoint ep;
    uint8_t token[TT_WIRE_TOKEN_LEN];
    TT_TRY(tt_endpoint_parse(a->endpoint, &ep));
    TT_TRY(tt_attachment_token(a, token));
    tt_rconn *c;
    int64_t deadline = tt_deadline_ms(timeout_ms);
    tt_status st = tt_rconn_open_tls(&ep, &a->tls, a->id, token, deadline, &c);
    memset(token, 0, sizeof token);
    if (st != TT_OK)
        return st;
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_reply r;
    st = tt_rconn_call(c, TT_CMD_RELEASE, &w, NULL, 0, 0, deadline, &r);
    tt_reply_free(&r);
    tt_wr_free(&w);
    tt_rconn_close(c);
    return st;
}

void tt_attachment_new_name(char *out, size_t n)
{
    uint8_t r[12];
    if (RAND_bytes(r, sizeof r) != 1) {
        uint64_t t = (uint64_t)tt_now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(r, &t, 8);
        memset(r + 8, 0, 4);
    }
    char hex[2 * sizeof r + 1];
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    snprintf(out, n, "att-%s", hex);
}

tt_status tt_reserve_at(const char *server, const tt_tls_files *tls, const char *type, uint32_t lease_s,
                        uint32_t slot_index1, const char *key, int timeout_ms, tt_attachment *a)
{
    return tt_reserve_on(NULL, server, tls, type, lease_s, slot_index1, key, timeout_ms, a);
}

tt_status tt_reserve_on(tt_rconn *conn, const char *server, const tt_tls_files *tls, const char *type,
                        uint32_t lease_s, uint32_t slot_index1, const char *key, int timeout_ms, tt_attachment *a)
{
    tt_endpoint ep;
    tt_msg_reserve req = {.lease_s = lease_s, .slot_index1 = slot_index1};
    tt_status st = tt_endpoint_parse(server, &ep);
    if (st == TT_OK && strlen(type) >= sizeof req.type)
        st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "accelerator type '%s' is too long", type);
    if (!key || !*key)
        key = getenv("TETHER_RESERVE_KEY");
    if (st == TT_OK && key && strlen(key) > TT_WIRE_MAX_KEY)
        st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "the reservation key is longer than %d bytes", TT_WIRE_MAX_KEY);
    if (st != TT_OK) {
        tt_rconn_close(conn);
        return st;
    }
    snprintf(req.type, sizeof req.type, "%s", type);
    if (key)
        snprintf(req.key, sizeof req.key, "%s", key);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(req.holder, sizeof req.holder, "%.*s", TT_WIRE_MAX_ID, host);

    int64_t deadline = tt_deadline_ms(timeout_ms);
    tt_rconn *c = conn;
    if (!c)
        TT_TRY(tt_rconn_open_tls(&ep, tls, NULL, NULL, deadline, &c));
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_reserve_encode(&w, &req);
    memset(req.key, 0, sizeof req.key);
    tt_reply r;
    st = tt_rconn_call(c, TT_CMD_RESERVE, &w, NULL, 0, 0, deadline, &r);
    memset(w.p, 0, w.n);
    tt_wr_free(&w);
    tt_rconn_close(c);
    if (st != TT_OK)
        return tt_error_prefix(st, "attaching %s at %s: ", type, ep.text);
    tt_msg_slot s;
    st = tt_msg_slot_decode(tt_reply_data(&r), r.len, &s);
    tt_reply_free(&r);
    TT_TRY(st);
    snprintf(a->id, sizeof a->id, "%s", s.id);
    snprintf(a->type, sizeof a->type, "%s", s.type);
    snprintf(a->endpoint, sizeof a->endpoint, "%s", ep.text);
    for (int i = 0; i < TT_WIRE_TOKEN_LEN; i++)
        snprintf(a->token + 2 * i, 3, "%02x", s.token[i]);
    memset(s.token, 0, sizeof s.token);
    a->memory_bytes = s.memory_bytes;
    a->tflops = s.flops_per_s / 1e12;
    if (tls)
        a->tls = *tls;
    snprintf(a->key, sizeof a->key, "%s", key ? key : "");
    return TT_OK;
}

/* The ordinal a record at position `pos` has for this process (after
 * TETHER_VISIBLE_DEVICES); -1 when invisible. */
static int visible_ordinal(const char *name, int pos)
{
    if (!visible_env(NULL))
        return pos;
    int ord = -1;
    tt_attachment *vis;
    int nv;
    if (tt_attachments_list(&vis, &nv) == TT_OK) {
        for (int i = 0; i < nv; i++)
            if (strcmp(vis[i].name, name) == 0)
                ord = i;
        memset(vis, 0, sizeof *vis * (size_t)nv);
        tt_free(vis);
    }
    tt_error_clear();
    return ord;
}

tt_status tt_records_add(tt_attachment *a)
{
    int lock;
    tt_status st = tt_records_lock(&lock);
    tt_attachment *all = NULL;
    int n = 0;
    if (st == TT_OK) {
        st = tt_records_load(&all, &n);
        tt_attachment *grown = st == TT_OK ? tt_realloc(all, sizeof *all * (size_t)(n + 1)) : NULL;
        if (st == TT_OK && !grown)
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        if (st == TT_OK) {
            all = grown;
            a->ordinal = n;
            all[n++] = *a;
            st = tt_records_save(all, n);
        }
        tt_records_unlock(lock);
    }
    if (all)
        memset(all, 0, sizeof *all * (size_t)n);
    tt_free(all);
    if (st != TT_OK) {
        tt_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tt_last_error());
        tt_release_at(a, 5000); /* best effort: do not leave a slot held that no record names */
        return tt_error(keep, "attached %s but could not record it (so it was released again): %s", a->type, msg);
    }
    a->ordinal = visible_ordinal(a->name, a->ordinal);
    return TT_OK;
}

tt_status tt_attach_with(const char *type, const tt_attach_opts *o, tt_attachment *out)
{
    if (!type || !o || !out || (!o->server && !o->fleet))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tt_attach: a type, and a server or a fleet, are needed");
    if (o->fleet && *o->fleet)
        return tt_attach_fleet(type, o, out);
    tt_attachment a;
    memset(&a, 0, sizeof a);
    TT_TRY(tt_reserve_at(o->server, &o->tls, type, o->lease_s, 0, o->key, CTL_TIMEOUT_MS, &a));
    tt_attachment_new_name(a.name, sizeof a.name);
    tt_status st = tt_records_add(&a);
    if (st == TT_OK)
        *out = a;
    memset(&a, 0, sizeof a);
    return st;
}

tt_status tt_detach(int ordinal)
{
    return tt_detach_ex(ordinal, false, NULL, 0);
}

tt_status tt_detach_ex(int ordinal, bool force, char *note, size_t note_cap)
{
    if (note && note_cap)
        note[0] = 0;
    tt_orphans_sweep();
    tt_attachment a;
    TT_TRY(tt_attachment_get(ordinal, &a));
    tt_status st = tt_release_at(&a, CTL_TIMEOUT_MS);
    if (st == TETHER_ERR_AUTH) {
        /* the server no longer knows it (expired, or released elsewhere): only the record is left */
        if (note)
            snprintf(note, note_cap, "the server had already let %s go (%s)", a.id, tt_last_error());
        st = TT_OK;
    } else if (st != TT_OK && force) {
        if (note)
            snprintf(note, note_cap,
                     "could not release %s on its server (%s); forgot it anyway: the server frees "
                     "the slot when its lease ends",
                     a.id, tt_last_error());
        st = TT_OK;
    } else if (st != TT_OK) {
        tt_status keep = st;
        char msg[900];
        snprintf(msg, sizeof msg, "%s", tt_last_error());
        memset(&a, 0, sizeof a);
        return tt_error(keep, "could not release eia:%d: %s (the record is kept; --force forgets it)", ordinal, msg);
    }
    int lock;
    st = tt_records_lock(&lock);
    if (st == TT_OK) {
        tt_attachment *all;
        int n;
        st = tt_records_load(&all, &n);
        if (st == TT_OK) {
            int k = 0;
            for (int i = 0; i < n; i++)
                if (strcmp(all[i].name, a.name) != 0)
                    all[k++] = all[i];
            st = tt_records_save(all, k);
            if (all)
                memset(all, 0, sizeof *all * (size_t)n);
            tt_free(all);
        }
        tt_records_unlock(lock);
    }
    memset(&a, 0, sizeof a);
    return st;
}
