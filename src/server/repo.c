/* The model repository: scanning DIR/NAME/VERSION/model.onnx, each model's config, loading
 * versions through the model cache into slots of their type, draining versions that are
 * unloaded or replaced (their requests finish first), API keys, and the per-model counters
 * that /metrics and the status page report. */
#include "server/repo.h"

#include "model/model.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/strbuf.h"
#include "server/config.h"
#include "server/batch.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- config ------------------------------------------------------------------------ */

static tt_status parse_int(const char *key, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || errno || n < lo || n > hi)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: '%s' is not an integer in %lld..%lld", key, v, lo, hi);
    *out = n;
    return TT_OK;
}

static tt_status parse_digest(const char *what, const char *hex, uint8_t out[TT_WIRE_HASH_LEN])
{
    if (strlen(hex) != 2 * TT_WIRE_HASH_LEN)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s: expected the key's SHA-256 as 64 hex digits (printf %%s KEY | sha256sum), got %zu "
                        "characters",
                        what, strlen(hex));
    for (int i = 0; i < TT_WIRE_HASH_LEN; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            int c = tolower((unsigned char)hex[2 * i + k]);
            if (!isxdigit(c))
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: '%c' is not a hex digit", what, hex[2 * i + k]);
            v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
    return TT_OK;
}

/* "dims.INPUT = -1,3,224,224": one entry per dimension of the input, -1 (free) or a size. Whether
 * INPUT is an input of that rank, and the sizes agree with the model, is checked at load. */
static tt_status cfg_dims(tt_model_cfg *c, const char *key, const char *input, char *v)
{
    if (!*input || strlen(input) >= TT_REPO_MAX_NAME)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%.160s: expected dims.INPUT with an input name of 1 to %d bytes",
                        key, TT_REPO_MAX_NAME - 1);
    for (int i = 0; i < c->n_dims; i++)
        if (strcmp(c->dims[i].input, input) == 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s is given twice", key);
    if (c->n_dims >= TT_REPO_MAX_DIMS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: more than %d inputs have dims", key, TT_REPO_MAX_DIMS);
    tt_model_dims *d = &c->dims[c->n_dims];
    memset(d, 0, sizeof *d);
    snprintf(d->input, sizeof d->input, "%s", input);
    char *save;
    for (char *t = strtok_r(v, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (d->rank >= TETHER_MAX_RANK)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: more than %d dimensions", key, TETHER_MAX_RANK);
        long long n;
        char what[200];
        snprintf(what, sizeof what, "%.160s dimension %d", key, d->rank);
        TT_TRY(parse_int(what, t, -1, (long long)1 << 40, &n));
        if (n == 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s is 0: use -1 (free) or a size > 0", what);
        d->dims[d->rank++] = n;
    }
    if (!d->rank)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s: expected one entry per dimension of the input, -1 (free) or a size, e.g. -1,3,224,224", key);
    c->n_dims++;
    return TT_OK;
}

static tt_status cfg_set(tt_model_cfg *c, const char *key, char *v);
static tt_status model_cfg_set(void *c, const char *key, char *v) { return cfg_set(c, key, v); }

static tt_status cfg_set(tt_model_cfg *c, const char *key, char *v)
{
    long long n;
    if (strcmp(key, "slot") == 0) {
        if (!*v || strlen(v) >= sizeof c->slot_type)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "slot: '%s' is not a slot type name", v);
        snprintf(c->slot_type, sizeof c->slot_type, "%s", v);
        return TT_OK;
    }
    if (strcmp(key, "instances") == 0) {
        TT_TRY(parse_int(key, v, 1, 64, &n));
        c->instances = (int)n;
        return TT_OK;
    }
    if (strcmp(key, "max_batch_size") == 0) {
        TT_TRY(parse_int(key, v, 0, 4096, &n));
        c->max_batch_size = (int)n;
        return TT_OK;
    }
    if (strcmp(key, "max_queue_delay_us") == 0) {
        TT_TRY(parse_int(key, v, 0, 10000000, &n));
        c->max_queue_delay_us = n;
        return TT_OK;
    }
    if (strcmp(key, "max_queue_size") == 0) {
        TT_TRY(parse_int(key, v, 1, 100000, &n));
        c->max_queue = (int)n;
        return TT_OK;
    }
    if (strcmp(key, "preferred_batch_sizes") == 0) {
        c->n_preferred = 0;
        char *save;
        for (char *t = strtok_r(v, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (c->n_preferred >= TT_REPO_MAX_PREFERRED)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "preferred_batch_sizes: more than %d sizes",
                                TT_REPO_MAX_PREFERRED);
            TT_TRY(parse_int(key, t, 1, 4096, &n));
            c->preferred[c->n_preferred++] = (int)n;
        }
        return TT_OK;
    }
    if (strcmp(key, "api_key_sha256") == 0) {
        if (c->n_keys >= TT_REPO_MAX_KEYS)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "api_key_sha256: more than %d keys", TT_REPO_MAX_KEYS);
        TT_TRY(parse_digest(key, v, c->keys[c->n_keys]));
        c->n_keys++;
        return TT_OK;
    }
    if (strcmp(key, "version_policy") == 0) {
        if (strcmp(v, "latest") == 0)
            c->all_versions = false;
        else if (strcmp(v, "all") == 0)
            c->all_versions = true;
        else
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "version_policy '%s': use latest or all", v);
        return TT_OK;
    }
    if (strncmp(key, "dims.", 5) == 0)
        return cfg_dims(c, key, key + 5, v);
    return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                    "unknown key '%s' (known: slot, instances, max_batch_size, max_queue_delay_us, "
                    "preferred_batch_sizes, max_queue_size, api_key_sha256, version_policy, dims.INPUT)",
                    key);
}

