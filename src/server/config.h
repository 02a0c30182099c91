/* tetherd's settings: command-line flags and a config file with the same keys
 * ("key = value" lines), the accelerator types it knows (built-in catalog plus the user's)
 * and the slots it carves its device into. */
#ifndef TT_SERVER_CONFIG_H
#define TT_SERVER_CONFIG_H

#include "core/catalog.h"
#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TT_MAX_TYPES 64
#define TT_MAX_SLOT_SPECS 64
#define TT_WARM_CACHE_AUTO UINT64_MAX

typedef enum tt_sched_mode {
    TT_SCHED_CAPPED = 0, /* a slot never runs faster than its rate */
    TT_SCHED_LEND = 1,   /* idle capacity is lent to busy slots; contention is shared by rate */
} tt_sched_mode;

typedef enum tt_meter {
    TT_METER_FLOPS = 0, /* charge each inference its FLOPs (from the graph) */
    TT_METER_TIME = 1,  /* charge device time, scaled by the device's peak */
} tt_meter;

typedef enum tt_tls_mode {
    TT_TLS_AUTO = 0, /* TLS on every TCP listener that is not loopback (certificates required) */
    TT_TLS_ON = 1,   /* TLS on every TCP listener, loopback too */
    TT_TLS_OFF = 2,  /* plain TCP everywhere, by the operator's explicit choice */
} tt_tls_mode;

typedef struct tt_slot_spec {
    char type[32];
    int count;
} tt_slot_spec;

typedef struct tt_server_config {
    char listen[300];    /* "HOST:PORT"; "" for no TCP listener */
    char unix_path[108]; /* "" for none */
    char device[32];     /* "cpu" */
    tt_slot_spec slots[TT_MAX_SLOT_SPECS];
    int n_slot_specs;
    tt_accel_type types[TT_MAX_TYPES]; /* user-defined (or overriding) types */
    int n_types;
    char state_dir[1024];
    int log_level; /* tt_log_level */
    tt_sched_mode sched;
    tt_meter meter;
    bool meter_set;      /* --meter was given (else a GPU meters device time) */
    int workers;          /* concurrent inferences (0: one per core) */
    double peak_gflops;   /* 0: measure at start */
    uint32_t lease_s;     /* default lease of a reservation */
    uint32_t lease_max_s; /* the longest lease a client may ask for */
    int idle_timeout_s;   /* a connection not yet attached to a slot, idle this long, is closed */
    int auth_timeout_s;   /* a connection not attached this long after it connected is closed */
    int attached_idle_s;  /* an attached connection idle this long (nothing in flight) is closed */
    int max_conns_per_attachment;
    int drain_timeout_s;  /* SIGTERM: running inferences get this long, then are stopped */
    int frame_timeout_s;  /* a frame that started arriving must complete within this */
    uint64_t max_upload;  /* largest model upload */
    uint64_t max_request; /* largest RUN request */
    uint64_t max_buffered; /* request and reply bytes held for all connections (0: automatic) */
    uint64_t cache_max;    /* bytes of stored models, least recently used evicted (0: no limit) */
    char reserve_keys[1024]; /* keys file: RESERVE needs one of its keys ("" none) */
    bool overcommit;       /* start even when a slot type's rate exceeds the device's peak */
    bool measure_peak;     /* measure the peak again instead of using the stored one */
    char new_key[32];      /* --new-key NAME: print a key for the keys file and exit */
    int max_conns;
    int warm_cache;           /* opened models kept warm after their last user leaves */
    uint64_t warm_cache_max;  /* and their bytes at most (TT_WARM_CACHE_AUTO: from the device's memory) */
    int run_limit_s;          /* an inference still running after this long fails (0: no limit) */
    char port_file[1024];     /* write the bound TCP port here once listening (tests) */
    char metrics_listen[300]; /* Prometheus /metrics on HOST:PORT ("" off) */

    /* TLS on the listeners (net/tls.h) */
    tt_tls_mode tls;
    char tls_cert[512], tls_key[512];
    char tls_client_ca[512]; /* when set, clients must present a certificate it signed */

    /* fleet membership (fleet/publish.h): "" for a server on its own */
    char fleet[1024];    /* etcd://HOST:PORT[,...] or etcds://... */
    char advertise[300]; /* HOST:PORT clients reach this server at */
    char zone[64];
    int fleet_ttl_s;     /* the registration lease's TTL */
    int claim_timeout_s; /* a fleet claim not followed by a reservation is cleared after this */
    char fleet_ca[512], fleet_cert[512], fleet_key[512];
    /* serving (KServe v2 over HTTP, the model repository): src/server/http.c, repo.c */
    char http_listen[300];        /* HOST:PORT ("" off) */
    char http_port_file[1024];    /* write the bound HTTP port here (tests) */
    char model_repository[1024];  /* DIR/NAME/VERSION/model.onnx ("" none) */
    char api_keys[1024];          /* tenants' API keys: "TENANT SHA256HEX" lines ("" none) */
    uint64_t http_max_body;       /* largest HTTP request body */
    int http_threads, http_max_conns, http_timeout_s;
} tt_server_config;

void tt_config_defaults(tt_server_config *c);
/* Applies one setting by its key (the long flag's name without dashes). */
tt_status tt_config_set(tt_server_config *c, const char *key, const char *value);
/* Reads "key = value" lines ('#' starts a comment). */
tt_status tt_config_load_file(tt_server_config *c, const char *path);
/* The next line of f that holds something once its comment ('#' on) is cut and it is
 * trimmed, into *line (inside buf): 1; 0 at the end; -1 (the error set, naming PATH:LINE)
 * for a line longer than buf or one that holds a NUL byte. */
int tt_config_next_line(FILE *f, const char *path, char *buf, size_t cap, int *lineno, char **line);
/* Reads "key = value" lines with tt_config_next_line, calling set for each (its errors
 * prefixed with PATH:LINE). */
tt_status tt_config_read_pairs(FILE *f, const char *path, tt_status (*set)(void *ud, const char *key, char *value),
                               void *ud);
/* Parses argv: --config FILE is read first, then the flags override it. *help: 1 for
 * --help, 2 for --version, 3 for --new-key, 0 to go on. */
tt_status tt_config_parse_args(tt_server_config *c, int argc, char **argv, int *help);
void tt_config_usage(FILE *f);

/* A type by name: the user's first, then the built-in catalog; NULL if unknown. */
const tt_accel_type *tt_config_find_type(const tt_server_config *c, const char *name);
/* Parses sizes like "512MiB", "2GiB", "1048576", "1.5G". */
tt_status tt_parse_bytes(const char *s, uint64_t *out);

#endif
