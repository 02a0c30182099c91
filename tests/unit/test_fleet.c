/* fleet/: base64 as etcd's gateway writes it, fleet records to JSON and back, a view built
 * from key-values, and placement — least loaded, zone, pin, exclusions, the errors that
 * name the type and the fleet — without an etcd (the integration tests have a real one). */
#include "check.h"

#include "core/mem.h"
#include "fleet/etcd.h"
#include "fleet/fleet.h"
#include "net/sock.h"

#include <cjson/cJSON.h>

#include <stdlib.h>

TEST(base64_round_trips)
{
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "/tether/slots/srv-1/0"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b, *d;
        size_t n;
        CHECK_OK(tt_base64_encode(cases[i], strlen(cases[i]), &b));
        if (want[i] && strcmp(b, want[i]) != 0)
            CHECK_FAIL("base64('%s') = '%s', expected '%s'", cases[i], b, want[i]);
        CHECK_OK(tt_base64_decode(b, &d, &n));
        CHECK_EQ_INT(n, strlen(cases[i]));
        CHECK(memcmp(d, cases[i], n) == 0 && d[n] == 0);
        tt_free(b);
        tt_free(d);
    }
    char *d;
    size_t n;
    CHECK_ERR(tt_base64_decode("abc", &d, &n), TETHER_ERR_PROTOCOL, "multiple of 4");
    CHECK_ERR(tt_base64_decode("a*c=", &d, &n), TETHER_ERR_PROTOCOL, "malformed");
}

TEST(records_round_trip_and_bad_ones_are_refused)
{
    tt_fleet_server s = {.id = "srv-a", .endpoint = "tls://10.0.0.1:7070", .zone = "z1", .device = "cpu",
                         .tls = true, .version = "0.1.0", .slots = 3};
    char *j = tt_fleet_server_json(&s);
    tt_fleet_server s2;
    CHECK_OK(tt_fleet_server_parse(j, &s2));
    CHECK(strcmp(s2.id, "srv-a") == 0 && strcmp(s2.endpoint, s.endpoint) == 0 && strcmp(s2.zone, "z1") == 0);
    CHECK(s2.tls && s2.slots == 3);
    cJSON_free(j);
    tt_fleet_slot sl = {.server = "srv-a", .index = 2, .type = "eia2.medium", .memory_bytes = 2147483648ull,
                        .tflops = 1, .attached = true, .attachment = "eia-x", .holder = "host1"};
    j = tt_fleet_slot_json(&sl);
    tt_fleet_slot sl2;
    CHECK_OK(tt_fleet_slot_parse(j, &sl2));
    CHECK(sl2.index == 2 && sl2.attached && sl2.memory_bytes == 2147483648ull);
    CHECK(strcmp(sl2.attachment, "eia-x") == 0 && strcmp(sl2.type, "eia2.medium") == 0);
    cJSON_free(j);
    const char *bad[] = {"", "[]", "{\"id\":\"x\"}", "{\"id\":5,\"endpoint\":\"e\"}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"weird\",\"index\":0}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"free\",\"index\":-1}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"free\",\"index\":1e9}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tt_fleet_server x;
        tt_fleet_slot y;
        CHECK(tt_fleet_server_parse(bad[i], &x) != TETHER_OK || i >= 4);
        if (i >= 4)
            CHECK_ERR(tt_fleet_slot_parse(bad[i], &y), TETHER_ERR_PROTOCOL, "malformed slot");
    }
}

/* A synthetic fleet: servers with zones, their slots (type, attached), claims. */
typedef struct kvb {
    tt_etcd_kvs kvs;
    size_t cap;
} kvb;

static void put(kvb *b, const char *key, char *value /* cJSON-allocated */, int64_t lease)
{
    if (b->kvs.n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->kvs.kv = tt_realloc(b->kvs.kv, b->cap * sizeof *b->kvs.kv);
    }
    tt_etcd_kv *kv = &b->kvs.kv[b->kvs.n++];
    memset(kv, 0, sizeof *kv);
    kv->key = tt_strdup(key);
    kv->value = tt_strdup(value);
    kv->value_len = strlen(value);
    kv->mod_rev = (int64_t)b->kvs.n + 10;
    kv->lease = lease;
    cJSON_free(value);
}

/* A server as it publishes itself: its record (with its counts), and per slot its record
 * (unless records is false: what placement reads has none) and, while free, its free key.
 * types: one letter per slot, s = cpu.small, m = cpu.medium; attached: '1' per slot. */
