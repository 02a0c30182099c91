/* state.json: read once at start, rewritten (temporary file, fsync, rename) whenever a
 * reservation changes, so a crash leaves either the old state or the new one. */
#include "server/state.h"

#include "core/file.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"
#include "server/auth.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

tt_status tt_mkdir_p(const char *dir, mode_t mode)
{
    char path[1100];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, mode) != 0 && errno != EEXIST)
            return tt_error(TETHER_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return tt_error(TETHER_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    return TT_OK;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void restore(tt_server *srv, const cJSON *r, int64_t now)
{
    const char *id = jstr(r, "id"), *type = jstr(r, "type"), *holder = jstr(r, "holder");
    uint8_t digest[TT_WIRE_HASH_LEN];
    if (!id || !type || strlen(id) > TT_WIRE_MAX_ID || !unhex(jstr(r, "token_sha256"), digest, sizeof digest)) {
        tt_log(TT_LOG_WARN, "state: skipping a malformed reservation");
        return;
    }
    int64_t expires = (int64_t)jnum(r, "expires");
    if (expires < now) {
        tt_log(TT_LOG_INFO, "state: reservation %s (%s) expired while the server was down; its slot is free", id, type);
        return;
    }
    int want = (int)jnum(r, "slot");
    tt_slot *slot = NULL;
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        if (s->reserved || strcmp(s->type.name, type) != 0)
            continue;
        if (!slot || i == want)
            slot = s;
    }
    if (!slot) {
        tt_log(TT_LOG_WARN,
               "state: reservation %s is of type %s, but no free slot of that type is configured now; "
               "dropped",
               id, type);
        return;
    }
    slot->reserved = true;
    snprintf(slot->id, sizeof slot->id, "%s", id);
    memcpy(slot->token_digest, digest, sizeof digest);
    snprintf(slot->holder, sizeof slot->holder, "%s", holder ? holder : "");
    const char *key = jstr(r, "key");
    snprintf(slot->key, sizeof slot->key, "%s", key ? key : "");
    slot->created_s = (int64_t)jnum(r, "created");
    slot->expires_s = slot->saved_expires_s = expires;
    slot->lease_s = (uint32_t)jnum(r, "lease_s");
    slot->gen++;
    tt_log(TT_LOG_INFO, "state: restored reservation %s (%s) in slot %d", id, type, slot->index);
}

tt_status tt_state_load(tt_server *srv)
{
    TT_TRY(tt_mkdir_p(srv->cfg.state_dir, 0700));
    char path[1200];
    snprintf(path, sizeof path, "%s/state.json", srv->cfg.state_dir);
    void *data = NULL;
    size_t n = 0;
    tt_status s = tt_read_file(path, 64u << 20, &data, &n);
    if (s == TETHER_ERR_NOT_FOUND) {
        tt_error_clear();
        TT_TRY(tt_slot_id_new(srv->id, sizeof srv->id));
        memcpy(srv->id, "srv", 3); /* "srv-…": the same randomness as a slot id */
        pthread_mutex_lock(&srv->slots_lock);
        s = tt_state_save(srv);
        pthread_mutex_unlock(&srv->slots_lock);
        return s;
    }
    TT_TRY(s);
    cJSON *root = cJSON_ParseWithLength(data, n);
    tt_free(data);
    if (!root)
        return tt_error(TETHER_ERR_IO, "%s is not valid JSON: move it away to start with no reservations", path);
    const char *id = jstr(root, "server_id");
    if (!id || !*id || strlen(id) > TT_WIRE_MAX_ID) {
        cJSON_Delete(root);
        return tt_error(TETHER_ERR_IO, "%s has no valid server_id", path);
    }
    snprintf(srv->id, sizeof srv->id, "%s", id);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "reservations");
    const cJSON *r;
    int64_t now = tt_wall_s();
    pthread_mutex_lock(&srv->slots_lock);
    cJSON_ArrayForEach(r, res) restore(srv, r, now);
    s = tt_state_save(srv);
    pthread_mutex_unlock(&srv->slots_lock);
    cJSON_Delete(root);
    return s;
}

tt_status tt_state_save(tt_server *srv)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *res = cJSON_AddArrayToObject(root, "reservations");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "server_id", srv->id);
    for (int i = 0; i < srv->n_slots; i++) {
        const tt_slot *s = &srv->slots[i];
        if (!s->reserved)
            continue;
        cJSON *r = cJSON_CreateObject();
        char digest[2 * TT_WIRE_HASH_LEN + 1];
        tt_hex(s->token_digest, sizeof s->token_digest, digest);
        cJSON_AddStringToObject(r, "id", s->id);
        cJSON_AddStringToObject(r, "type", s->type.name);
        cJSON_AddNumberToObject(r, "slot", s->index);
        cJSON_AddStringToObject(r, "token_sha256", digest);
        cJSON_AddStringToObject(r, "holder", s->holder);
        if (s->key[0])
            cJSON_AddStringToObject(r, "key", s->key);
        cJSON_AddNumberToObject(r, "created", (double)s->created_s);
        cJSON_AddNumberToObject(r, "expires", (double)s->expires_s);
        cJSON_AddNumberToObject(r, "lease_s", s->lease_s);
        cJSON_AddItemToArray(res, r);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory writing the state");
    char path[1200], tmp[1210];
    snprintf(path, sizeof path, "%s/state.json", srv->cfg.state_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tt_status s = tt_file_replace(path, tmp, text, strlen(text));
    cJSON_free(text);
    if (s == TT_OK)
        for (int i = 0; i < srv->n_slots; i++)
            srv->slots[i].saved_expires_s = srv->slots[i].expires_s;
    else
        tt_log(TT_LOG_ERROR, "state: %s (reservations made now will not survive a restart)", tt_last_error());
    return s;
}
