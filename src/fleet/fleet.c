/* Fleet records (JSON in etcd), views of the fleet (all of it, or what placement needs: the
 * servers and the free slots of one type), and placement: choose the least-loaded server
 * offering a free slot of the type, then claim that slot with a compare-and-swap
 * transaction. A lost race (someone else claimed or changed the slot
 * first) moves on to another slot; after a few, the view is read again. */
#include "fleet/fleet.h"

#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"
#include "net/sock.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tt_fleet_key_server(char *out, size_t n, const char *server)
{
    snprintf(out, n, TT_FLEET_PREFIX "servers/%s", server);
}

void tt_fleet_key_slot(char *out, size_t n, const char *server, int index)
{
    snprintf(out, n, TT_FLEET_PREFIX "slots/%s/%d", server, index);
}

void tt_fleet_key_claim(char *out, size_t n, const char *server, int index)
{
    snprintf(out, n, TT_FLEET_PREFIX "claims/%s/%d", server, index);
}

void tt_fleet_key_free(char *out, size_t n, const char *type, const char *server, int index)
{
    snprintf(out, n, TT_FLEET_PREFIX "free/%s/%s/%d", type, server, index);
}

/* ---- records ---------------------------------------------------------------------------- */

char *tt_fleet_server_json(const tt_fleet_server *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "endpoint", s->endpoint);
    cJSON_AddStringToObject(o, "zone", s->zone);
    cJSON_AddStringToObject(o, "device", s->device);
    cJSON_AddBoolToObject(o, "tls", s->tls);
    cJSON_AddNumberToObject(o, "slots", s->slots);
    cJSON_AddNumberToObject(o, "attached", s->attached);
    cJSON_AddStringToObject(o, "types", s->types);
    cJSON_AddStringToObject(o, "version", s->version);
    if (s->claim_timeout_s > 0)
        cJSON_AddNumberToObject(o, "claim_timeout", s->claim_timeout_s);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

char *tt_fleet_server_json_with_free(const tt_fleet_server *s, const tt_fleet_slot *slots, int n)
{
    char *base = tt_fleet_server_json(s);
    cJSON *o = base ? cJSON_Parse(base) : NULL;
    cJSON_free(base);
    cJSON *free_lists = o ? cJSON_AddObjectToObject(o, "free") : NULL;
    if (!free_lists) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (slots[i].attached)
            continue;
        cJSON *list = cJSON_GetObjectItemCaseSensitive(free_lists, slots[i].type);
        if (!list)
            list = cJSON_AddArrayToObject(free_lists, slots[i].type);
        cJSON_AddItemToArray(list, cJSON_CreateNumber(slots[i].index));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

char *tt_fleet_slot_json(const tt_fleet_slot *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "server", s->server);
    cJSON_AddNumberToObject(o, "index", s->index);
    cJSON_AddStringToObject(o, "type", s->type);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)s->memory_bytes);
    cJSON_AddNumberToObject(o, "tflops", s->tflops);
    cJSON_AddStringToObject(o, "state", s->attached ? "attached" : "free");
    cJSON_AddStringToObject(o, "attachment", s->attachment);
    cJSON_AddStringToObject(o, "holder", s->holder);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static bool get_str(const cJSON *o, const char *k, char *out, size_t n, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= n) {
        out[0] = 0;
        return !required && !v;
    }
    snprintf(out, n, "%s", v->valuestring);
    return true;
}

static double get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

tt_status tt_fleet_server_parse(const char *json, tt_fleet_server *s)
{
    memset(s, 0, sizeof *s);
    cJSON *o = cJSON_Parse(json);
    bool ok = cJSON_IsObject(o) && get_str(o, "id", s->id, sizeof s->id, true) && s->id[0] &&
              get_str(o, "endpoint", s->endpoint, sizeof s->endpoint, true) && s->endpoint[0] &&
              get_str(o, "zone", s->zone, sizeof s->zone, false) &&
              get_str(o, "device", s->device, sizeof s->device, false) &&
              get_str(o, "version", s->version, sizeof s->version, false) &&
              get_str(o, "types", s->types, sizeof s->types, false);
    if (ok) {
        s->tls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tls"));
        double n = get_num(o, "slots"), a = get_num(o, "attached"), ct = get_num(o, "claim_timeout");
        s->slots = n >= 0 && n <= TT_FLEET_MAX_COUNT ? (int)n : 0;
        s->attached = a >= 0 && a <= s->slots ? (int)a : 0;
        s->claim_timeout_s = ct >= 1 && ct <= 3600 ? (int)ct : 0;
    }
    cJSON_Delete(o);
    return ok ? TT_OK : tt_error(TETHER_ERR_PROTOCOL, "a malformed server record in the fleet");
}