tt_status tt_model_cfg_load(tt_model_cfg *cfg, const char *path, const char *default_slot)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->slot_type, sizeof cfg->slot_type, "%s", default_slot);
    cfg->instances = 1;
    cfg->max_queue_delay_us = 1000;
    cfg->max_queue = 256;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return TT_OK; /* the config is optional */
        return tt_error(TETHER_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    }
    tt_status st = tt_config_read_pairs(f, path, model_cfg_set, cfg);
    fclose(f);
    for (int i = 0; st == TT_OK && i < cfg->n_preferred; i++)
        if (cfg->preferred[i] > cfg->max_batch_size)
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: preferred batch size %d is over max_batch_size %d", path,
                          cfg->preferred[i], cfg->max_batch_size);
    return st;
}

/* ---- names and scanning ----------------------------------------------------------- */

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= TT_REPO_MAX_NAME || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static bool version_name(const char *s, int64_t *v)
{
    if (!*s || strlen(s) > 15)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    *v = strtoll(s, NULL, 10);
    return *v > 0;
}

#define MAX_VERSIONS 64

/* The versions of NAME that have a model.onnx, highest first. */
static tt_status scan_versions(const tt_repo *r, const char *name, int64_t *out, int *n)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    DIR *d = opendir(path);
    *n = 0;
    if (!d)
        return tt_error(TETHER_ERR_NOT_FOUND, "the model repository has no model '%s' (%s: %s)", name, path,
                        strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) && *n < MAX_VERSIONS) {
        int64_t v;
        if (!version_name(de->d_name, &v))
            continue;
        char f[1500];
        struct stat st;
        snprintf(f, sizeof f, "%s/%s/model.onnx", path, de->d_name);
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
            out[(*n)++] = v;
    }
    closedir(d);
    for (int i = 1; i < *n; i++) /* a handful: insertion sort, descending */
        for (int k = i; k > 0 && out[k] > out[k - 1]; k--) {
            int64_t t = out[k];
            out[k] = out[k - 1];
            out[k - 1] = t;
        }
    if (!*n)
        return tt_error(TETHER_ERR_NOT_FOUND, "model '%s' has no version: expected %s/N/model.onnx with N >= 1", name,
                        path);
    return TT_OK;
}

static void set_status(tt_repo *r, const char *name, bool ready, const char *reason)
{
    pthread_mutex_lock(&r->lock);
    tt_repo_status *s = NULL;
    for (int i = 0; i < r->n_status && !s; i++)
        if (strcmp(r->status[i].name, name) == 0)
            s = &r->status[i];
    if (!s) {
        tt_repo_status *n = tt_realloc(r->status, sizeof *n * (size_t)(r->n_status + 1));
        if (n) {
            r->status = n;
            s = &n[r->n_status++];
            memset(s, 0, sizeof *s);
            snprintf(s->name, sizeof s->name, "%s", name);
        }
    }
    if (s) {
        s->ready = ready;
        snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "");
    }
    pthread_mutex_unlock(&r->lock);
}

/* ---- one version ------------------------------------------------------------------ */

