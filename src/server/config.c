/* tetherd settings: one table of keys shared by the flags and the config file, so the two
 * can never disagree, and the parsers for sizes, rates and type definitions. */
#include "server/config.h"

#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void tt_config_defaults(tt_server_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:7878");
    snprintf(c->device, sizeof c->device, "cpu");
    c->slots[0] = (tt_slot_spec){"cpu.medium", 2};
    c->slots[1] = (tt_slot_spec){"cpu.large", 1};
    c->n_slot_specs = 2;
    const char *home = getenv("HOME");
    snprintf(c->state_dir, sizeof c->state_dir, "%s/.local/state/tetherd", home && *home ? home : "/tmp");
    c->log_level = TT_LOG_INFO;
    c->sched = TT_SCHED_CAPPED;
    c->meter = TT_METER_FLOPS;
    c->lease_s = 86400;
    c->lease_max_s = 7 * 86400;
    c->idle_timeout_s = 30;
    c->auth_timeout_s = 10;
    c->attached_idle_s = 900;
    c->max_conns_per_attachment = 64;
    c->drain_timeout_s = 10;
    c->frame_timeout_s = 30;
    c->max_upload = 4ull << 30;
    c->max_request = 1ull << 30;
    c->max_conns = 1024;
    c->warm_cache = 8;
    c->warm_cache_max = TT_WARM_CACHE_AUTO;
    c->run_limit_s = 60;
    c->tls = TT_TLS_AUTO;
    c->fleet_ttl_s = 10;
    c->claim_timeout_s = 5;
    c->http_max_body = 64ull << 20;
    c->http_threads = 2;
    c->http_max_conns = 256;
    c->http_timeout_s = 30;
}

tt_status tt_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s' is not a size (e.g. 512MiB, 2GiB, 1048576)", s);
    while (*end == ' ')
        end++;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"K", 1024.0},
                 {"KiB", 1024.0},
                 {"KB", 1e3},
                 {"M", 1048576.0},
                 {"MiB", 1048576.0},
                 {"MB", 1e6},
                 {"G", 1073741824.0},
                 {"GiB", 1073741824.0},
                 {"GB", 1e9},
                 {"T", 1099511627776.0},
                 {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double b = v * units[i].mult;
            if (b >= 1.8e19)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "size '%s' is too large", s);
            *out = (uint64_t)b;
            return TT_OK;
        }
    }
    return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': unknown size unit '%s' (use B, KiB, MiB, GiB, TiB)", s, end);
}

static tt_status parse_uint(const char *key, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < lo || n > hi)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: '%s' is not an integer in %ld..%ld", key, v, lo, hi);
    *out = n;
    return TT_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* "NAME=MEMORY,RATE[,PRICE]", RATE as "2tflops", "500gflops" or "25%" of the device's peak. */
static tt_status parse_type(tt_server_config *c, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *eq = strchr(buf, '=');
    if (!eq || eq == buf || (size_t)(eq - buf) >= sizeof c->types[0].name)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "type '%s': expected NAME=MEMORY,RATE[,PRICE] "
                        "(e.g. tiny=256MiB,10%% or big=8GiB,4tflops,0.34)",
                        v);
    *eq = 0;
    tt_accel_type t = {0};
    snprintf(t.name, sizeof t.name, "%s", trim(buf));
    char *save, *mem = strtok_r(eq + 1, ",", &save), *rate = strtok_r(NULL, ",", &save),
                *price = strtok_r(NULL, ",", &save);
    if (!t.name[0] || !mem || !rate)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "type '%s': expected NAME=MEMORY,RATE[,PRICE]", v);
    mem = trim(mem);
    rate = trim(rate);
    price = price ? trim(price) : NULL;
    TT_TRY(tt_parse_bytes(mem, &t.memory_bytes));
    char *end;
    double r = strtod(rate, &end);
    if (end == rate || !(r > 0) || !isfinite(r))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "type '%s': rate '%s' is not a positive number", v, rate);
    if (strcmp(end, "%") == 0) {
        if (r > 100)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "type '%s': %g%% is more than the whole device", v, r);
        t.peak_fraction = r / 100;
    } else if (strcasecmp(end, "tflops") == 0) {
        t.fp32_tflops = r;
    } else if (strcasecmp(end, "gflops") == 0) {
        t.fp32_tflops = r / 1000;
    } else {
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "type '%s': rate '%s' needs a unit: tflops, gflops or %%", v,
                        rate);
    }
    if (price) {
        t.price_per_hour = strtod(price, &end);
        if (end == price || *end || t.price_per_hour < 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "type '%s': price '%s' is not a number", v, price);
    }
    for (int i = 0; i < c->n_types; i++)
        if (strcmp(c->types[i].name, t.name) == 0) {
            c->types[i] = t;
            return TT_OK;
        }
    if (c->n_types >= TT_MAX_TYPES)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d user-defined types", TT_MAX_TYPES);
    c->types[c->n_types++] = t;
    return TT_OK;
}