tt_status tt_fleet_slot_parse(const char *json, tt_fleet_slot *s)
{
    memset(s, 0, sizeof *s);
    cJSON *o = cJSON_Parse(json);
    char state[16] = "";
    bool ok = cJSON_IsObject(o) && get_str(o, "server", s->server, sizeof s->server, true) &&
              get_str(o, "type", s->type, sizeof s->type, true) && s->type[0] &&
              get_str(o, "state", state, sizeof state, true) &&
              get_str(o, "attachment", s->attachment, sizeof s->attachment, false) &&
              get_str(o, "holder", s->holder, sizeof s->holder, false);
    double index = ok ? get_num(o, "index") : -1, mem = ok ? get_num(o, "memory_bytes") : 0;
    ok = ok && index >= 0 && index < 1e6 && mem >= 0 && mem < 1.8e19 &&
         (strcmp(state, "free") == 0 || strcmp(state, "attached") == 0);
    if (ok) {
        s->index = (int)index;
        s->memory_bytes = (uint64_t)mem;
        s->tflops = get_num(o, "tflops");
        s->attached = strcmp(state, "attached") == 0;
    }
    cJSON_Delete(o);
    return ok ? TT_OK : tt_error(TETHER_ERR_PROTOCOL, "a malformed slot record in the fleet");
}

/* ---- the view ----------------------------------------------------------------------- */

void tt_fleet_view_free(tt_fleet_view *v)
{
    tt_free(v->servers);
    tt_free(v->slots);
    memset(v, 0, sizeof *v);
}

const tt_fleet_server *tt_fleet_view_server(const tt_fleet_view *v, const char *id)
{
    for (int i = 0; i < v->n_servers; i++)
        if (strcmp(v->servers[i].id, id) == 0)
            return &v->servers[i];
    return NULL;
}

/* "ID/INDEX" after a key's kind prefix: the server id and index, or false. */
static bool split_id_index(const char *rest, char *id, size_t n, int *index)
{
    const char *slash = strrchr(rest, '/');
    if (!slash || slash == rest || (size_t)(slash - rest) >= n)
        return false;
    char *end;
    long i = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || i < 0 || i >= 1000000)
        return false;
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = 0;
    *index = (int)i;
    return true;
}

