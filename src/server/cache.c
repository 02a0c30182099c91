/* The model cache: <state-dir>/models/<sha256>.onnx on disk, and one warm session per model
 * in memory. A model is opened (decoded, planned, warmed) by the first thread that needs
 * it; others asking meanwhile wait for that open instead of repeating it. */
#include "server/cache.h"

#include "core/cancel.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void blob_path(const tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], char *out, size_t n)
{
    char hex[2 * TT_WIRE_HASH_LEN + 1];
    tt_hex(hash, TT_WIRE_HASH_LEN, hex);
    snprintf(out, n, "%s/%s.onnx", c->dir, hex);
}

tt_status tt_cache_init(tt_cache *c, const char *state_dir, int keep_idle, int run_limit_ms)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->put_lock, NULL);
    pthread_cond_init(&c->loaded, NULL);
    c->keep_idle = keep_idle;
    atomic_store(&c->keep_bytes, UINT64_MAX);
    c->run_limit_ms = run_limit_ms;
    snprintf(c->dir, sizeof c->dir, "%s/models", state_dir);
    if (mkdir(c->dir, 0700) != 0 && errno != EEXIST)
        return tt_error(TETHER_ERR_IO, "cannot create the model cache '%s': %s", c->dir, strerror(errno));
    return TT_OK;
}

static void entry_free(tt_model_entry *e)
{
    tether_session_free(e->session);
    tt_free(e);
}

void tt_cache_free(tt_cache *c)
{
    while (c->entries) {
        tt_model_entry *e = c->entries;
        c->entries = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->put_lock);
    pthread_cond_destroy(&c->loaded);
}