/* "TYPE=USD[,TYPE=USD...]": the hourly price of slot types (built-in ones, or types defined
 * before), shown by DESCRIBE so that clients' benchmarks cost their rows with it. */
static tt_status parse_prices(tt_server_config *c, const char *v)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    char *save;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "price '%s': expected TYPE=USD (e.g. cpu.small=0.02)", tok);
        *eq = 0;
        char *name = trim(tok), *num = trim(eq + 1), *end;
        if (*num == '$')
            num++;
        double usd = strtod(num, &end);
        if (end == num || *end || !(usd >= 0) || !isfinite(usd))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "price '%s=%s': '%s' is not a price in USD per hour", name,
                            eq + 1, eq + 1);
        tt_accel_type *t = NULL;
        for (int i = 0; i < c->n_types && !t; i++)
            if (strcmp(c->types[i].name, name) == 0)
                t = &c->types[i];
        if (!t) {
            const tt_accel_type *b = tt_catalog_find(name);
            if (!b)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                "price '%s=%s': no type '%s' (a built-in one, or one defined by --type before)", name,
                                eq + 1, name);
            if (c->n_types >= TT_MAX_TYPES)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d user-defined types", TT_MAX_TYPES);
            t = &c->types[c->n_types++];
            *t = *b; /* the built-in type, with the server's price */
        }
        t->price_per_hour = usd;
    }
    return TT_OK;
}

/* "TYPE=COUNT[,TYPE=COUNT...]" replaces the slot list. Types are resolved at start, once
 * every --type has been read. */
static tt_status parse_slots(tt_server_config *c, const char *v)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    char *save;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        long count = 1;
        if (eq) {
            *eq = 0;
            TT_TRY(parse_uint("slots", trim(eq + 1), 0, 1024, &count));
        }
        tok = trim(tok);
        if (!*tok || strlen(tok) >= sizeof c->slots[0].type)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "slots '%s': bad type name", v);
        if (n >= TT_MAX_SLOT_SPECS)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "slots '%s': more than %d entries", v, TT_MAX_SLOT_SPECS);
        snprintf(c->slots[n].type, sizeof c->slots[n].type, "%s", tok);
        c->slots[n++].count = (int)count;
    }
    c->n_slot_specs = n;
    return TT_OK;
}

static tt_status parse_bool(const char *key, const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcmp(v, "on") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
        *out = false;
    else
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: '%s' is not true or false", key, v);
    return TT_OK;
}

static tt_status set_str(char *dst, size_t cap, const char *key, const char *v)
{
    if (strlen(v) >= cap)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s: value longer than %zu bytes", key, cap - 1);
    snprintf(dst, cap, "%s", v);
    return TT_OK;
}