static int cmp_slot(const void *a, const void *b)
{
    const tt_fleet_slot *x = a, *y = b;
    int c = strcmp(x->server, y->server);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* "TYPE/ID/INDEX" after the free prefix: the last two parts are the server and index. */
static bool split_free(const char *rest, char *type, size_t tn, char *id, size_t idn, int *index)
{
    const char *last = strrchr(rest, '/');
    if (!last || last == rest)
        return false;
    const char *mid = last - 1;
    while (mid > rest && *mid != '/')
        mid--;
    if (mid == rest || (size_t)(mid - rest) >= tn)
        return false;
    memcpy(type, rest, (size_t)(mid - rest));
    type[mid - rest] = 0;
    return split_id_index(mid + 1, id, idn, index);
}

tt_status tt_fleet_view_build(const tt_etcd_kvs *kvs, tt_fleet_view *v)
{
    memset(v, 0, sizeof *v);
    v->revision = kvs->revision;
    v->servers = tt_calloc(kvs->n + 1, sizeof *v->servers);
    int slots_cap = (int)kvs->n + 16;
    v->slots = tt_calloc((size_t)slots_cap, sizeof *v->slots);
    bool *has_records = tt_calloc(kvs->n + 1, sizeof *has_records);
    if (!v->servers || !v->slots || !has_records) {
        tt_free(has_records);
        tt_fleet_view_free(v);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading the fleet");
    }
    static const char srv_p[] = TT_FLEET_PREFIX "servers/", slot_p[] = TT_FLEET_PREFIX "slots/",
                      free_p[] = TT_FLEET_PREFIX "free/", claim_p[] = TT_FLEET_PREFIX "claims/";
    for (size_t i = 0; i < kvs->n; i++) {
        const tt_etcd_kv *kv = &kvs->kv[i];
        if (strncmp(kv->key, srv_p, sizeof srv_p - 1) != 0)
            continue;
        tt_fleet_server *s = &v->servers[v->n_servers];
        if (tt_fleet_server_parse(kv->value, s) != TT_OK || strcmp(s->id, kv->key + sizeof srv_p - 1) != 0) {
            tt_error_clear();
            continue;
        }
        s->lease = kv->lease;
        v->n_servers++;
    }
    /* full slot records, where read */
    for (size_t i = 0; i < kvs->n; i++) {
        const tt_etcd_kv *kv = &kvs->kv[i];
        char id[TT_FLEET_ID];
        int index;
        if (strncmp(kv->key, slot_p, sizeof slot_p - 1) != 0 ||
            !split_id_index(kv->key + sizeof slot_p - 1, id, sizeof id, &index))
            continue;
        tt_fleet_slot *s = &v->slots[v->n_slots];
        if (tt_fleet_slot_parse(kv->value, s) != TT_OK || strcmp(s->server, id) != 0 || s->index != index) {
            tt_error_clear();
            continue;
        }
        const tt_fleet_server *srv = tt_fleet_view_server(v, id);
        if (!srv)
            continue; /* its server is gone (or not yet registered) */
        has_records[srv - v->servers] = true;
        s->mod_rev = kv->mod_rev;
        s->lease = kv->lease;
        v->n_slots++;
    }
    qsort(v->slots, (size_t)v->n_slots, sizeof *v->slots, cmp_slot);
    /* free keys: the slots whose record says free and whose server agrees */
    for (size_t i = 0; i < kvs->n; i++) {
        const tt_etcd_kv *kv = &kvs->kv[i];
        tt_fleet_slot key;
        memset(&key, 0, sizeof key);
        if (strncmp(kv->key, free_p, sizeof free_p - 1) != 0 ||
            !split_free(kv->key + sizeof free_p - 1, key.type, sizeof key.type, key.server, sizeof key.server,
                        &key.index))
            continue;
        tt_fleet_slot *s = bsearch(&key, v->slots, (size_t)v->n_slots, sizeof *v->slots, cmp_slot);
        if (s && !s->attached && strcmp(s->type, key.type) == 0)
            s->free = true;
    }
    /* servers whose slot records were not read: their free slots from their own free lists */
    for (size_t i = 0; i < kvs->n; i++) {
        const tt_etcd_kv *kv = &kvs->kv[i];
        if (strncmp(kv->key, srv_p, sizeof srv_p - 1) != 0)
            continue;
        const tt_fleet_server *srv = tt_fleet_view_server(v, kv->key + sizeof srv_p - 1);
        if (!srv || has_records[srv - v->servers])
            continue;
        cJSON *o = cJSON_Parse(kv->value);
        const cJSON *lists = cJSON_GetObjectItemCaseSensitive(o, "free"), *list;
        cJSON_ArrayForEach(list, lists)
        {
            const cJSON *ix;
            cJSON_ArrayForEach(ix, list)
            {
                if (!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= srv->slots ||
                    strlen(list->string) >= TT_FLEET_TYPE)
                    continue;
                if (v->n_slots == slots_cap) {
                    tt_fleet_slot *grown = tt_realloc(v->slots, sizeof *v->slots * (size_t)(2 * slots_cap));
                    if (!grown)
                        break;
                    v->slots = grown;
                    slots_cap *= 2;
                }
                tt_fleet_slot *s = &v->slots[v->n_slots++];
                memset(s, 0, sizeof *s);
                snprintf(s->server, sizeof s->server, "%s", srv->id);
                snprintf(s->type, sizeof s->type, "%s", list->string);
                s->index = (int)ix->valuedouble;
                s->free = true;
                s->lease = srv->lease;
            }
        }
        cJSON_Delete(o);
    }
    qsort(v->slots, (size_t)v->n_slots, sizeof *v->slots, cmp_slot);
    for (size_t i = 0; i < kvs->n; i++) {
        const tt_etcd_kv *kv = &kvs->kv[i];
        tt_fleet_slot key;
        if (strncmp(kv->key, claim_p, sizeof claim_p - 1) != 0 ||
            !split_id_index(kv->key + sizeof claim_p - 1, key.server, sizeof key.server, &key.index))
            continue;
        tt_fleet_slot *s = bsearch(&key, v->slots, (size_t)v->n_slots, sizeof *v->slots, cmp_slot);
        if (s)
            s->claimed = true;
    }
    /* counts: from the slot records where they were read, else the server's own */
    for (int i = 0; i < v->n_servers; i++)
        if (has_records[i])
            v->servers[i].slots = v->servers[i].attached = 0;
    for (int i = 0; i < v->n_slots; i++) {
        tt_fleet_server *s = (tt_fleet_server *)tt_fleet_view_server(v, v->slots[i].server);
        if (has_records[s - v->servers]) {
            s->slots++;
            s->attached += v->slots[i].attached;
        }
        s->claimed += v->slots[i].claimed && !v->slots[i].attached;
    }
    tt_free(has_records);
    return TT_OK;
}

tt_status tt_fleet_view_read(tt_etcd *e, int64_t deadline, tt_fleet_view *v)
{
    tt_etcd_kvs kvs;
    TT_TRY(tt_etcd_get_prefix(e, TT_FLEET_PREFIX, deadline, &kvs));
    tt_status st = tt_fleet_view_build(&kvs, v);
    tt_etcd_kvs_free(&kvs);
    return st;
}

tt_status tt_fleet_view_read_free(tt_etcd *e, int64_t deadline, tt_fleet_view *v)
{
    const char *prefixes[] = {TT_FLEET_PREFIX "servers/", TT_FLEET_PREFIX "claims/"};
    tt_etcd_kvs kvs;
    TT_TRY(tt_etcd_get_prefixes(e, prefixes, 2, deadline, &kvs));
    tt_status st = tt_fleet_view_build(&kvs, v);
    tt_etcd_kvs_free(&kvs);
    return st;
}

/* ---- placement ----------------------------------------------------------------------- */

static bool server_matches(const tt_fleet_server *s, const tt_fleet_want *w)
{
    for (int i = 0; i < w->n_exclude; i++)
        if (strcmp(s->id, w->exclude[i]) == 0)
            return false;
    if (w->zone && *w->zone && strcmp(s->zone, w->zone) != 0)
        return false;
    if (w->server && *w->server) {
        if (strcmp(s->id, w->server) == 0)
            return true;
        tt_endpoint a, b;
        bool same = tt_endpoint_parse(s->endpoint, &a) == TT_OK && tt_endpoint_parse(w->server, &b) == TT_OK &&
                    strcmp(a.host, b.host) == 0 && strcmp(a.port, b.port) == 0;
        tt_error_clear();
        return same;
    }
    return true;
}

/* How many slots of type a server has, from its "types" list. */
static int type_count(const tt_fleet_server *s, const char *type)
{
    size_t tl = strlen(type);
    for (const char *p = s->types; *p;) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        if ((size_t)(eq - p) == tl && strncmp(p, type, tl) == 0) {
            long n = strtol(eq + 1, NULL, 10); /* a server's own count: 0 .. TT_FLEET_MAX_COUNT */
            return n > 0 && n <= TT_FLEET_MAX_COUNT ? (int)n : 0;
        }
        const char *comma = strchr(eq, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352d;
    x ^= x >> 15;
    x *= 0x846ca68b;
    x ^= x >> 16;
    return x;
}

tt_status tt_fleet_choose(const tt_fleet_view *v, const tt_fleet_want *w, uint32_t seed, const bool *skip,
                          const char *fleet_name, int *slot)
{
    *slot = -1;
    /* the least-loaded eligible server with a free slot of the type */
    const tt_fleet_server *best = NULL;
    double best_load = 2;
    uint32_t best_tie = 0;
    int64_t of_type = 0;
    int eligible_servers = 0;
    for (int i = 0; i < v->n_servers; i++) {
        const tt_fleet_server *s = &v->servers[i];
        if (!server_matches(s, w))
            continue;
        eligible_servers++;
        int free_here = 0, listed = 0;
        for (int k = 0; k < v->n_slots; k++) {
            const tt_fleet_slot *sl = &v->slots[k];
            if (strcmp(sl->server, s->id) != 0 || strcmp(sl->type, w->type) != 0)
                continue;
            listed++;
            free_here += !sl->attached && !sl->claimed && sl->free && !(skip && skip[k]);
        }
        int counted = type_count(s, w->type);
        of_type += counted > listed ? counted : listed;
        if (!free_here)
            continue;
        double load = s->slots ? ((double)s->attached + s->claimed) / s->slots : 0;
        uint32_t tie = mix(seed ^ (uint32_t)i * 0x9e3779b9u);
        if (!best || load < best_load - 1e-9 || (load < best_load + 1e-9 && tie < best_tie)) {
            best = s;
            best_load = load;
            best_tie = tie;
        }
    }
    if (!best) {
        char where[200] = "";
        if (w->server && *w->server)
            snprintf(where + strlen(where), sizeof where - strlen(where), " on server %s", w->server);
        if (w->zone && *w->zone)
            snprintf(where + strlen(where), sizeof where - strlen(where), " in zone %s", w->zone);
        if (w->n_exclude)
            snprintf(where + strlen(where), sizeof where - strlen(where), " other than %s%s", w->exclude[0],
                     w->n_exclude > 1 ? " and the other failed ones" : "");
        if (!eligible_servers)
            return tt_error(TETHER_ERR_NOT_FOUND, "no free %s slot in fleet %s: no server%s is registered (%d in all)",
                            w->type, fleet_name, where, v->n_servers);
        if (!of_type)
            return tt_error(TETHER_ERR_NOT_FOUND, "no free %s slot in fleet %s: no server%s offers %s slots", w->type,
                            fleet_name, where, w->type);
        return tt_error(TETHER_ERR_BUSY,
                        "no free %s slot in fleet %s: all %" PRId64 " %s slot%s on %d server%s%s are attached or "
                        "being claimed",
                        w->type, fleet_name, of_type, w->type, of_type > 1 ? "s" : "", eligible_servers,
                        eligible_servers > 1 ? "s" : "", where);
    }
    /* one of its free slots, spread by seed so that racing clients pick different ones */
    int picks[64], n = 0, first = -1;
    for (int k = 0; k < v->n_slots; k++) {
        const tt_fleet_slot *sl = &v->slots[k];
        if (strcmp(sl->server, best->id) != 0 || strcmp(sl->type, w->type) != 0 || sl->attached || sl->claimed ||
            !sl->free || (skip && skip[k]))
            continue;
        if (first < 0)
            first = k;
        if (n < 64)
            picks[n++] = k;
    }
    *slot = n ? picks[mix(seed * 31u + 7u) % (uint32_t)n] : first;
    return TT_OK;
}

/* Free slots of the wanted type, on eligible servers, that someone is claiming: the claim
 * turns into a reservation, or is given back (a failed reservation), or times out. */
static int claims_pending(const tt_fleet_view *v, const tt_fleet_want *w)
{
    int n = 0;
    for (int k = 0; k < v->n_slots; k++) {
        const tt_fleet_slot *sl = &v->slots[k];
        const tt_fleet_server *srv = tt_fleet_view_server(v, sl->server);
        n += sl->free && sl->claimed && !sl->attached && strcmp(sl->type, w->type) == 0 && srv &&
             server_matches(srv, w);
    }
    return n;
}

static void pause_ms(uint32_t seed, int lo, int spread)
{
    struct timespec ts = {0, (long)(lo + (int)(mix(seed) % (uint32_t)spread)) * 1000000};
    nanosleep(&ts, NULL);
}

static uint32_t random_seed(void)
{
    uint32_t s;
    if (RAND_bytes((unsigned char *)&s, sizeof s) != 1)
        s = (uint32_t)tt_now_ns() ^ (uint32_t)getpid();
    return s;
}

/* ---- what a process remembers between placements ------------------------------------- */

/* The last view of the fleet this process read (a claim's transaction that fails returns a
 * fresh one; one that succeeds adds its claim to the view it chose from). A placement chooses from a remembered view younger than
 * VIEW_KEEP_MS: the claim's compare-and-swap checks the choice in etcd, and a claim that
 * fails brings back the fleet as it is, so a stale view costs a lost race, never a wrong
 * answer; "no free slot" is only ever said from a view read just now. */
#define VIEW_KEEP_MS 30000
static pthread_mutex_t g_mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char fleet[1024]; /* the etcd members the view is of */
    tt_fleet_view view;
    int64_t view_ns;
} g_mem;

/* Under g_mem_lock: forgets what was remembered of another fleet. */
static void mem_for_locked(const char *fleet)
{
    if (strcmp(g_mem.fleet, fleet) == 0)
        return;
    tt_fleet_view_free(&g_mem.view);
    snprintf(g_mem.fleet, sizeof g_mem.fleet, "%s", fleet);
}

static bool view_copy(const tt_fleet_view *from, tt_fleet_view *to)
{
    memset(to, 0, sizeof *to);
    to->servers = tt_malloc(sizeof *to->servers * ((size_t)from->n_servers + 1));
    to->slots = tt_malloc(sizeof *to->slots * ((size_t)from->n_slots + 1));
    if (!to->servers || !to->slots) {
        tt_fleet_view_free(to);
        return false;
    }
    memcpy(to->servers, from->servers, sizeof *to->servers * (size_t)from->n_servers);
    memcpy(to->slots, from->slots, sizeof *to->slots * (size_t)from->n_slots);
    to->n_servers = from->n_servers;
    to->n_slots = from->n_slots;
    to->revision = from->revision;
    return true;
}

/* ---- the view kept on disk, for the next process ---------------------------------------
 * A process's first placement would read the fleet before claiming: one more etcd round trip
 * on a new connection. The last view any process of this user took is kept in a file (see
 * tt_fleet_set_view_file; the client names one in TETHER_HOME), and a process that
 * remembers nothing chooses from it while it is younger than VIEW_KEEP_MS, exactly as from
 * its own memory: the claim's compare-and-swap checks the choice. The file is a cache: it is
 * written whole under a temporary name and renamed (no fsync), and one that is short, of
 * another layout, another fleet, too old or out of bounds is ignored. */
#define VIEW_FILE_MAGIC "tether-fleet-view-1"
#define VIEW_FILE_MAX_SERVERS 4096
#define VIEW_FILE_MAX_SLOTS 65536

typedef struct view_file_head {
    char magic[24];
    uint32_t server_size, slot_size;
    int32_t n_servers, n_slots;
    int64_t revision;
    int64_t written_ms; /* wall clock */
    char fleet[1024];
} view_file_head;

static char g_view_file[1200]; /* under g_mem_lock; empty: none */
static bool g_view_dirty;        /* under g_mem_lock: the remembered view is not in the file */
static pthread_once_t g_view_once = PTHREAD_ONCE_INIT;

static void view_file_write_locked(const char *fleet, const tt_fleet_view *v);

/* Writes the remembered view to the file when it changed since: at exit, off every
 * placement's path (a write and a rename take ~0.1 ms, a placement ~3 ms), and before the
 * file is pointed elsewhere. */
void tt_fleet_save_view(void)
{
    pthread_mutex_lock(&g_mem_lock);
    if (g_view_dirty && g_mem.view.servers && tt_now_ns() - g_mem.view_ns < (int64_t)VIEW_KEEP_MS * 1000000)
        view_file_write_locked(g_mem.fleet, &g_mem.view);
    g_view_dirty = false;
    pthread_mutex_unlock(&g_mem_lock);
}

static void save_at_exit(void) { atexit(tt_fleet_save_view); }

void tt_fleet_set_view_file(const char *path)
{
    pthread_once(&g_view_once, save_at_exit);
    path = path ? path : "";
    pthread_mutex_lock(&g_mem_lock);
    if (strcmp(g_view_file, path) != 0) {
        if (g_view_dirty && g_mem.view.servers)
            view_file_write_locked(g_mem.fleet, &g_mem.view);
        g_view_dirty = false;
        snprintf(g_view_file, sizeof g_view_file, "%s", path);
    }
    pthread_mutex_unlock(&g_mem_lock);
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#define TERMINATE(a) ((a)[sizeof(a) - 1] = 0)

/* A bool as the file has it: any byte but 0 is true (loading a bool from bytes that are
 * neither 0 nor 1 is undefined). */
static bool raw_bool(const bool *p)
{
    unsigned char c;
    memcpy(&c, p, 1);
    return c != 0;
}

bool tt_fleet_view_file_parse(const void *data, size_t n, const char *fleet, bool check_age, tt_fleet_view *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = data;
    view_file_head h;
    if (n < sizeof h)
        return false;
    memcpy(&h, p, sizeof h);
    if (memcmp(h.magic, VIEW_FILE_MAGIC, sizeof VIEW_FILE_MAGIC) != 0 || h.server_size != sizeof(tt_fleet_server) ||
        h.slot_size != sizeof(tt_fleet_slot) || h.n_servers <= 0 || h.n_servers > VIEW_FILE_MAX_SERVERS ||
        h.n_slots < 0 || h.n_slots > VIEW_FILE_MAX_SLOTS)
        return false;
    TERMINATE(h.fleet);
    int64_t now = wall_ms(); /* young: written in the last VIEW_KEEP_MS (no overflow) */
    bool young = h.written_ms <= now && h.written_ms > now - VIEW_KEEP_MS;
    if (strcmp(h.fleet, fleet) != 0 || (check_age && !young))
        return false;
    size_t servers = sizeof(tt_fleet_server) * (size_t)h.n_servers, slots = sizeof(tt_fleet_slot) * (size_t)h.n_slots;
    if (n != sizeof h + servers + slots)
        return false;
    out->servers = tt_malloc(servers);
    out->slots = tt_malloc(slots + sizeof(tt_fleet_slot));
    if (!out->servers || !out->slots) {
        tt_fleet_view_free(out);
        return false;
    }
    memcpy(out->servers, p + sizeof h, servers);
    memcpy(out->slots, p + sizeof h + servers, slots);
    out->n_servers = h.n_servers;
    out->n_slots = h.n_slots;
    out->revision = h.revision;
    /* every string bounded; every bool 0 or 1; every count sane; a slot names a server of
     * the view; the slots in their order */
    bool ok = true;
    for (int i = 0; i < out->n_servers; i++) {
        tt_fleet_server *v = &out->servers[i];
        TERMINATE(v->id), TERMINATE(v->endpoint), TERMINATE(v->zone), TERMINATE(v->device);
        TERMINATE(v->version), TERMINATE(v->types);
        v->tls = raw_bool(&v->tls);
        ok &= v->slots >= 0 && v->slots <= TT_FLEET_MAX_COUNT && v->attached >= 0 && v->attached <= v->slots &&
              v->claimed >= 0 && v->claimed <= VIEW_FILE_MAX_SLOTS && v->claim_timeout_s >= 0 &&
              v->claim_timeout_s <= 3600;
    }
    for (int i = 0; i < out->n_slots && ok; i++) {
        tt_fleet_slot *sl = &out->slots[i];
        TERMINATE(sl->server), TERMINATE(sl->type), TERMINATE(sl->attachment), TERMINATE(sl->holder);
        sl->attached = raw_bool(&sl->attached);
        sl->free = raw_bool(&sl->free);
        sl->claimed = raw_bool(&sl->claimed);
        ok = sl->index >= 0 && tt_fleet_view_server(out, sl->server) != NULL;
    }
    if (!ok) {
        tt_fleet_view_free(out);
        return false;
    }
    qsort(out->slots, (size_t)out->n_slots, sizeof *out->slots, cmp_slot);
    return true;
}

/* Under g_mem_lock: the view in the file, when it is usable for fleet. */
static bool view_file_read_locked(const char *fleet, tt_fleet_view *out)
{
    memset(out, 0, sizeof *out);
    if (!g_view_file[0])
        return false;
    void *data;
    size_t n;
    size_t max = sizeof(view_file_head) + sizeof(tt_fleet_server) * VIEW_FILE_MAX_SERVERS +
                 sizeof(tt_fleet_slot) * VIEW_FILE_MAX_SLOTS;
    if (tt_read_file(g_view_file, max, &data, &n) != TT_OK) {
        tt_error_clear();
        return false;
    }
    bool ok = tt_fleet_view_file_parse(data, n, fleet, true, out);
    tt_free(data);
    return ok;
}

/* Under g_mem_lock: writes v, a view of fleet, to the file (best effort). */
static void view_file_write_locked(const char *fleet, const tt_fleet_view *v)
{
    if (!g_view_file[0] || v->n_servers <= 0 || v->n_servers > VIEW_FILE_MAX_SERVERS || v->n_slots < 0 ||
        v->n_slots > VIEW_FILE_MAX_SLOTS)
        return;
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", g_view_file, (long)getpid());
    view_file_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, VIEW_FILE_MAGIC, sizeof VIEW_FILE_MAGIC);
    h.server_size = sizeof(tt_fleet_server);
    h.slot_size = sizeof(tt_fleet_slot);
    h.n_servers = v->n_servers;
    h.n_slots = v->n_slots;
    h.revision = v->revision;
    h.written_ms = wall_ms();
    snprintf(h.fleet, sizeof h.fleet, "%s", fleet);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* the user's own */
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 &&
              fwrite(v->servers, sizeof *v->servers, (size_t)v->n_servers, f) == (size_t)v->n_servers &&
              fwrite(v->slots, sizeof *v->slots, (size_t)v->n_slots, f) == (size_t)v->n_slots;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, g_view_file) != 0)
        unlink(tmp);
}