static void add_server_as(kvb *b, const char *id, const char *zone, const char *types, const char *attached,
                          bool records)
{
    tt_fleet_server s = {.slots = (int)strlen(types)};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.endpoint, sizeof s.endpoint, "tcp://%s.example:7070", id);
    snprintf(s.zone, sizeof s.zone, "%s", zone);
    int small = 0, medium = 0;
    for (int i = 0; types[i]; i++) {
        small += types[i] == 's';
        medium += types[i] == 'm';
        s.attached += attached[i] == '1';
    }
    snprintf(s.types, sizeof s.types, "cpu.small=%d,cpu.medium=%d", small, medium);
    char key[200];
    tt_fleet_slot all[16];
    int n = 0;
    for (int i = 0; types[i] && i < 16; i++, n++) {
        all[i] = (tt_fleet_slot){.index = i, .attached = attached[i] == '1'};
        snprintf(all[i].type, sizeof all[i].type, "%s", types[i] == 's' ? "cpu.small" : "cpu.medium");
    }
    tt_fleet_key_server(key, sizeof key, id);
    put(b, key, tt_fleet_server_json_with_free(&s, all, n), 77);
    for (int i = 0; types[i]; i++) {
        tt_fleet_slot sl = {.index = i, .attached = attached[i] == '1'};
        snprintf(sl.server, sizeof sl.server, "%s", id);
        snprintf(sl.type, sizeof sl.type, "%s", types[i] == 's' ? "cpu.small" : "cpu.medium");
        if (records) {
            tt_fleet_key_slot(key, sizeof key, id, i);
            put(b, key, tt_fleet_slot_json(&sl), 77);
        }
        if (!sl.attached) {
            tt_fleet_key_free(key, sizeof key, sl.type, id, i);
            char *one = malloc(2);
            strcpy(one, "1");
            put(b, key, one, 77);
        }
    }
}

static void add_server(kvb *b, const char *id, const char *zone, const char *types, const char *attached)
{
    add_server_as(b, id, zone, types, attached, true);
}

static void add_claim(kvb *b, const char *id, int index)
{
    char key[200];
    tt_fleet_key_claim(key, sizeof key, id, index);
    char *v = malloc(3);
    strcpy(v, "{}");
    put(b, key, v, 77);
}

static const tt_fleet_slot *chosen(const tt_fleet_view *v, const tt_fleet_want *w, uint32_t seed, int *k)
{
    CHECK_OK(tt_fleet_choose(v, w, seed, NULL, "etcd://f:1", k));
    return &v->slots[*k];
}

TEST(view_counts_and_least_loaded_placement)
{
    kvb b = {0};
    add_server(&b, "a", "z1", "ssss", "1100"); /* half used */
    add_server(&b, "b", "z1", "ssss", "1000"); /* a quarter */
    add_server(&b, "c", "z2", "ssmm", "0000"); /* empty, but a claim on slot 0 */
    add_claim(&b, "c", 0);
    /* a slot whose server has no record is left out; garbage keys are ignored */
    char key[200];
    tt_fleet_slot ghost = {.server = "gone", .index = 0, .type = "cpu.small"};
    tt_fleet_key_slot(key, sizeof key, "gone", 0);
    put(&b, key, tt_fleet_slot_json(&ghost), 5);
    char *junk = malloc(8);
    strcpy(junk, "not{js");
    put(&b, "/tether/slots/a/x", junk, 0);
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    CHECK_EQ_INT(v.n_servers, 3);
    CHECK_EQ_INT(v.n_slots, 12);
    CHECK(v.slots[0].attached && !v.slots[0].free && v.slots[2].free);
    const tt_fleet_server *c = tt_fleet_view_server(&v, "c");
    CHECK(c && c->slots == 4 && c->attached == 0 && c->claimed == 1);
    CHECK_EQ_INT(tt_fleet_view_server(&v, "a")->attached, 2);
    CHECK(v.slots[8].claimed && strcmp(v.slots[8].server, "c") == 0 && v.slots[8].lease == 77);

    tt_fleet_want w = {.type = "cpu.small"};
    int k;
    /* c: 1 of 4 claimed = b's load; ties are broken by the seed, so both appear */
    bool seen_b = false, seen_c = false;
    for (uint32_t seed = 0; seed < 64; seed++) {
        const tt_fleet_slot *s = chosen(&v, &w, seed, &k);
        CHECK(strcmp(s->server, "a") != 0);
        CHECK(!s->attached && !s->claimed);
        seen_b |= strcmp(s->server, "b") == 0;
        seen_c |= strcmp(s->server, "c") == 0;
    }
    CHECK(seen_b && seen_c);
    /* zone, pin (by id and by endpoint), exclusion */
    w.zone = "z2";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "c") == 0);
    CHECK_EQ_INT(v.slots[k].index, 1); /* slot 0 is claimed */
    w.zone = NULL;
    w.server = "a";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "a") == 0);
    w.server = "tcp://b.example:7070";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "b") == 0);
    w.server = NULL;
    const char *ex[] = {"b", "c"};
    w.exclude = ex;
    w.n_exclude = 2;
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "a") == 0);
    /* skipped slots (lost races) are not chosen again */
    bool *skip = calloc((size_t)v.n_slots, 1);
    w.n_exclude = 0;
    w.zone = "z2";
    skip[9] = true;
    CHECK_ERR(tt_fleet_choose(&v, &w, 1, skip, "etcd://f:1", &k), TETHER_ERR_BUSY, "no free cpu.small slot");
    free(skip);
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