/* Charges m to a slot of its type: one already serving repository models first, then a
 * free one. The slot is kept from attachment while it serves the repository. */
static tt_status place(tt_repo *r, tt_repo_model *m)
{
    tt_server *srv = r->srv;
    if (!tt_config_find_type(&srv->cfg, m->cfg.slot_type))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s': slot type '%s' is not defined", m->name,
                        m->cfg.slot_type);
    tt_status last = TT_OK;
    int of_type = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < srv->n_slots; i++) {
            tt_slot *s = &srv->slots[i];
            if (strcmp(s->type.name, m->cfg.slot_type) != 0)
                continue;
            pthread_mutex_lock(&srv->slots_lock);
            bool take = !s->reserved && (pass == 0 ? s->repo_models > 0 : s->repo_models == 0);
            if (take && s->repo_models++ == 0)
                tt_server_fleet_slot(srv, s); /* no longer free for a fleet's placement */
            pthread_mutex_unlock(&srv->slots_lock);
            of_type += pass == 0;
            if (!take)
                continue;
            uint64_t used, quota;
            last = tt_slots_charge_bytes(srv, s, m->entry, m->charged, &used, &quota);
            if (last == TT_OK) {
                m->slot = s;
                m->slot_gen = atomic_load(&s->gen);
                tt_log(TT_LOG_INFO, "model %s version %" PRId64 " in slot %d (%s): %.1f of %.1f MiB used", m->name,
                       m->version, s->index, s->type.name, used / 1048576.0, quota / 1048576.0);
                return TT_OK;
            }
            pthread_mutex_lock(&srv->slots_lock);
            if (--s->repo_models == 0)
                tt_server_fleet_slot(srv, s);
            pthread_mutex_unlock(&srv->slots_lock);
        }
    }
    if (last != TT_OK)
        return tt_error_prefix(last, "model '%s' version %" PRId64 ": ", m->name, m->version);
    if (!of_type)
        return tt_error(TETHER_ERR_NOT_FOUND, "model '%s' runs in a %s slot and this server has none (--slots)",
                        m->name, m->cfg.slot_type);
    return tt_error(TETHER_ERR_BUSY, "model '%s': every %s slot is attached; none is free for the repository", m->name,
                    m->cfg.slot_type);
}

static void version_free(tt_repo *r, tt_repo_model *m)
{
    tt_server *srv = r->srv;
    if (m->slot) {
        tt_slots_uncharge(srv, m->slot, m->slot_gen, m->entry);
        pthread_mutex_lock(&srv->slots_lock);
        if (--m->slot->repo_models == 0)
            tt_server_fleet_slot(srv, m->slot);
        pthread_mutex_unlock(&srv->slots_lock);
    }
    if (m->entry)
        tt_cache_release(&srv->cache, m->entry);
    tt_free(m);
}

static bool batchable(const tether_session *s)
{
    size_t ni = tether_session_input_count(s), no = tether_session_output_count(s);
    for (size_t i = 0; i < ni + no; i++) {
        tether_value_info info;
        if (i < ni)
            tether_session_input_info(s, i, &info);
        else
            tether_session_output_info(s, i - ni, &info);
        if (i < ni && (info.rank < 1 || info.dims[0] >= 0))
            return false;
        if (i >= ni && info.rank >= 0 && (info.rank < 1 || info.dims[0] >= 0))
            return false;
    }
    return ni > 0;
}