static bool view_recalled(const char *fleet, tt_fleet_view *out)
{
    pthread_mutex_lock(&g_mem_lock);
    mem_for_locked(fleet);
    bool ok = g_mem.view.servers && tt_now_ns() - g_mem.view_ns < (int64_t)VIEW_KEEP_MS * 1000000 &&
              view_copy(&g_mem.view, out);
    if (!ok)
        ok = view_file_read_locked(fleet, out);
    pthread_mutex_unlock(&g_mem_lock);
    return ok;
}

static void view_remember(const char *fleet, const tt_fleet_view *v)
{
    tt_fleet_view copy;
    if (!view_copy(v, &copy))
        return;
    pthread_mutex_lock(&g_mem_lock);
    mem_for_locked(fleet);
    if (!g_mem.view.servers || v->revision >= g_mem.view.revision) {
        tt_fleet_view_free(&g_mem.view);
        g_mem.view = copy;
        g_mem.view_ns = tt_now_ns();
        g_view_dirty = true;
    } else {
        tt_fleet_view_free(&copy); /* another thread brought a newer one meanwhile */
    }
    pthread_mutex_unlock(&g_mem_lock);
}

void tt_fleet_forget(void)
{
    tt_fleet_save_view(); /* as a process's exit would */
    pthread_mutex_lock(&g_mem_lock);
    tt_fleet_view_free(&g_mem.view);
    g_mem.fleet[0] = 0;
    pthread_mutex_unlock(&g_mem_lock);
}

