/* libFuzzer target for what a fleet client reads and acts on (src/fleet/fleet.c):
 *   - the records in etcd, which any server of the fleet writes (a hostile or broken one
 *     included): an input of lines "KEY<TAB>VALUE" is taken as a read of /tether/ and built
 *     into a view (server records and their free lists, slot records, free keys, claims);
 *   - etcd's answer to a transaction in gRPC (src/fleet/etcd_pb.c), for an input that starts
 *     with a zero byte (gRPC's prefix): decoded, and its key-values built into a view;
 *   - the view file a process leaves in $TETHER_HOME for the next (an input that starts with
 *     its magic), parsed without its age check.
 * Either view then goes through placement as a client's would: choosing a slot of each type
 * it names, pinned to a server and not, in a zone and not, with some slots skipped. */
#include "core/mem.h"
#include "fleet/etcd_pb.h"
#include "fleet/fleet.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void place_in(const tt_fleet_view *v, uint32_t seed)
{
    bool *skip = calloc((size_t)v->n_slots + 1, sizeof *skip);
    if (!skip)
        return;
    for (int i = 0; i < v->n_slots; i++)
        skip[i] = (seed >> (i % 32)) & 1;
    for (int i = 0; i < v->n_slots && i < 8; i++) {
        const tt_fleet_slot *sl = &v->slots[i];
        const tt_fleet_server *srv = tt_fleet_view_server(v, sl->server);
        tt_fleet_want w = {.type = sl->type};
        int k = -1;
        if (tt_fleet_choose(v, &w, seed + (uint32_t)i, NULL, "etcd://fuzz", &k) == TETHER_OK &&
            (k < 0 || k >= v->n_slots))
            abort();
        w.server = srv ? srv->id : sl->server;
        w.zone = srv ? srv->zone : NULL;
        const char *ex[1] = {sl->server};
        if (tt_fleet_choose(v, &w, seed, skip, "etcd://fuzz", &k) == TETHER_OK && (k < 0 || k >= v->n_slots))
            abort();
        w.server = NULL;
        w.exclude = ex;
        w.n_exclude = 1;
        if (tt_fleet_choose(v, &w, seed, skip, "etcd://fuzz", &k) == TETHER_OK &&
            (k < 0 || k >= v->n_slots || strcmp(v->slots[k].server, sl->server) == 0))
            abort();
    }
    tt_fleet_want none = {.type = "eia2.medium"};
    int k;
    (void)tt_fleet_choose(v, &none, seed, NULL, "etcd://fuzz", &k);
    free(skip);
    tt_error_clear();
}

/* The input's lines as key-values: "KEY\tVALUE" (no tab: an empty value). */
static void from_records(const uint8_t *data, size_t size, uint32_t seed)
{
    tt_etcd_kvs kvs;
    memset(&kvs, 0, sizeof kvs);
    size_t cap = 1;
    for (size_t i = 0; i < size; i++)
        cap += data[i] == '\n';
    kvs.kv = tt_calloc(cap, sizeof *kvs.kv); /* freed by tt_etcd_kvs_free */
    char *text = malloc(size + 1);
    if (!kvs.kv || !text) {
        tt_free(kvs.kv);
        free(text);
        return;
    }
    memcpy(text, data, size);
    text[size] = 0;
    for (char *line = text, *next; line && kvs.n < cap; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *tab = strchr(line, '\t');
        if (tab)
            *tab = 0;
        tt_etcd_kv *kv = &kvs.kv[kvs.n++];
        kv->key = tt_strdup(line);
        kv->value = tt_strdup(tab ? tab + 1 : "");
        kv->value_len = kv->value ? strlen(kv->value) : 0;
        kv->lease = (int64_t)kvs.n;
        kv->mod_rev = kv->create_rev = (int64_t)kvs.n;
        if (!kv->key || !kv->value)
            break;
    }
    free(text);
    tt_fleet_view v;
    if (tt_fleet_view_build(&kvs, &v) == TETHER_OK) {
        place_in(&v, seed);
        tt_fleet_view_free(&v);
    }
    tt_error_clear();
    tt_etcd_kvs_free(&kvs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = 0;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = seed * 31 + data[i];
    static const char magic[] = "tether-fleet-view-1";
    if (size >= sizeof magic && memcmp(data, magic, sizeof magic) == 0) {
        tt_fleet_view v;
        if (tt_fleet_view_file_parse(data, size, "etcd://fuzz", false, &v)) {
            place_in(&v, seed);
            tt_fleet_view_free(&v);
        }
        return 0;
    }
    if (size > 0 && data[0] == 0) {
        tt_etcd_kvs kvs;
        bool won;
        int64_t rev;
        if (tt_etcd_pb_txn_reply(data, size, &won, &rev, &kvs) == TETHER_OK) {
            tt_fleet_view v;
            if (tt_fleet_view_build(&kvs, &v) == TETHER_OK) {
                place_in(&v, seed);
                tt_fleet_view_free(&v);
            }
            tt_etcd_kvs_free(&kvs);
        }
        tt_error_clear();
        return 0;
    }
    from_records(data, size, seed);
    return 0;
}