bool tt_cache_has(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN])
{
    char path[1200];
    blob_path(c, hash, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static tt_model_entry *find_locked(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN]);
static void unlink_locked(tt_cache *c, tt_model_entry *e);
static void entry_free(tt_model_entry *e);

/* Whether the file at path holds exactly the n bytes that hash to `hash` (read in pieces). */
static bool stored_intact(const char *path, const uint8_t hash[TT_WIRE_HASH_LEN], size_t n)
{
    void *data;
    size_t got;
    if (tt_read_file(path, (size_t)1 << 36, &data, &got) != TT_OK) {
        tt_error_clear();
        return false;
    }
    uint8_t d[TT_WIRE_HASH_LEN];
    tt_sha256(data, got, d);
    tt_free(data);
    return got == n && CRYPTO_memcmp(d, hash, sizeof d) == 0;
}

/* Marks a stored model as just used: the file's time orders the cache's evictions. */
static void touch(const char *path)
{
    utimensat(AT_FDCWD, path, NULL, 0);
}

typedef struct stored {
    char name[2 * TT_WIRE_HASH_LEN + 6];
    uint64_t bytes;
    struct timespec used;
} stored;

static int by_oldest(const void *a, const void *b)
{
    const stored *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

static bool name_hash(const char *name, uint8_t hash[TT_WIRE_HASH_LEN])
{
    if (strlen(name) != 2 * TT_WIRE_HASH_LEN + 5 || strcmp(name + 2 * TT_WIRE_HASH_LEN, ".onnx") != 0)
        return false;
    for (int i = 0; i < TT_WIRE_HASH_LEN; i++) {
        unsigned v;
        if (sscanf(name + 2 * i, "%2x", &v) != 1)
            return false;
        hash[i] = (uint8_t)v;
    }
    return true;
}

/* Deletes the least recently used stored models nobody has open until `need` more bytes fit
 * under the limit. Called with put_lock held. */
static tt_status make_room(tt_cache *c, const uint8_t keep[TT_WIRE_HASH_LEN], uint64_t need)
{
    uint64_t max = atomic_load(&c->max_bytes);
    if (!max)
        return TT_OK;
    if (need > max)
        return tt_error(TETHER_ERR_QUOTA, "the model's %llu bytes are more than this server's whole model cache "
                                          "(--cache-max %llu bytes)",
                        (unsigned long long)need, (unsigned long long)max);
    DIR *d = opendir(c->dir);
    if (!d)
        return tt_error(TETHER_ERR_IO, "cannot list the model cache %s: %s", c->dir, strerror(errno));
    stored *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint8_t h[TT_WIRE_HASH_LEN];
        char path[1200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", c->dir, de->d_name);
        if (!name_hash(de->d_name, h) || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            memcmp(h, keep, sizeof h) == 0)
            continue;
        total += (uint64_t)st.st_size;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            stored *g = tt_realloc(v, sizeof *v * cap);
            if (!g)
                break;
            v = g;
        }
        snprintf(v[n].name, sizeof v[n].name, "%s", de->d_name);
        v[n].bytes = (uint64_t)st.st_size;
        v[n++].used = st.st_mtim;
    }
    closedir(d);
    if (v)
        qsort(v, n, sizeof *v, by_oldest);
    for (size_t i = 0; i < n && total + need > max; i++) {
        uint8_t h[TT_WIRE_HASH_LEN];
        name_hash(v[i].name, h);
        pthread_mutex_lock(&c->lock);
        /* the model's sessions: the plain one and those opened with input dims */
        bool in_use = false;
        for (tt_model_entry *e = c->entries; e; e = e->next)
            in_use |= memcmp(e->hash, h, sizeof h) == 0 && (e->refs > 0 || e->loading);
        tt_model_entry *gone = NULL;
        for (tt_model_entry **p = &c->entries; !in_use && *p;) {
            tt_model_entry *e = *p;
            if (memcmp(e->hash, h, sizeof h) != 0) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            e->next = gone;
            gone = e;
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", c->dir, v[i].name);
        if (!in_use && unlink(path) == 0) {
            total -= v[i].bytes;
            tt_log(TT_LOG_INFO, "model %.12s deleted from the cache (least recently used; --cache-max)", v[i].name);
        }
        pthread_mutex_unlock(&c->lock);
        while (gone) {
            tt_model_entry *e = gone;
            gone = e->next;
            entry_free(e);
        }
    }
    tt_free(v);
    if (total + need > max)
        return tt_error(TETHER_ERR_BUSY,
                        "the model cache is full of models in use (%llu of its %llu bytes) and this one needs %llu; "
                        "try again when some are closed",
                        (unsigned long long)total, (unsigned long long)max, (unsigned long long)need);
    return TT_OK;
}

void tt_cache_trim(tt_cache *c)
{
    static const uint8_t none[TT_WIRE_HASH_LEN];
    pthread_mutex_lock(&c->put_lock);
    if (make_room(c, none, 0) != TT_OK) {
        tt_log(TT_LOG_WARN, "model cache: %s", tt_last_error());
        tt_error_clear();
    }
    pthread_mutex_unlock(&c->put_lock);
}

tt_status tt_cache_put(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], const void *data, size_t n)
{
    uint8_t got[TT_WIRE_HASH_LEN];
    tt_sha256(data, n, got);
    if (CRYPTO_memcmp(got, hash, sizeof got) != 0) {
        char want_hex[65], got_hex[65];
        tt_hex(hash, TT_WIRE_HASH_LEN, want_hex);
        tt_hex(got, TT_WIRE_HASH_LEN, got_hex);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "the uploaded %zu bytes hash to %.16s…, not to the %.16s… they "
                        "were sent as (corrupted upload?)",
                        n, got_hex, want_hex);
    }
    char path[1200], tmp[1250];
    blob_path(c, hash, path, sizeof path);
    pthread_mutex_lock(&c->put_lock);
    if (tt_cache_has(c, hash)) {
        /* kept only when intact: an upload over a damaged copy replaces it */
        if (stored_intact(path, hash, n)) {
            touch(path);
            pthread_mutex_unlock(&c->put_lock);
            return TT_OK;
        }
        tt_log(TT_LOG_WARN, "model %.12s: the stored copy is damaged; the upload replaces it",
               path + strlen(c->dir) + 1);
    }
    tt_status room = make_room(c, hash, n);
    if (room != TT_OK) {
        pthread_mutex_unlock(&c->put_lock);
        return room;
    }
    /* a unique temporary name: two uploads of one model may race, and rename settles it */
    snprintf(tmp, sizeof tmp, "%s.%ld.%lld.tmp", path, (long)getpid(), (long long)mono_ns());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        pthread_mutex_unlock(&c->put_lock);
        return tt_error(TETHER_ERR_IO, "cannot store the model in %s: %s", c->dir, strerror(errno));
    }
    size_t off = 0;
    tt_status s = TT_OK;
    while (off < n && s == TT_OK) {
        ssize_t k = write(fd, (const char *)data + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            s = tt_error(TETHER_ERR_IO, "cannot store the model in %s: %s", c->dir,
                         k < 0 ? strerror(errno) : "short write");
        else
            off += (size_t)k;
    }
    if (s == TT_OK && fsync(fd) != 0)
        s = tt_error(TETHER_ERR_IO, "cannot store the model in %s: fsync: %s", c->dir, strerror(errno));
    close(fd);
    if (s == TT_OK && rename(tmp, path) != 0)
        s = tt_error(TETHER_ERR_IO, "cannot store the model as %s: %s", path, strerror(errno));
    if (s != TT_OK)
        unlink(tmp);
    else
        tt_log(TT_LOG_INFO, "model %.12s stored (%zu bytes)", path + strlen(c->dir) + 1, n);
    pthread_mutex_unlock(&c->put_lock);
    return s;
}