tt_status tt_config_set(tt_server_config *c, const char *key, const char *v)
{
    long n;
    if (strcmp(key, "listen") == 0)
        return set_str(c->listen, sizeof c->listen, key, strcmp(v, "none") == 0 ? "" : v);
    if (strcmp(key, "unix") == 0)
        return set_str(c->unix_path, sizeof c->unix_path, key, v);
    if (strcmp(key, "device") == 0)
        return set_str(c->device, sizeof c->device, key, v);
    if (strcmp(key, "slots") == 0)
        return parse_slots(c, v);
    if (strcmp(key, "type") == 0)
        return parse_type(c, v);
    if (strcmp(key, "price") == 0)
        return parse_prices(c, v);
    if (strcmp(key, "state-dir") == 0)
        return set_str(c->state_dir, sizeof c->state_dir, key, v);
    if (strcmp(key, "port-file") == 0)
        return set_str(c->port_file, sizeof c->port_file, key, v);
    if (strcmp(key, "metrics") == 0)
        return set_str(c->metrics_listen, sizeof c->metrics_listen, key, v);
    static const struct {
        const char *key;
        size_t off, cap;
    } strs[] = {
        {"tls-cert", offsetof(tt_server_config, tls_cert), sizeof c->tls_cert},
        {"tls-key", offsetof(tt_server_config, tls_key), sizeof c->tls_key},
        {"tls-client-ca", offsetof(tt_server_config, tls_client_ca), sizeof c->tls_client_ca},
        {"fleet", offsetof(tt_server_config, fleet), sizeof c->fleet},
        {"advertise", offsetof(tt_server_config, advertise), sizeof c->advertise},
        {"zone", offsetof(tt_server_config, zone), sizeof c->zone},
        {"fleet-ca", offsetof(tt_server_config, fleet_ca), sizeof c->fleet_ca},
        {"fleet-cert", offsetof(tt_server_config, fleet_cert), sizeof c->fleet_cert},
        {"fleet-key", offsetof(tt_server_config, fleet_key), sizeof c->fleet_key},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(key, strs[i].key) == 0)
            return set_str((char *)c + strs[i].off, strs[i].cap, key, v);
    if (strcmp(key, "tls") == 0) {
        if (strcmp(v, "auto") == 0)
            c->tls = TT_TLS_AUTO;
        else if (strcmp(v, "on") == 0)
            c->tls = TT_TLS_ON;
        else if (strcmp(v, "off") == 0)
            c->tls = TT_TLS_OFF;
        else
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tls '%s': use auto, on or off", v);
        return TT_OK;
    }
    if (strcmp(key, "http") == 0)
        return set_str(c->http_listen, sizeof c->http_listen, key, v);
    if (strcmp(key, "http-port-file") == 0)
        return set_str(c->http_port_file, sizeof c->http_port_file, key, v);
    if (strcmp(key, "model-repository") == 0)
        return set_str(c->model_repository, sizeof c->model_repository, key, v);
    if (strcmp(key, "api-keys") == 0)
        return set_str(c->api_keys, sizeof c->api_keys, key, v);
    if (strcmp(key, "http-max-body") == 0)
        return tt_parse_bytes(v, &c->http_max_body);
    if (strcmp(key, "log-level") == 0) {
        int l = tt_log_level_parse(v);
        if (l < 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "log-level '%s': use debug, info, warn, error or off", v);
        c->log_level = l;
        return TT_OK;
    }
    if (strcmp(key, "sched") == 0) {
        if (strcmp(v, "capped") == 0)
            c->sched = TT_SCHED_CAPPED;
        else if (strcmp(v, "lend") == 0)
            c->sched = TT_SCHED_LEND;
        else
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "sched '%s': use capped or lend", v);
        return TT_OK;
    }
    if (strcmp(key, "meter") == 0) {
        c->meter_set = true;
        if (strcmp(v, "flops") == 0)
            c->meter = TT_METER_FLOPS;
        else if (strcmp(v, "time") == 0)
            c->meter = TT_METER_TIME;
        else
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "meter '%s': use flops or time", v);
        return TT_OK;
    }
    if (strcmp(key, "peak-gflops") == 0) {
        char *end;
        double g = strtod(v, &end);
        if (end == v || *end || !(g > 0) || !isfinite(g))
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "peak-gflops '%s' is not a positive number", v);
        c->peak_gflops = g;
        return TT_OK;
    }
    if (strcmp(key, "max-upload") == 0)
        return tt_parse_bytes(v, &c->max_upload);
    if (strcmp(key, "max-request") == 0)
        return tt_parse_bytes(v, &c->max_request);
    if (strcmp(key, "max-buffered") == 0)
        return tt_parse_bytes(v, &c->max_buffered);
    if (strcmp(key, "cache-max") == 0)
        return tt_parse_bytes(v, &c->cache_max);
    if (strcmp(key, "warm-cache-max") == 0)
        return strcmp(v, "auto") == 0 ? (c->warm_cache_max = TT_WARM_CACHE_AUTO, TT_OK)
                                      : tt_parse_bytes(v, &c->warm_cache_max);
    if (strcmp(key, "reserve-keys") == 0)
        return set_str(c->reserve_keys, sizeof c->reserve_keys, key, v);
    if (strcmp(key, "overcommit") == 0)
        return parse_bool(key, v, &c->overcommit);
    if (strcmp(key, "measure-peak") == 0)
        return parse_bool(key, v, &c->measure_peak);
    if (strcmp(key, "inline-us") == 0) {
        /* inferences always run on workers now: an old config file still starts */
        tt_log(TT_LOG_WARN, "inline-us is no longer used: every inference runs on a worker thread");
        return TT_OK;
    }
    static const struct {
        const char *key;
        long lo, hi;
        size_t off;
        bool u32;
    } ints[] = {
        {"workers", 0, 256, offsetof(tt_server_config, workers), false},
        {"lease", 1, 365L * 86400, offsetof(tt_server_config, lease_s), true},
        {"lease-max", 1, 365L * 86400, offsetof(tt_server_config, lease_max_s), true},
        {"idle-timeout", 1, 86400, offsetof(tt_server_config, idle_timeout_s), false},
        {"auth-timeout", 1, 86400, offsetof(tt_server_config, auth_timeout_s), false},
        {"attached-idle-timeout", 1, 30 * 86400, offsetof(tt_server_config, attached_idle_s), false},
        {"max-conns-per-attachment", 1, 1000000, offsetof(tt_server_config, max_conns_per_attachment), false},
        {"drain-timeout", 0, 3600, offsetof(tt_server_config, drain_timeout_s), false},
        {"frame-timeout", 1, 86400, offsetof(tt_server_config, frame_timeout_s), false},
        {"max-conns", 1, 1000000, offsetof(tt_server_config, max_conns), false},
        {"warm-cache", 0, 1024, offsetof(tt_server_config, warm_cache), false},
        {"run-limit", 0, 86400, offsetof(tt_server_config, run_limit_s), false},
        {"fleet-ttl", 2, 3600, offsetof(tt_server_config, fleet_ttl_s), false},
        {"claim-timeout", 1, 3600, offsetof(tt_server_config, claim_timeout_s), false},
        {"http-threads", 1, 64, offsetof(tt_server_config, http_threads), false},
        {"http-max-conns", 1, 100000, offsetof(tt_server_config, http_max_conns), false},
        {"http-timeout", 1, 86400, offsetof(tt_server_config, http_timeout_s), false},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(key, ints[i].key) != 0)
            continue;
        TT_TRY(parse_uint(key, v, ints[i].lo, ints[i].hi, &n));
        if (ints[i].u32)
            *(uint32_t *)((char *)c + ints[i].off) = (uint32_t)n;
        else
            *(int *)((char *)c + ints[i].off) = (int)n;
        return TT_OK;
    }
    return tt_error(TETHER_ERR_INVALID_ARGUMENT, "unknown setting '%s' (see tetherd --help)", key);
}