/* Opens NAME/VERSION (the bytes' hash is *hash on return) ready to serve. */
static tt_status version_open(tt_repo *r, const char *name, int64_t version, const tt_model_cfg *cfg,
                              const uint8_t hash[TT_WIRE_HASH_LEN], const void *bytes, size_t n, tt_repo_model **out)
{
    tt_server *srv = r->srv;
    tt_repo_model *m = tt_calloc(1, sizeof *m);
    if (!m)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    snprintf(m->name, sizeof m->name, "%s", name);
    m->version = version;
    m->cfg = *cfg;
    tt_status st = tt_cache_put(&srv->cache, hash, bytes, n);
    tether_input_dims dims[TT_REPO_MAX_DIMS];
    for (int i = 0; i < cfg->n_dims; i++) {
        dims[i] = (tether_input_dims){.name = cfg->dims[i].input, .rank = cfg->dims[i].rank};
        memcpy(dims[i].dims, cfg->dims[i].dims, sizeof dims[i].dims);
    }
    /* with dims the session is the model's own (tt_cache_acquire_dims): others opening the
     * same bytes get the model as exported */
    if (st == TT_OK)
        st = tt_cache_acquire_dims(&srv->cache, hash, dims, (size_t)cfg->n_dims, &m->entry);
    if (st != TT_OK) {
        tt_free(m);
        return tt_error_prefix(st, "model '%s' version %" PRId64 ": ", name, version);
    }
    m->batchable = batchable(m->entry->session);
    if (cfg->max_batch_size > 1 && !m->batchable)
        tt_log(TT_LOG_WARN,
               "model %s: max_batch_size %d, but not every input and output has a free dimension 0: "
               "requests run one by one",
               name, cfg->max_batch_size);
    /* a batch holds the activations of its rows: charge the largest batch up front */
    int rows = m->batchable && cfg->max_batch_size > 1 ? cfg->max_batch_size : 1;
    m->charged = m->entry->stats.weight_bytes + m->entry->stats.activation_bytes * (uint64_t)rows;
    st = place(r, m);
    if (st != TT_OK) {
        version_free(r, m);
        return st;
    }
    m->state = TT_MODEL_READY;
    m->refs = 1; /* the repository's */
    m->loaded_s = tt_wall_s();
    *out = m;
    return TT_OK;
}

/* Drops the repository's reference: the version drains (repo->lock held; returns the model
 * when it is free to be freed now). */
static tt_repo_model *drain_locked(tt_repo *r, tt_repo_model *m)
{
    m->state = TT_MODEL_DRAINING;
    if (--m->refs > 0)
        return NULL;
    for (tt_repo_model **p = &r->models; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            r->n_models--;
            break;
        }
    return m;
}

/* ---- load and unload ---------------------------------------------------------------- */

static tt_status load_locked(tt_repo *r, const char *name)
{
    if (!name_ok(name))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "'%.64s' is not a model name (letters, digits, '_', '-', '.'; not starting with '.')", name);
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/config", r->dir, name);
    tt_model_cfg cfg;
    const char *def = r->srv->cfg.n_slot_specs ? r->srv->cfg.slots[0].type : "cpu.medium";
    TT_TRY(tt_model_cfg_load(&cfg, path, def));
    int64_t versions[MAX_VERSIONS];
    int nv;
    TT_TRY(scan_versions(r, name, versions, &nv));
    if (!cfg.all_versions)
        nv = 1;
    tt_repo_model *fresh[MAX_VERSIONS] = {0};
    bool keep[MAX_VERSIONS] = {0};
    tt_status st = TT_OK;
    for (int i = 0; i < nv && st == TT_OK; i++) {
        snprintf(path, sizeof path, "%s/%s/%" PRId64 "/model.onnx", r->dir, name, versions[i]);
        void *bytes;
        size_t n;
        st = tt_read_file(path, (size_t)1 << 36, &bytes, &n);
        if (st != TT_OK)
            break;
        uint8_t hash[TT_WIRE_HASH_LEN];
        tt_sha256(bytes, n, hash);
        /* the same bytes and config already served: keep that version as it is */
        pthread_mutex_lock(&r->lock);
        for (tt_repo_model *m = r->models; m; m = m->next)
            if (m->state == TT_MODEL_READY && strcmp(m->name, name) == 0 && m->version == versions[i] &&
                memcmp(m->entry->hash, hash, sizeof hash) == 0 && memcmp(&m->cfg, &cfg, sizeof cfg) == 0)
                keep[i] = true;
        int loaded = r->n_models;
        pthread_mutex_unlock(&r->lock);
        if (!keep[i] && loaded >= TT_REPO_MAX_MODELS)
            st = tt_error(TETHER_ERR_BUSY, "%d model versions are loaded, the most a repository serves; unload some",
                          loaded);
        else if (!keep[i])
            st = version_open(r, name, versions[i], &cfg, hash, bytes, n, &fresh[i]);
        tt_free(bytes);
    }
    if (st != TT_OK) {
        for (int i = 0; i < nv; i++)
            if (fresh[i])
                version_free(r, fresh[i]);
        return st;
    }
    /* switch: the new versions serve from now, the replaced and dropped ones drain */
    tt_repo_model *gone[TT_REPO_MAX_MODELS + 1];
    int n_gone = 0;
    pthread_mutex_lock(&r->lock);
    for (tt_repo_model *m = r->models, *next; m; m = next) {
        next = m->next;
        if (m->state != TT_MODEL_READY || strcmp(m->name, name) != 0)
            continue;
        bool kept = false;
        for (int i = 0; i < nv && !kept; i++)
            kept = keep[i] && versions[i] == m->version;
        if (!kept) {
            tt_repo_model *f = drain_locked(r, m);
            if (f && n_gone < TT_REPO_MAX_MODELS)
                gone[n_gone++] = f;
        }
    }
    for (int i = 0; i < nv; i++)
        if (fresh[i]) {
            fresh[i]->next = r->models;
            r->models = fresh[i];
            r->n_models++;
        }
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < n_gone; i++)
        version_free(r, gone[i]);
    for (int i = 0; i < nv; i++)
        if (fresh[i])
            tt_log(TT_LOG_INFO, "model %s version %" PRId64 " ready%s", name, versions[i],
                   fresh[i]->batchable && cfg.max_batch_size > 1 ? " (dynamic batching)" : "");
    return TT_OK;
}