/* ---- claiming ------------------------------------------------------------------------ */

#define MAX_SKIP 64
/* A server that publishes no claim timeout has the one servers had before they did */
#define CLAIM_TIMEOUT_UNKNOWN_S 20

/* How long a placement waits, at most, for the claims in flight on the last free slots: as
 * long as such a claim can live (its server's claim timeout, and a second for the server's
 * scan), and a second more. A live client's claim settles in milliseconds. */
static int64_t claim_wait_ns(const tt_fleet_view *v, const tt_fleet_want *w)
{
    int longest = 0;
    for (int k = 0; k < v->n_slots; k++) {
        const tt_fleet_slot *sl = &v->slots[k];
        const tt_fleet_server *srv = tt_fleet_view_server(v, sl->server);
        if (!sl->free || !sl->claimed || sl->attached || strcmp(sl->type, w->type) != 0 || !srv ||
            !server_matches(srv, w))
            continue;
        int t = srv->claim_timeout_s > 0 ? srv->claim_timeout_s : CLAIM_TIMEOUT_UNKNOWN_S;
        longest = t > longest ? t : longest;
    }
    return (int64_t)(longest + 2) * 1000000000;
}

static const char *const g_view_prefixes[] = {TT_FLEET_PREFIX "servers/", TT_FLEET_PREFIX "claims/"};