static const uint8_t no_variant[TT_WIRE_HASH_LEN];

/* The entry of hash opened with the input dims whose digest is `variant` (zero: none). */
static tt_model_entry *find_variant_locked(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN],
                                           const uint8_t variant[TT_WIRE_HASH_LEN])
{
    for (tt_model_entry *e = c->entries; e; e = e->next)
        if (memcmp(e->hash, hash, TT_WIRE_HASH_LEN) == 0 && memcmp(e->variant, variant, TT_WIRE_HASH_LEN) == 0)
            return e;
    return NULL;
}

static tt_model_entry *find_locked(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN])
{
    return find_variant_locked(c, hash, no_variant);
}

/* The digest that tells sessions opened with different input dims apart (zero for none). */
static tt_status dims_digest(const tether_input_dims *dims, size_t n, uint8_t out[TT_WIRE_HASH_LEN])
{
    memset(out, 0, TT_WIRE_HASH_LEN);
    if (!n)
        return TT_OK;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(dims[i].name) + 1 + sizeof(int32_t) + sizeof(int64_t) * TETHER_MAX_RANK;
    uint8_t *buf = tt_calloc(1, len), *p = buf;
    if (!buf)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(dims[i].name) + 1;
        memcpy(p, dims[i].name, k);
        p += k;
        int32_t rank = dims[i].rank;
        memcpy(p, &rank, sizeof rank);
        p += sizeof rank;
        for (int d = 0; d < dims[i].rank && d < TETHER_MAX_RANK; d++)
            memcpy(p + sizeof(int64_t) * (size_t)d, &dims[i].dims[d], sizeof(int64_t));
        p += sizeof(int64_t) * TETHER_MAX_RANK;
    }
    tt_sha256(buf, len, out);
    tt_free(buf);
    out[0] |= 1; /* never all zero */
    return TT_OK;
}

static void unlink_locked(tt_cache *c, tt_model_entry *e)
{
    for (tt_model_entry **p = &c->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            return;
        }
}

typedef struct open_call {
    const void *data;
    size_t n;
    const tether_session_config *cfg;
    tether_session *s;
} open_call;

static tt_status open_call_main(void *arg)
{
    open_call *o = arg;
    return tether_session_open_bytes(&o->s, o->data, o->n, o->cfg);
}