tt_status tt_repo_load(tt_repo *r, const char *name)
{
    if (!r->dir[0])
        return tt_error(TETHER_ERR_UNSUPPORTED, "this server has no model repository (--model-repository DIR)");
    pthread_mutex_lock(&r->load_lock);
    tt_status st = load_locked(r, name);
    if (name_ok(name))
        set_status(r, name, st == TT_OK, st == TT_OK ? NULL : tt_last_error());
    pthread_mutex_unlock(&r->load_lock);
    return st;
}

tt_status tt_repo_unload(tt_repo *r, const char *name)
{
    if (!r->dir[0])
        return tt_error(TETHER_ERR_UNSUPPORTED, "this server has no model repository (--model-repository DIR)");
    pthread_mutex_lock(&r->load_lock);
    tt_repo_model *gone[TT_REPO_MAX_MODELS + 1];
    int n_gone = 0, n = 0;
    pthread_mutex_lock(&r->lock);
    for (tt_repo_model *m = r->models, *next; m; m = next) {
        next = m->next;
        if (m->state != TT_MODEL_READY || strcmp(m->name, name) != 0)
            continue;
        n++;
        tt_repo_model *f = drain_locked(r, m);
        if (f && n_gone < TT_REPO_MAX_MODELS)
            gone[n_gone++] = f;
    }
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < n_gone; i++)
        version_free(r, gone[i]);
    tt_status st = TT_OK;
    if (!n)
        st = tt_error(TETHER_ERR_NOT_FOUND, "model '%.128s' is not loaded", name);
    else
        set_status(r, name, false, "unloaded");
    pthread_mutex_unlock(&r->load_lock);
    if (n)
        tt_log(TT_LOG_INFO, "model %s unloaded (requests in flight finish first)", name);
    return st;
}

/* ---- lookup ----------------------------------------------------------------------- */

tt_status tt_repo_find(tt_repo *r, const char *name, int64_t version, tt_repo_model **out)
{
    pthread_mutex_lock(&r->lock);
    tt_repo_model *best = NULL;
    bool any = false;
    for (tt_repo_model *m = r->models; m; m = m->next) {
        if (m->state != TT_MODEL_READY || strcmp(m->name, name) != 0)
            continue;
        any = true;
        if (version > 0 ? m->version == version : (!best || m->version > best->version))
            best = m;
    }
    if (best)
        best->refs++;
    pthread_mutex_unlock(&r->lock);
    if (best) {
        *out = best;
        return TT_OK;
    }
    if (any)
        return tt_error(TETHER_ERR_NOT_FOUND, "model '%.128s' has no version %" PRId64 " loaded", name, version);
    return tt_error(TETHER_ERR_NOT_FOUND, "unknown model '%.128s'%s", name,
                    r->dir[0] ? " (not loaded from the model repository)" : " (this server has no model repository)");
}

void tt_repo_retain(tt_repo *r, tt_repo_model *m)
{
    pthread_mutex_lock(&r->lock);
    m->refs++;
    pthread_mutex_unlock(&r->lock);
}

void tt_repo_release(tt_repo *r, tt_repo_model *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&r->lock);
    tt_repo_model *f = NULL;
    if (--m->refs == 0) {
        for (tt_repo_model **p = &r->models; *p; p = &(*p)->next)
            if (*p == m) {
                *p = m->next;
                r->n_models--;
                break;
            }
        f = m;
    }
    pthread_mutex_unlock(&r->lock);
    if (f) {
        tt_log(TT_LOG_DEBUG, "model %s version %" PRId64 " drained and freed", f->name, f->version);
        version_free(r, f);
    }
}