int tt_config_next_line(FILE *f, const char *path, char *buf, size_t cap, int *lineno, char **line)
{
    while (fgets(buf, (int)cap, f)) {
        ++*lineno;
        /* a line cut by the buffer would leave its tail to be read as a line of its own */
        if (!strchr(buf, '\n') && !feof(f)) {
            if (strlen(buf) == cap - 1)
                tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: the line is longer than %zu bytes", path, *lineno,
                         cap - 2);
            else
                tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: the line holds a NUL byte", path, *lineno);
            return -1;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        *line = trim(buf);
        if (**line)
            return 1;
    }
    return 0;
}

tt_status tt_config_read_pairs(FILE *f, const char *path, tt_status (*set)(void *ud, const char *key, char *value),
                               void *ud)
{
    char buf[2048], *l;
    int lineno = 0, rc;
    while ((rc = tt_config_next_line(f, path, buf, sizeof buf, &lineno, &l)) > 0) {
        char *eq = strchr(l, '=');
        if (!eq)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s:%d: expected 'key = value'", path, lineno);
        *eq = 0;
        tt_status s = set(ud, trim(l), trim(eq + 1));
        if (s != TT_OK)
            return tt_error_prefix(s, "%s:%d: ", path, lineno);
    }
    return rc < 0 ? TETHER_ERR_INVALID_ARGUMENT : TT_OK; /* its message is set */
}

static tt_status server_set(void *c, const char *key, char *value) { return tt_config_set(c, key, value); }

tt_status tt_config_load_file(tt_server_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tt_error(TETHER_ERR_IO, "cannot open config file '%s': %s", path, strerror(errno));
    tt_status s = tt_config_read_pairs(f, path, server_set, c);
    fclose(f);
    return s;
}