typedef struct skipped {
    char server[TT_FLEET_ID];
    int index;
} skipped;

/* Flags of v's slots that placement leaves out; NULL when out of memory. */
static bool *skip_flags(const tt_fleet_view *v, const skipped *sk, int n)
{
    bool *f = tt_calloc((size_t)v->n_slots + 1, sizeof *f);
    for (int k = 0; f && k < v->n_slots; k++)
        for (int i = 0; i < n && !f[k]; i++)
            f[k] = v->slots[k].index == sk[i].index && strcmp(v->slots[k].server, sk[i].server) == 0;
    return f;
}

/* The slot `index` of type on srv, held under the claim of revision rev (0: none). */
static void claim_fill(tt_fleet_claim *out, const tt_fleet_server *srv, const char *type, int index, int64_t rev)
{
    memset(out, 0, sizeof *out);
    snprintf(out->server, sizeof out->server, "%s", srv->id);
    snprintf(out->endpoint, sizeof out->endpoint, "%s", srv->endpoint);
    snprintf(out->zone, sizeof out->zone, "%s", srv->zone);
    snprintf(out->type, sizeof out->type, "%s", type);
    out->index = index;
    out->claim_rev = rev;
}

tt_status tt_fleet_claim_slot(tt_etcd *e, const tt_fleet_want *w, int64_t deadline, tt_fleet_claim *out)
{
    uint32_t seed = random_seed();
    const char *fleet = tt_etcd_name(e);
    tt_fleet_view v;
    bool fresh = false;
    tt_status st = TT_OK;
    if (!view_recalled(fleet, &v)) {
        st = tt_fleet_view_read_free(e, deadline, &v);
        fresh = true;
        if (st == TT_OK)
            view_remember(fleet, &v);
    }
    skipped skip[MAX_SKIP];
    int n_skip = 0, lost = 0, leases_gone = 0;
    int64_t waiting_since = 0;
    for (int attempt = 0; st == TT_OK; attempt++) {
        bool *flags = skip_flags(&v, skip, n_skip);
        int k;
        tt_status cs = flags ? tt_fleet_choose(&v, w, seed + (uint32_t)attempt, flags, fleet, &k)
                             : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        tt_free(flags);
        bool reread = false;
        if (cs != TT_OK) {
            int pending = cs == TETHER_ERR_BUSY ? claims_pending(&v, w) : 0;
            int64_t now = tt_now_ns();
            if (pending && !waiting_since)
                waiting_since = now;
            bool wait = pending && now - waiting_since < claim_wait_ns(&v, w) && now < deadline;
            if (cs == TETHER_ERR_NO_MEMORY || (fresh && !wait)) {
                if (pending) {
                    char why[700];
                    snprintf(why, sizeof why, "%s", tt_last_error());
                    cs = tt_error(cs, "%s (%d claimed by other clients that reserved nothing within %.0f s)", why,
                                  pending, (now - waiting_since) / 1e9);
                }
                st = cs;
                break;
            }
            /* a remembered view may be old: read the fleet as it is. Claims in flight settle,
             * are given back, or time out: read again after a moment */
            if (wait && fresh)
                pause_ms(seed + (uint32_t)attempt, 20, 60);
            reread = true;
        }
        if (!reread) {
            const tt_fleet_slot *sl = &v.slots[k];
            const tt_fleet_server *srv = tt_fleet_view_server(&v, sl->server);
            char free_key[300], claim_key[300];
            tt_fleet_key_free(free_key, sizeof free_key, sl->type, sl->server, sl->index);
            tt_fleet_key_claim(claim_key, sizeof claim_key, sl->server, sl->index);
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "holder", w->holder ? w->holder : "");
            cJSON_AddStringToObject(c, "type", w->type);
            char *value = cJSON_PrintUnformatted(c);
            cJSON_Delete(c);
            if (!value) {
                st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
                break;
            }
            /* the slot is still free (its free key exists) and nobody claimed it. When not,
             * the fleet as it is comes back in the same round trip; when it is, the view this
             * one chose from is remembered with the claim in it. The claim lives under the
             * server's lease (it goes with the server) until the server deletes it: when the
             * slot is published attached, or after its claim timeout */
            tt_etcd_cmp cmp[2] = {{free_key, TT_ETCD_CREATE, 0, true}, {claim_key, TT_ETCD_CREATE, 0, false}};
            tt_etcd_op op = {.key = claim_key, .value = value, .lease = sl->lease};
            if (w->chosen)
                w->chosen(w->chosen_ud, srv, sl->index);
            bool won;
            int64_t rev;
            tt_etcd_kvs kvs;
            st = tt_etcd_txn_read(e, cmp, 2, &op, 1, g_view_prefixes, 2, false, deadline, &won, &rev, &kvs);
            cJSON_free(value);
            if (st == TETHER_ERR_NOT_FOUND && leases_gone++ < 3) {
                /* the server's lease is no longer the one in the view (it registered again,
                 * or left): read the fleet as it is */
                tt_error_clear();
                st = TT_OK;
                reread = true;
            } else if (st != TT_OK) {
                break;
            } else if (won) {
                claim_fill(out, srv, sl->type, sl->index, rev);
                v.slots[k].claimed = true;
                v.servers[srv - v.servers].claimed++;
                if (rev > v.revision)
                    v.revision = rev;
                view_remember(fleet, &v);
                tt_etcd_kvs_free(&kvs);
                break;
            } else {
                skipped lost_slot;
                snprintf(lost_slot.server, sizeof lost_slot.server, "%s", sl->server);
                lost_slot.index = sl->index;
                /* the transaction read what it compared: with no claim on the slot, its free
                 * key was gone (the slot attached) */
                bool unclaimed = true;
                for (size_t i = 0; i < kvs.n && unclaimed; i++)
                    unclaimed = strcmp(kvs.kv[i].key, claim_key) != 0;
                tt_fleet_view_free(&v);
                st = tt_fleet_view_build(&kvs, &v);
                tt_etcd_kvs_free(&kvs);
                fresh = true;
                if (st != TT_OK)
                    break;
                view_remember(fleet, &v);
                /* lost: the fleet as it is shows why (claimed, or attached), unless the
                 * server's record and its free keys disagree for a moment (a publication in
                 * several transactions): then that slot is left out of this placement.
                 * Attached with no claim, it may be by the caller's own reservation, made
                 * while the claim ran and published first: then the slot is the caller's */
                const tt_fleet_slot *x = NULL;
                for (int i = 0; i < v.n_slots && !x; i++)
                    if (v.slots[i].index == lost_slot.index && strcmp(v.slots[i].server, lost_slot.server) == 0)
                        x = &v.slots[i];
                const tt_fleet_server *xs = tt_fleet_view_server(&v, lost_slot.server);
                bool taken = xs && unclaimed;
                if (w->lost && w->lost(w->chosen_ud, lost_slot.server, lost_slot.index, taken) && taken) {
                    claim_fill(out, xs, w->type, lost_slot.index, 0);
                    break;
                }
                if (x && x->free && !x->claimed && !x->attached && n_skip < MAX_SKIP)
                    skip[n_skip++] = lost_slot;
                lost++;
                if (lost >= 3)
                    pause_ms(seed + (uint32_t)attempt, 1, 20); /* many clients at once: spread the next try */
            }
        }
        if (tt_now_ns() >= deadline) {
            st = tt_error(TETHER_ERR_TIMEOUT,
                          "could not claim a %s slot in fleet %s before the deadline (lost %d races to other "
                          "clients)",
                          w->type, fleet, lost);
            break;
        }
        if (reread) {
            tt_fleet_view_free(&v);
            st = tt_fleet_view_read_free(e, deadline, &v);
            fresh = true;
            n_skip = 0;
            if (st == TT_OK)
                view_remember(fleet, &v);
        }
    }
    tt_fleet_view_free(&v);
    return st;
}

void tt_fleet_claim_drop(tt_etcd *e, const tt_fleet_claim *c, int64_t deadline)
{
    if (!c->claim_rev)
        return; /* held without a claim */
    char key[300];
    tt_fleet_key_claim(key, sizeof key, c->server, c->index);
    tt_etcd_cmp cmp = {key, TT_ETCD_MOD, c->claim_rev, false};
    tt_etcd_op op = {.del = true, .key = key};
    bool won;
    if (tt_etcd_txn(e, &cmp, 1, &op, 1, deadline, &won, NULL) != TT_OK)
        tt_log(TT_LOG_DEBUG, "could not give back the claim on %s: %s", key, tt_last_error());
    tt_error_clear();
}
