/* The cost advisor's computation: price each measured (host, accelerator) row, cost it per
 * 100,000 inferences, check it against latency and memory constraints, pick the cheapest
 * row that meets them, and compare always-on rows with a per-request (serverless) price.
 * No I/O here: reading rows is advise_io.c, printing is cmd_advise.c, the chart svg.c. */
#ifndef TT_CLI_ADVISE_H
#define TT_CLI_ADVISE_H

#include "prices.h"

#include <stdbool.h>

#define TT_ADV_HOURS_PER_MONTH 730.0 /* 365 * 24 / 12, the convention AWS prices months by */

typedef enum tt_adv_class {
    TT_ADV_CPU_ONLY = 0,    /* a host without a GPU and no accelerator */
    TT_ADV_GPU_ONLY = 1,    /* a GPU host (g4dn, p2, p3) and no accelerator */
    TT_ADV_ACCELERATED = 2, /* a host with an attached accelerator */
} tt_adv_class;

typedef struct tt_adv_row {
    /* What was measured (input). */
    char host[48];         /* host type ("c5.large"); "" or "local" when not known */
    char accelerator[48];  /* accelerator type, "" for none */
    double price_per_hour; /* host + accelerator as recorded with the row; < 0: not given */
    double mean_ms;        /* per inference (one run of `batch` samples) */
    double p90_ms, p95_ms, p99_ms; /* < 0: not measured */
    double memory_needed; /* bytes the model needs where it runs; 0: not known */
    int batch;            /* samples per inference; 0: not known (taken as 1) */
    char model[128];      /* the model measured (file name); "" when not known */

    /* What tt_advise works out (output). */
    double price_used;    /* the price per hour costed; < 0 when the row could not be priced */
    double cost_per_100k; /* USD per 100,000 samples (inferences at batch 1); < 0 when not priced */
    double device_memory; /* bytes where the model runs (accelerator, GPUs or RAM); 0: unknown */
    tt_adv_class cls;
    char family[48];   /* for the chart's colours: "eia2", "c5", "g4dn", ... */
    bool meets;        /* meets every constraint (and could be priced) */
    char why_not[256]; /* when !meets: every reason, "; "-separated */
} tt_adv_row;

typedef struct tt_adv_constraints {
    double max_p90_ms;  /* 0: no limit */
    double max_p95_ms;  /* 0: no limit */
    double max_p99_ms;  /* 0: no limit */
    double max_mean_ms; /* 0: no limit */
    double min_memory;  /* bytes the model needs where it runs, 0: no limit */
} tt_adv_constraints;

typedef struct tt_adv_result {
    int recommended; /* index into the (sorted) rows, -1 when no row meets the constraints */
    int runner_up;   /* the next cheapest row meeting them, -1 when none */
    /* The cheapest CPU-only and GPU-only rows, the savings are against: those meeting the
     * constraints when any does, else the cheapest priced ones; -1 when there is none. */
    int cheapest_cpu, cheapest_gpu;
    double savings_vs_cpu, savings_vs_gpu; /* fraction of their cost saved (0.6 = 60%) */
    char reason[256];                      /* why nothing is recommended, when recommended == -1 */
} tt_adv_result;

/* Cost per 100,000 inferences of a combination priced `price_per_hour` taking `mean_ms` per
 * inference, one at a time: price / 3600 * mean seconds * 100,000. */
double tt_adv_cost_per_100k(double price_per_hour, double mean_ms);

/* Rows measured on different models, or at different batch sizes, do not compare: false
 * with *why filled (naming them) when they are mixed. Rows that do not say are not counted. */
bool tt_adv_rows_comparable(const tt_adv_row *rows, int n, char *why, size_t why_cap);
/* Whether any row was measured at batch > 1 (then costs are per sample). */
bool tt_adv_any_batched(const tt_adv_row *rows, int n);

/* Prices, costs and checks every row, then sorts rows by cost (rows that could not be priced
 * last) and fills *res. `prices` is the user price file (may be NULL). A row's price is the
 * one recorded with it, unless the user file names its host or accelerator: then, as when
 * the row has no price, it is host + accelerator from the user file and the built-in tables. */
void tt_advise(tt_adv_row *rows, int n, const tt_prices *prices, const tt_adv_constraints *c, tt_adv_result *res);

/* The per-request price model, AWS Lambda's by default (tt_adv_serverless_init). */
typedef struct tt_adv_serverless {
    double per_million_requests; /* USD per 1,000,000 requests ($0.20) */
    double per_gb_second;        /* USD per GB-second of configured memory ($0.0000166667) */
    double memory_mb;            /* configured memory (2048) */
    double duration_ms;          /* billed time of one inference; 0: tt_adv_monthly picks */
    double granularity_ms;       /* billing rounds each request's duration up to this (1 ms) */
    double utilization;          /* the share of an always-on instance's time spent serving
                                    (1: flat out; 0.5: half idle, so twice the instances) */
} tt_adv_serverless;

void tt_adv_serverless_init(tt_adv_serverless *s);
/* The duration billed for one request: duration_ms rounded up to the granularity. */
double tt_adv_serverless_billed_ms(const tt_adv_serverless *s);
/* USD for one request under the model. */
double tt_adv_serverless_per_request(const tt_adv_serverless *s);

typedef struct tt_adv_monthly {
    double capacity;       /* samples one instance serves in a month, one inference at a time,
                              busy `utilization` of the time */
    int instances;         /* instances needed for the volume */
    double always_on_usd;  /* instances * price * hours per month */
    double serverless_usd; /* volume * per-request price */
    double crossover;      /* monthly volume above which one always-on instance is cheaper;
                              < 0 when it never is (its own capacity runs out first) */
} tt_adv_monthly;

/* Compares one costed row, always on, with the serverless model at `volume` per month. */
void tt_adv_monthly_compare(const tt_adv_row *row, double volume, const tt_adv_serverless *s, tt_adv_monthly *out);

/* "2GiB", "512 MiB", "1.5G", "1000000" (bytes) -> bytes; false when malformed. */
bool tt_adv_parse_bytes(const char *s, double *out);

#endif