static tt_status open_entry(tt_cache *c, tt_model_entry *e, const tether_input_dims *dims, size_t n_dims)
{
    char path[1200];
    blob_path(c, e->hash, path, sizeof path);
    void *data;
    size_t n;
    TT_TRY(tt_read_file(path, (size_t)1 << 36, &data, &n));
    /* the disk is not trusted: what was stored under a hash must still hash to it */
    uint8_t got[TT_WIRE_HASH_LEN];
    tt_sha256(data, n, got);
    if (CRYPTO_memcmp(got, e->hash, sizeof got) != 0) {
        tt_free(data);
        char got_hex[65];
        tt_hex(got, sizeof got, got_hex);
        tt_log(TT_LOG_WARN, "model %.12s: the stored copy is corrupt (its %zu bytes hash to %.12s); deleted", e->hex, n,
               got_hex);
        unlink(path);
        return tt_error(TETHER_ERR_NOT_FOUND,
                        "model %s: the server's stored copy was corrupt and has been deleted; upload the model "
                        "again",
                        e->hex);
    }
    touch(path);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.run_limit_ms = c->run_limit_ms;
    if (c->target[0])
        cfg.target = c->target;
    cfg.device_memory_limit = c->device_limit;
    cfg.input_dims = dims;
    cfg.n_input_dims = n_dims;
    int64_t t0 = mono_ns();
    /* opened on a thread of its own, in this one's name (quota, cancellation): the OpenMP
     * helpers its compile starts end with it instead of staying beside the scheduler's */
    open_call o = {.data = data, .n = n, .cfg = &cfg};
    tt_status st = tt_threads_apart(open_call_main, &o);
    tether_session *s = o.s;
    tt_free(data);
    if (st != TT_OK)
        return tt_error_prefix(st, "model %.12s could not be opened: ", e->hex);
    tether_session_stats_get(s, &e->stats);
    /* on a GPU a slot is charged the device memory the session really holds */
    e->bytes = e->stats.device_bytes ? e->stats.device_bytes : e->stats.weight_bytes + e->stats.activation_bytes;
    atomic_store(&e->last_flops, e->stats.flops);
    e->session = s;
    tt_log(TT_LOG_INFO, "model %.12s opened in %.1f ms: %d nodes, %.1f MiB weights, %.1f MiB activations, %.3f GFLOP",
           e->hex, (mono_ns() - t0) / 1e6, e->stats.nodes, e->stats.weight_bytes / 1048576.0,
           e->stats.activation_bytes / 1048576.0, e->stats.flops / 1e9);
    return TT_OK;
}

tt_status tt_cache_acquire(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], tt_model_entry **out)
{
    return tt_cache_acquire_dims(c, hash, NULL, 0, out);
}