/* ---- keys ------------------------------------------------------------------------- */

tt_status tt_repo_authorize(tt_repo *r, const tt_repo_model *m, const char *key)
{
    if (!r->any_keys)
        return TT_OK;
    if (!key || !*key)
        return tt_error(TETHER_ERR_AUTH, "this server requires an API key (Authorization: Bearer KEY)");
    uint8_t d[TT_WIRE_HASH_LEN];
    tt_sha256(key, strlen(key), d);
    /* every digest is compared, so the time taken does not tell which matched */
    int ok = 0;
    for (int i = 0; i < r->n_tenants; i++)
        ok |= CRYPTO_memcmp(d, r->tenant_key[i], sizeof d) == 0;
    for (int i = 0; m && i < m->cfg.n_keys; i++)
        ok |= CRYPTO_memcmp(d, m->cfg.keys[i], sizeof d) == 0;
    if (ok)
        return TT_OK;
    return m ? tt_error(TETHER_ERR_AUTH, "the API key is not valid for model '%s'", m->name)
             : tt_error(TETHER_ERR_AUTH, "the API key is not a tenant key of this server");
}

static tt_status load_tenants(tt_repo *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tt_error(TETHER_ERR_IO, "cannot read the API key file '%s': %s", path, strerror(errno));
    char line[512], *l, *save;
    int lineno = 0, rc;
    tt_status st = TT_OK;
    while (st == TT_OK && (rc = tt_config_next_line(f, path, line, sizeof line, &lineno, &l)) > 0) {
        char *tenant = strtok_r(l, " \t", &save), *digest = strtok_r(NULL, " \t", &save);
        if (!digest || strtok_r(NULL, " \t", &save) || strlen(tenant) >= sizeof r->tenant[0]) {
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: expected 'TENANT SHA256HEX'", path, lineno);
            break;
        }
        if (r->n_tenants >= TT_REPO_MAX_TENANTS) {
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: more than %d tenants", path, TT_REPO_MAX_TENANTS);
            break;
        }
        st = parse_digest("key", digest, r->tenant_key[r->n_tenants]);
        if (st != TT_OK) {
            st = tt_error_prefix(st, "%s:%d: ", path, lineno);
            break;
        }
        snprintf(r->tenant[r->n_tenants++], sizeof r->tenant[0], "%s", tenant);
    }
    if (st == TT_OK && rc < 0)
        st = TETHER_ERR_INVALID_ARGUMENT; /* its message is set */
    fclose(f);
    return st;
}

/* ---- start and stop --------------------------------------------------------------- */

tt_status tt_repo_start(tt_server *srv)
{
    tt_repo *r = tt_calloc(1, sizeof *r);
    if (!r)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    r->srv = srv;
    srv->repo = r;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->load_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (srv->cfg.api_keys[0])
        TT_TRY(load_tenants(r, srv->cfg.api_keys));
    r->any_keys = r->n_tenants > 0;
    if (pthread_create(&r->batcher, NULL, tt_batch_main, r) != 0)
        return tt_error(TETHER_ERR_INTERNAL, "could not start the batcher thread");
    r->batcher_running = true;
    if (!srv->cfg.model_repository[0])
        return TT_OK;
    snprintf(r->dir, sizeof r->dir, "%s", srv->cfg.model_repository);
    DIR *d = opendir(r->dir);
    if (!d)
        return tt_error(TETHER_ERR_IO, "cannot read the model repository '%s': %s", r->dir, strerror(errno));
    struct dirent *de;
    char names[TT_REPO_MAX_MODELS][TT_REPO_MAX_NAME];
    int n = 0;
    while ((de = readdir(d)) && n < TT_REPO_MAX_MODELS) {
        char p[1400];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", r->dir, de->d_name);
        if (name_ok(de->d_name) && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(names[n++], sizeof names[0], "%s", de->d_name);
    }
    closedir(d);
    /* keys anywhere make keys required everywhere: read every config before serving */
    for (int i = 0; i < n && !r->any_keys; i++) {
        char p[1400];
        tt_model_cfg c;
        snprintf(p, sizeof p, "%s/%s/config", r->dir, names[i]);
        if (tt_model_cfg_load(&c, p, "") == TT_OK && c.n_keys)
            r->any_keys = true;
        tt_error_clear();
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (tt_repo_load(r, names[i]) == TT_OK)
            ok++;
        else
            tt_log(TT_LOG_ERROR, "model repository: %s", tt_last_error());
    }
    tt_log(TT_LOG_INFO, "model repository %s: %d of %d models ready%s", r->dir, ok, n,
           r->any_keys ? " (API keys required)" : "");
    return TT_OK;
}

void tt_repo_drain(tt_server *srv)
{
    tt_repo *r = srv->repo;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->refusing = true;
    pthread_mutex_unlock(&r->lock);
}

void tt_repo_stop(tt_server *srv)
{
    tt_repo *r = srv->repo;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (r->batcher_running)
        pthread_join(r->batcher, NULL);
    r->batcher_running = false;
    pthread_mutex_lock(&r->lock);
    tt_batch_drain_locked(r);
    pthread_mutex_unlock(&r->lock);
}

void tt_repo_free(tt_server *srv)
{
    tt_repo *r = srv->repo;
    if (!r)
        return;
    tt_repo_stop(srv);
    while (r->models) {
        tt_repo_model *m = r->models;
        r->models = m->next;
        version_free(r, m);
    }
    tt_free(r->status);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->load_lock);
    pthread_cond_destroy(&r->wake);
    tt_free(r);
    srv->repo = NULL;
}