void tt_config_usage(FILE *f)
{
    fprintf(f, "usage: tetherd [--config FILE] [options]\n\n"
               "tetherd serves one device's inference capacity as accelerator slots that hosts\n"
               "attach over the network (tether attach TYPE --server HOST:PORT).\n\n"
               "  --config FILE          read settings from FILE: one 'key = value' per line, keys\n"
               "                         as the flags below without dashes; flags override it\n"
               "  --listen HOST:PORT     TCP listener (default 127.0.0.1:7878; 'none' for none;\n"
               "                         port 0 picks a free port)\n"
               "  --unix PATH            also listen on a Unix socket, for clients on this host\n"
               "  --device NAME          the device to serve: cpu (default), or a GPU, cuda:N\n"
               "  --slots TYPE=N[,...]   carve the device into slots (default\n"
               "                         cpu.medium=2,cpu.large=1)\n"
               "  --type NAME=MEM,RATE[,PRICE]\n"
               "                         define (or redefine) a type: MEM as 512MiB / 2GiB, RATE as\n"
               "                         2tflops, 500gflops or 25%% of the measured peak, PRICE per\n"
               "                         hour; may be repeated\n"
               "  --price TYPE=USD[,...] the hourly price of slot types (built-in, or defined before);\n"
               "                         clients' benchmarks cost their rows with it\n"
               "  --state-dir DIR        reservations and cached models survive restarts here\n"
               "                         (default ~/.local/state/tetherd)\n"
               "  --log-level LEVEL      debug, info (default), warn, error, off\n"
               "  --sched capped|lend    capped (default): a slot never exceeds its rate; lend:\n"
               "                         idle capacity is lent to busy slots\n"
               "  --meter flops|time     charge inferences by FLOPs (default on the CPU) or device\n"
               "                         time (default on a GPU)\n"
               "  --workers N            inferences run at once (default: one per core)\n"
               "  --peak-gflops X        the device's peak, instead of the measured one (measured\n"
               "                         once, repeatedly, and kept in the state directory)\n"
               "  --lease SECONDS        default reservation lease, renewed by use (default 86400)\n"
               "  --lease-max SECONDS    the longest lease a client may ask for (default 604800)\n"
               "  --idle-timeout S       close connections not attached to a slot after S idle\n"
               "                         seconds (default 30)\n"
               "  --auth-timeout S       close connections not attached S seconds after they\n"
               "                         connected, busy or not (default 10)\n"
               "  --attached-idle-timeout S\n"
               "                         close attached connections idle for S seconds (default 900;\n"
               "                         clients reconnect by themselves)\n"
               "  --max-conns-per-attachment N\n"
               "                         connections one attachment may hold (default 64)\n"
               "  --frame-timeout S      a frame must arrive whole, and queued replies be read,\n"
               "                         within S seconds (default 30)\n"
               "  --max-upload BYTES     largest model upload (default 4GiB)\n"
               "  --max-request BYTES    largest inference request (default 1GiB)\n"
               "  --max-buffered BYTES   request and reply bytes held for all clients together;\n"
               "                         past it requests are refused as busy (default: half the\n"
               "                         memory, at most 8GiB)\n"
               "  --max-conns N          connections at once (default 1024)\n"
               "  --reserve-keys FILE    reserving a slot needs a key listed in FILE, one per line:\n"
               "                         NAME SHA256-OF-KEY MAX-SLOTS MAX-LEASE-SECONDS\n"
               "                         (make one with --new-key NAME)\n"
               "  --new-key NAME         print a fresh key and its line for the keys file; exit\n"
               "  --warm-cache N         opened models kept warm after their last user (default 8)\n"
               "  --warm-cache-max BYTES the memory those unused warm models may hold together\n"
               "                         (weights and planned activations); the longest unused\n"
               "                         go first (default: a quarter of the device's memory, at\n"
               "                         most 4GiB)\n"
               "  --cache-max BYTES      stored models kept on disk; the least recently used\n"
               "                         unused ones are deleted past it (default: no limit)\n"
               "  --run-limit S          an inference still running after S seconds fails, so a model\n"
               "                         that never ends cannot hold a worker (default 60; 0: none)\n"
               "  --drain-timeout S      on SIGTERM, running inferences get S seconds to finish\n"
               "                         before they are stopped (default 10)\n"
               "  --overcommit           start even when a slot type promises more than the device's\n"
               "                         peak (its slots deliver at most the peak)\n"
               "  --measure-peak         measure the device's peak again instead of using the one\n"
               "                         kept in the state directory\n"
               "  --metrics HOST:PORT    serve Prometheus metrics at http://HOST:PORT/metrics\n"
               "  --port-file FILE       write the TCP port here once listening\n"
               "  --tls auto|on|off      auto (default): TLS on every TCP listener that is not\n"
               "                         loopback, which then needs --tls-cert and --tls-key; on:\n"
               "                         loopback too; off: plain TCP everywhere\n"
               "  --tls-cert FILE        the server's certificate chain (PEM)\n"
               "  --tls-key FILE         its private key (PEM)\n"
               "  --tls-client-ca FILE   require client certificates signed by this CA (PEM)\n"
               "  --fleet etcd://HOST:PORT[,...]\n"
               "                         join a fleet: register this server and its slots in etcd\n"
               "                         (etcds://... for etcd over TLS)\n"
               "  --advertise HOST:PORT  where clients reach this server (default: the --listen\n"
               "                         address, unless it is a wildcard)\n"
               "  --zone NAME            a placement label (tether attach --zone NAME)\n"
               "  --fleet-ttl S          the registration lease: a crashed server leaves the fleet\n"
               "                         after S seconds (default 10)\n"
               "  --claim-timeout S      a claim in etcd not followed by a reservation within S\n"
               "                         seconds is deleted: the slot is free again (default 5)\n"
               "  --fleet-ca FILE, --fleet-cert FILE, --fleet-key FILE\n"
               "                         etcd's CA, and this server's client certificate for etcd\n"
               "  --http HOST:PORT       serve KServe v2 over HTTP/REST, /metrics and a status page at /\n"
               "  --model-repository DIR serve DIR/NAME/VERSION/model.onnx by name (docs/serving.md)\n"
               "  --api-keys FILE        tenants' API keys, 'TENANT SHA256HEX' per line: with keys (here\n"
               "                         or in a model's config) every HTTP endpoint but health needs one\n"
               "  --http-max-body BYTES  largest HTTP request body (default 64MiB)\n"
               "  --http-threads N       HTTP threads, which parse requests (default 2)\n"
               "  --http-max-conns N     HTTP connections at once (default 256)\n"
               "  --http-timeout S       close HTTP connections idle for S seconds (default 30)\n"
               "  --http-port-file FILE  write the bound HTTP port here\n"
               "  -h, --help             this text;  --version\n\n"
               "Signals: SIGTERM/SIGINT drain and stop (a second one stops at once); SIGHUP reads\n"
               "the config file and the keys file again.\n\n"
               "Built-in types (memory, FP32 rate, price/hour):\n");
    int n;
    const tt_accel_type *t = tt_catalog_builtin(&n);
    for (int i = 0; i < n; i++) {
        if (t[i].peak_fraction > 0)
            fprintf(f, "  %-12s %5.2f GiB  %4.1f%% of the device's peak\n", t[i].name, t[i].memory_bytes / 1073741824.0,
                    100 * t[i].peak_fraction);
        else
            fprintf(f, "  %-12s %5.2f GiB  %4.1f TFLOPS  $%.2f\n", t[i].name, t[i].memory_bytes / 1073741824.0,
                    t[i].fp32_tflops, t[i].price_per_hour);
    }
}