/* What placement reads: server records (with their free lists) and claims; no slot
 * records, no free keys. */
TEST(placement_view_from_free_lists)
{
    kvb b = {0};
    add_server_as(&b, "a", "z1", "ssss", "1110", false); /* 3 of 4 used */
    add_server_as(&b, "b", "z1", "ssmm", "0000", false); /* empty */
    add_claim(&b, "b", 1);
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    CHECK_EQ_INT(v.n_servers, 2);
    CHECK_EQ_INT(v.n_slots, 1 + 4); /* the free ones only */
    const tt_fleet_server *a = tt_fleet_view_server(&v, "a");
    CHECK(a->slots == 4 && a->attached == 3);
    CHECK_EQ_INT(tt_fleet_view_server(&v, "b")->claimed, 1);
    tt_fleet_want w = {.type = "cpu.small"};
    int k;
    for (uint32_t seed = 0; seed < 16; seed++) {
        CHECK_OK(tt_fleet_choose(&v, &w, seed, NULL, "etcd://f:1", &k));
        CHECK(strcmp(v.slots[k].server, "b") == 0 && v.slots[k].index == 0); /* 1 is claimed */
    }
    /* all taken: BUSY, counting the slots of the type from the servers' own lists */
    bool skip[8] = {0};
    for (int i = 0; i < v.n_slots; i++)
        skip[i] = true;
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, skip, "etcd://f:1", &k), TETHER_ERR_BUSY, "all 6 cpu.small slots");
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

TEST(no_slot_errors_name_the_type_and_the_fleet)
{
    kvb b = {0};
    add_server(&b, "a", "z1", "ss", "11");
    add_server(&b, "b", "z1", "sm", "1"
                                    "0");
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    int k;
    tt_fleet_want w = {.type = "cpu.small"};
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_BUSY,
              "no free cpu.small slot in fleet etcd://10.0.0.9:2379");
    CHECK_STR_CONTAINS(tether_last_error(), "all 3 cpu.small slots on 2 servers");
    w.type = "eia2.xlarge";
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_NOT_FOUND,
              "no server offers eia2.xlarge");
    w.type = "cpu.medium";
    w.zone = "z9";
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_NOT_FOUND, "in zone z9");
    w.zone = NULL;
    CHECK_OK(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k));
    CHECK(strcmp(v.slots[k].server, "b") == 0 && v.slots[k].index == 1);
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

TEST(fleet_addresses_are_checked)
{
    tt_etcd *e;
    CHECK_ERR(tt_etcd_open("", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "etcd://");
    CHECK_ERR(tt_etcd_open("etcd://", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "names no etcd member");
    CHECK_ERR(tt_etcd_open("etcd://host", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "'host' is not HOST:PORT");
    CHECK_ERR(tt_etcd_open("etcd://h:1/path", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "not HOST:PORT");
    CHECK_OK(tt_etcd_open("etcd://h1:2379,h2:2379, h3:2379", NULL, &e));
    CHECK(strcmp(tt_etcd_name(e), "etcd://h1:2379,h2:2379, h3:2379") == 0);
    tt_etcd_close(e);
    CHECK_OK(tt_etcd_open("https://h1:2379", NULL, &e));
    tt_etcd_close(e);
    /* nothing listens there: a clear error naming the fleet, within the deadline */
    CHECK_OK(tt_etcd_open("etcd://127.0.0.1:1", NULL, &e));
    tt_etcd_kvs kvs;
    CHECK_ERR(tt_etcd_get_prefix(e, "/tether/", tt_deadline_ms(2000), &kvs), TETHER_ERR_NETWORK,
              "etcd (etcd://127.0.0.1:1) cannot be reached");
    tt_etcd_close(e);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