/* ---- reports ---------------------------------------------------------------------- */

void tt_repo_count(tt_repo *r, tt_repo_model *m, int code)
{
    pthread_mutex_lock(&r->lock);
    int i = 0;
    while (i < TT_REPO_MAX_CODES && m->codes[i] && m->codes[i] != code)
        i++;
    if (i == TT_REPO_MAX_CODES)
        i = TT_REPO_MAX_CODES - 1; /* more distinct codes than that: the last one collects them */
    m->codes[i] = m->codes[i] ? m->codes[i] : code;
    m->code_counts[i]++;
    m->ok += code == 200;
    pthread_mutex_unlock(&r->lock);
}

tt_status tt_repo_index_json(tt_repo *r, char **out)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n_status; i++) {
        const tt_repo_status *s = &r->status[i];
        bool listed = false;
        for (tt_repo_model *m = r->models; m; m = m->next) {
            if (m->state != TT_MODEL_READY || strcmp(m->name, s->name) != 0)
                continue;
            cJSON *o = cJSON_CreateObject();
            char v[24];
            snprintf(v, sizeof v, "%" PRId64, m->version);
            cJSON_AddStringToObject(o, "name", m->name);
            cJSON_AddStringToObject(o, "version", v);
            cJSON_AddStringToObject(o, "state", "READY");
            cJSON_AddStringToObject(o, "reason", "");
            cJSON_AddItemToArray(arr, o);
            listed = true;
        }
        if (!listed) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", s->name);
            cJSON_AddStringToObject(o, "state", "UNAVAILABLE");
            cJSON_AddStringToObject(o, "reason", s->reason);
            cJSON_AddItemToArray(arr, o);
        }
    }
    pthread_mutex_unlock(&r->lock);
    char *text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    *out = text ? tt_strdup(text) : NULL;
    cJSON_free(text);
    return *out ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
}

static const double lat_bounds[TT_REPO_LAT_BUCKETS - 1] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                           0.1,    0.2,   0.5,   1,     2,    5,    10};
static const int batch_bounds[TT_REPO_BATCH_BUCKETS - 1] = {1, 2, 4, 8, 16, 32, 64, 128};

void tt_histo_add(tt_histo *h, double v);
void tt_histo_add(tt_histo *h, double v)
{
    int i = 0;
    while (i < TT_REPO_LAT_BUCKETS - 1 && v > lat_bounds[i])
        i++;
    h->le[i]++;
    h->count++;
    h->sum += v;
}

void tt_repo_batch_add(tt_repo_model *m, int rows);
void tt_repo_batch_add(tt_repo_model *m, int rows)
{
    int i = 0;
    while (i < TT_REPO_BATCH_BUCKETS - 1 && rows > batch_bounds[i])
        i++;
    m->batch_le[i]++;
    m->batch_count++;
    m->batch_rows += (uint64_t)rows;
}

