/* Reservation keys: parsing the keys file, matching a presented key, making new keys. */
#include "server/keys.h"

#include "core/hash.h"
#include "core/mem.h"
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) > TT_KEY_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

static tt_status parse_line(const char *path, int lineno, char *line, tt_key *k)
{
    char *save, *name = strtok_r(line, " \t", &save), *hex = strtok_r(NULL, " \t", &save),
                *slots = strtok_r(NULL, " \t", &save), *lease = strtok_r(NULL, " \t", &save),
                *extra = strtok_r(NULL, " \t", &save);
    if (!name || !hex || !slots || !lease || extra)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s:%d: expected 'NAME SHA256-HEX MAX-SLOTS MAX-LEASE-SECONDS' "
                        "(tetherd --new-key NAME prints such a line)",
                        path, lineno);
    if (!name_ok(name))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: key name '%s': use up to %d letters, digits, '-', '_', '.'",
                        path, lineno, name, TT_KEY_NAME_MAX);
    snprintf(k->name, sizeof k->name, "%s", name);
    if (strlen(hex) != 2 * TT_WIRE_HASH_LEN)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: key '%s': the SHA-256 must be 64 hex digits, got %zu characters",
                        path, lineno, name, strlen(hex));
    for (int i = 0; i < TT_WIRE_HASH_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: key '%s': the SHA-256 is not hex", path, lineno, name);
        k->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    char *end;
    errno = 0;
    long ns = strtol(slots, &end, 10);
    if (end == slots || *end || errno || ns < 0 || ns > 100000)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: key '%s': MAX-SLOTS '%s' is not a count", path, lineno,
                        name, slots);
    long long nl = strtoll(lease, &end, 10);
    if (end == lease || *end || errno || nl < 1 || nl > 365LL * 86400)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s:%d: key '%s': MAX-LEASE '%s' is not a number of seconds in 1..31536000", path, lineno,
                        name, lease);
    k->max_slots = (int)ns;
    k->max_lease_s = (uint32_t)nl;
    return TT_OK;
}

tt_status tt_keys_load(const char *path, tt_keys *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return tt_error(TETHER_ERR_IO, "cannot open the keys file '%s': %s", path, strerror(errno));
    char line[512], *p;
    int lineno = 0, cap = 0, rc;
    tt_status s = TT_OK;
    while (s == TT_OK && (rc = tt_config_next_line(f, path, line, sizeof line, &lineno, &p)) > 0) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 8;
            tt_key *v = cap <= 100000 ? tt_realloc(out->v, sizeof *v * (size_t)cap) : NULL;
            if (!v) {
                s = tt_error(TETHER_ERR_NO_MEMORY, "%s: too many keys", path);
                break;
            }
            out->v = v;
        }
        tt_key k = {0};
        s = parse_line(path, lineno, p, &k);
        for (int i = 0; i < out->n && s == TT_OK; i++)
            if (strcmp(out->v[i].name, k.name) == 0)
                s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: key name '%s' is used twice", path, lineno, k.name);
        if (s == TT_OK)
            out->v[out->n++] = k;
    }
    if (s == TT_OK && rc < 0)
        s = TETHER_ERR_INVALID_ARGUMENT; /* its message is set */
    fclose(f);
    if (s == TT_OK && out->n == 0)
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "the keys file '%s' lists no keys: nobody could reserve a slot", path);
    if (s != TT_OK)
        tt_keys_free(out);
    return s;
}

void tt_keys_free(tt_keys *k)
{
    tt_free(k->v);
    k->v = NULL;
    k->n = 0;
}

const tt_key *tt_keys_match(const tt_keys *k, const char *key)
{
    uint8_t d[TT_WIRE_HASH_LEN];
    tt_sha256(key, strlen(key), d);
    const tt_key *found = NULL;
    /* every entry is compared, so the time taken says nothing about which one matched */
    for (int i = 0; i < k->n; i++)
        if (CRYPTO_memcmp(d, k->v[i].digest, sizeof d) == 0)
            found = &k->v[i];
    return found;
}

tt_status tt_keys_print_new(const char *name, FILE *f)
{
    if (!name_ok(name))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--new-key '%s': use up to %d letters, digits, '-', '_', '.'",
                        name, TT_KEY_NAME_MAX);
    uint8_t r[32];
    if (RAND_bytes(r, sizeof r) != 1)
        return tt_error(TETHER_ERR_INTERNAL, "the random number generator failed; no key was made");
    char key[3 + 2 * sizeof r + 1] = "tk-", hex[2 * TT_WIRE_HASH_LEN + 1];
    tt_hex(r, sizeof r, key + 3);
    uint8_t d[TT_WIRE_HASH_LEN];
    tt_sha256(key, strlen(key), d);
    tt_hex(d, sizeof d, hex);
    fprintf(f,
            "key for '%s' (give it to its users: tether attach TYPE --server HOST:PORT --key KEY):\n"
            "  %s\n"
            "line for the --reserve-keys file (at most 2 slots, leases of at most 7 days; edit to taste):\n"
            "  %s %s 2 604800\n",
            name, key, name, hex);
    memset(key, 0, sizeof key);
    return TT_OK;
}