tt_status tt_cache_acquire_dims(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], const tether_input_dims *dims,
                                size_t n_dims, tt_model_entry **out)
{
    uint8_t variant[TT_WIRE_HASH_LEN];
    TT_TRY(dims_digest(dims, n_dims, variant));
    pthread_mutex_lock(&c->lock);
    tt_model_entry *e;
    for (;;) {
        e = find_variant_locked(c, hash, variant);
        if (!e || !e->loading)
            break;
        pthread_cond_wait(&c->loaded, &c->lock);
    }
    if (e) {
        e->refs++;
        pthread_mutex_unlock(&c->lock);
        char path[1200];
        blob_path(c, hash, path, sizeof path);
        touch(path);
        *out = e;
        return TT_OK;
    }
    char hex[65];
    tt_hex(hash, TT_WIRE_HASH_LEN, hex);
    if (!tt_cache_has(c, hash)) {
        pthread_mutex_unlock(&c->lock);
        return tt_error(TETHER_ERR_NOT_FOUND, "unknown model hash %s: upload the model first", hex);
    }
    e = tt_calloc(1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(e->hash, hash, TT_WIRE_HASH_LEN);
    memcpy(e->hex, hex, sizeof e->hex);
    memcpy(e->variant, variant, sizeof variant);
    e->custom = n_dims > 0;
    e->loading = true;
    e->refs = 1;
    e->next = c->entries;
    c->entries = e;
    pthread_mutex_unlock(&c->lock);

    tt_status st = open_entry(c, e, dims, n_dims);

    pthread_mutex_lock(&c->lock);
    e->loading = false;
    if (st != TT_OK)
        unlink_locked(c, e);
    pthread_cond_broadcast(&c->loaded);
    pthread_mutex_unlock(&c->lock);
    if (st != TT_OK) {
        entry_free(e);
        return st;
    }
    *out = e;
    return TT_OK;
}

void tt_cache_retain(tt_cache *c, tt_model_entry *e)
{
    pthread_mutex_lock(&c->lock);
    e->refs++;
    pthread_mutex_unlock(&c->lock);
}

void tt_cache_release_drop(tt_cache *c, tt_model_entry *e)
{
    pthread_mutex_lock(&c->lock);
    bool last = --e->refs == 0;
    if (last)
        unlink_locked(c, e);
    pthread_mutex_unlock(&c->lock);
    if (last) {
        tt_log(TT_LOG_DEBUG, "model %.12s dropped from memory (refused)", e->hex);
        entry_free(e);
    }
}

uint64_t tt_cache_stored_size(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN])
{
    pthread_mutex_lock(&c->lock);
    tt_model_entry *e = find_locked(c, hash);
    bool open = e && !e->loading;
    pthread_mutex_unlock(&c->lock);
    char path[1200];
    blob_path(c, hash, path, sizeof path);
    struct stat st;
    return !open && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

/* Unlinks the unused models past the warm bounds, longest unused first, onto *out (lock held). */
static void trim_warm_locked(tt_cache *c, tt_model_entry **out)
{
    uint64_t max = atomic_load(&c->keep_bytes);
    for (;;) {
        int idle = 0;
        uint64_t bytes = 0;
        tt_model_entry *oldest = NULL;
        for (tt_model_entry *x = c->entries; x; x = x->next) {
            if (x->refs || x->loading)
                continue;
            idle++;
            bytes += x->bytes;
            if (!oldest || x->idle_since_ns < oldest->idle_since_ns)
                oldest = x;
        }
        if (!oldest || (idle <= c->keep_idle && bytes <= max))
            return;
        unlink_locked(c, oldest);
        oldest->next = *out;
        *out = oldest;
    }
}

static void free_evicted(tt_model_entry *e)
{
    while (e) {
        tt_model_entry *next = e->next;
        tt_log(TT_LOG_DEBUG, "model %.12s evicted from memory (still stored; %.1f MiB)", e->hex, e->bytes / 1048576.0);
        entry_free(e);
        e = next;
    }
}

void tt_cache_release(tt_cache *c, tt_model_entry *e)
{
    if (!e)
        return;
    tt_model_entry *evict = NULL;
    pthread_mutex_lock(&c->lock);
    if (--e->refs == 0) {
        e->idle_since_ns = mono_ns();
        /* unused models stay warm up to a count and a size: the ones idle longest go first */
        trim_warm_locked(c, &evict);
    }
    pthread_mutex_unlock(&c->lock);
    free_evicted(evict);
}

void tt_cache_trim_warm(tt_cache *c)
{
    tt_model_entry *evict = NULL;
    pthread_mutex_lock(&c->lock);
    trim_warm_locked(c, &evict);
    pthread_mutex_unlock(&c->lock);
    free_evicted(evict);
}

/* ---- warm restarts ------------------------------------------------------------------ */

static int by_recency(const void *a, const void *b)
{
    const tt_model_entry *x = *(tt_model_entry *const *)a, *y = *(tt_model_entry *const *)b;
    if ((x->refs > 0) != (y->refs > 0))
        return y->refs > 0 ? 1 : -1; /* in use first */
    return x->idle_since_ns < y->idle_since_ns ? 1 : x->idle_since_ns > y->idle_since_ns ? -1 : 0;
}

void tt_cache_save_warm(tt_cache *c)
{
    char path[1200], tmp[1220];
    snprintf(path, sizeof path, "%s/warm.txt", c->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    pthread_mutex_lock(&c->lock);
    int n = 0;
    for (tt_model_entry *e = c->entries; e; e = e->next)
        n += e->session != NULL;
    tt_model_entry **v = tt_calloc((size_t)n + 1, sizeof *v);
    int k = 0;
    for (tt_model_entry *e = c->entries; e && v; e = e->next)
        if (e->session && !e->custom) /* a repository's own session opens again with its model */
            v[k++] = e;
    if (v)
        qsort(v, (size_t)k, sizeof *v, by_recency);
    for (int i = 0; i < k && i < c->keep_idle; i++)
        fprintf(f, "%s\n", v[i]->hex);
    pthread_mutex_unlock(&c->lock);
    tt_free(v);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        unlink(tmp);
}

static tt_status preload_stopped(void *ud)
{
    tt_cache *c = ud;
    return atomic_load(&c->stop_preload) ? tt_error(TETHER_ERR_BUSY, "the server is shutting down") : TT_OK;
}

static void *preload_main(void *arg)
{
    tt_cache *c = arg;
    tt_cancel_install(preload_stopped, c); /* a model's warm-up stops when the server does */
    char path[1200], line[256];
    snprintf(path, sizeof path, "%s/warm.txt", c->dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && !atomic_load(&c->stop_preload) && fgets(line, sizeof line, f)) {
        uint8_t hash[TT_WIRE_HASH_LEN];
        bool ok = strlen(line) >= 2 * TT_WIRE_HASH_LEN;
        for (int i = 0; ok && i < TT_WIRE_HASH_LEN; i++) {
            unsigned v;
            ok = sscanf(line + 2 * i, "%2x", &v) == 1;
            hash[i] = (uint8_t)v;
        }
        tt_model_entry *e;
        if (ok && tt_cache_acquire(c, hash, &e) == TT_OK) {
            tt_cache_release(c, e);
            n++;
        }
        tt_error_clear();
    }
    if (f)
        fclose(f);
    if (n)
        tt_log(TT_LOG_INFO, "%d model%s open again, as before the restart", n, n > 1 ? "s" : "");
    return NULL;
}

void tt_cache_preload_start(tt_cache *c)
{
    atomic_store(&c->stop_preload, false);
    c->preloading = pthread_create(&c->preloader, NULL, preload_main, c) == 0;
}

void tt_cache_preload_stop(tt_cache *c)
{
    if (!c->preloading)
        return;
    atomic_store(&c->stop_preload, true); /* a model being opened stops at its warm-up's next check */
    pthread_join(c->preloader, NULL);
    c->preloading = false;
}

void tt_cache_counts(tt_cache *c, int *stored, int *open)
{
    *stored = *open = 0;
    pthread_mutex_lock(&c->lock);
    for (tt_model_entry *e = c->entries; e; e = e->next)
        *open += e->session != NULL;
    pthread_mutex_unlock(&c->lock);
    DIR *d = opendir(c->dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        *stored += strlen(de->d_name) == 2 * TT_WIRE_HASH_LEN + 5 && strstr(de->d_name, ".onnx") != NULL;
    if (d)
        closedir(d);
}

void tt_cache_warm(tt_cache *c, int *n, uint64_t *bytes)
{
    *n = 0;
    *bytes = 0;
    pthread_mutex_lock(&c->lock);
    for (tt_model_entry *e = c->entries; e; e = e->next)
        if (!e->refs && !e->loading && e->session) {
            (*n)++;
            *bytes += e->bytes;
        }
    pthread_mutex_unlock(&c->lock);
}