static void histo_text(tt_strbuf *b, const char *metric, const tt_repo_model *m, const tt_histo *h)
{
    uint64_t cum = 0;
    for (int i = 0; i < TT_REPO_LAT_BUCKETS; i++) {
        cum += h->le[i];
        if (i < TT_REPO_LAT_BUCKETS - 1)
            tt_strbuf_printf(b, "%s_bucket{model=\"%s\",version=\"%" PRId64 "\",le=\"%g\"} %" PRIu64 "\n", metric, m->name,
                      m->version, lat_bounds[i], cum);
        else
            tt_strbuf_printf(b, "%s_bucket{model=\"%s\",version=\"%" PRId64 "\",le=\"+Inf\"} %" PRIu64 "\n", metric, m->name,
                      m->version, cum);
    }
    tt_strbuf_printf(b, "%s_sum{model=\"%s\",version=\"%" PRId64 "\"} %.9g\n", metric, m->name, m->version, h->sum);
    tt_strbuf_printf(b, "%s_count{model=\"%s\",version=\"%" PRId64 "\"} %" PRIu64 "\n", metric, m->name, m->version,
              h->count);
}

tt_status tt_repo_prometheus(tt_repo *r, char **out)
{
    tt_strbuf b = {0};
    tt_strbuf_printf(&b, "%s", "");
    if (!r) {
        *out = b.p;
        return b.oom ? tt_error(TETHER_ERR_NO_MEMORY, "out of memory") : TT_OK;
    }
    static const struct {
        const char *name, *help, *type;
    } fam[] = {
        {"tetherd_model_requests_total", "Inference requests answered, by model, version and HTTP status code",
         "counter"},
        {"tetherd_model_queue_seconds", "Time from a request's arrival to the start of the run that served it",
         "histogram"},
        {"tetherd_model_compute_seconds", "Time the run (batch) that served a request took", "histogram"},
        {"tetherd_model_request_seconds", "Time from a request's arrival to its answer", "histogram"},
        {"tetherd_model_batch_size", "Rows in each run of a model (1 without batching)", "histogram"},
        {"tetherd_model_queued", "Requests waiting for a batch", "gauge"},
        {"tetherd_model_inflight_batches", "Batches queued in the slot scheduler or running", "gauge"},
    };
    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        tt_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam[k].name, fam[k].help, fam[k].name, fam[k].type);
        for (tt_repo_model *m = r->models; m; m = m->next) {
            if (m->state != TT_MODEL_READY)
                continue;
            switch (k) {
            case 0:
                for (int i = 0; i < TT_REPO_MAX_CODES && m->codes[i]; i++)
                    tt_strbuf_printf(&b, "%s{model=\"%s\",version=\"%" PRId64 "\",code=\"%d\"} %" PRIu64 "\n", fam[k].name,
                              m->name, m->version, m->codes[i], m->code_counts[i]);
                break;
            case 1: histo_text(&b, fam[k].name, m, &m->h_queue); break;
            case 2: histo_text(&b, fam[k].name, m, &m->h_compute); break;
            case 3: histo_text(&b, fam[k].name, m, &m->h_total); break;
            case 4: {
                uint64_t cum = 0;
                for (int i = 0; i < TT_REPO_BATCH_BUCKETS; i++) {
                    cum += m->batch_le[i];
                    if (i < TT_REPO_BATCH_BUCKETS - 1)
                        tt_strbuf_printf(&b, "%s_bucket{model=\"%s\",version=\"%" PRId64 "\",le=\"%d\"} %" PRIu64 "\n",
                                  fam[k].name, m->name, m->version, batch_bounds[i], cum);
                    else
                        tt_strbuf_printf(&b, "%s_bucket{model=\"%s\",version=\"%" PRId64 "\",le=\"+Inf\"} %" PRIu64 "\n",
                                  fam[k].name, m->name, m->version, cum);
                }
                tt_strbuf_printf(&b, "%s_sum{model=\"%s\",version=\"%" PRId64 "\"} %" PRIu64 "\n", fam[k].name, m->name,
                          m->version, m->batch_rows);
                tt_strbuf_printf(&b, "%s_count{model=\"%s\",version=\"%" PRId64 "\"} %" PRIu64 "\n", fam[k].name, m->name,
                          m->version, m->batch_count);
                break;
            }
            case 5:
                tt_strbuf_printf(&b, "%s{model=\"%s\",version=\"%" PRId64 "\"} %d\n", fam[k].name, m->name, m->version,
                          m->queued);
                break;
            default:
                tt_strbuf_printf(&b, "%s{model=\"%s\",version=\"%" PRId64 "\"} %d\n", fam[k].name, m->name, m->version,
                          m->inflight);
                break;
            }
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (b.oom) {
        tt_free(b.p);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    *out = b.p;
    return TT_OK;
}