tt_status tt_config_parse_args(tt_server_config *c, int argc, char **argv, int *help)
{
    *help = 0;
    /* the file first, so that any flag overrides what it says */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--config needs a file");
            TT_TRY(tt_config_load_file(c, argv[i + 1]));
            i++;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            TT_TRY(tt_config_load_file(c, argv[i] + 9));
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = 1;
            return TT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            *help = 2;
            return TT_OK;
        }
        if (strncmp(a, "--", 2) != 0)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "unexpected argument '%s' (see tetherd --help)", a);
        char key[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (strcmp(key, "overcommit") == 0 || strcmp(key, "measure-peak") == 0) {
                val = "true"; /* switches: given alone, they turn on */
            } else {
                if (i + 1 >= argc)
                    return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--%s needs a value", key);
                val = argv[++i];
            }
        }
        if (strcmp(key, "config") == 0)
            continue;
        if (strcmp(key, "new-key") == 0) {
            TT_TRY(set_str(c->new_key, sizeof c->new_key, key, val));
            *help = 3;
            continue;
        }
        TT_TRY(tt_config_set(c, key, val));
    }
    return TT_OK;
}

const tt_accel_type *tt_config_find_type(const tt_server_config *c, const char *name)
{
    for (int i = 0; i < c->n_types; i++)
        if (strcmp(c->types[i].name, name) == 0)
            return &c->types[i];
    return tt_catalog_find(name);
}
