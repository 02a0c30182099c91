/* Prices for the advisor and the bench sweep: EC2 host types (built in, as published in
 * 2019-2020), accelerator types (from the accelerator catalog, core/catalog.c), and a user
 * price file that overrides both. */
#ifndef TT_CLI_PRICES_H
#define TT_CLI_PRICES_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum tt_price_kind {
    TT_PRICE_HOST = 0,        /* a machine the application runs on */
    TT_PRICE_ACCELERATOR = 1, /* a slot attached to a host (eia2.medium, cpu.small, ...) */
} tt_price_kind;

typedef struct tt_price {
    char name[48];
    double price_per_hour;   /* USD; < 0 when the price is not known */
    double memory_bytes;     /* host RAM, or the accelerator's memory; 0 when not known */
    double gpu_memory_bytes; /* hosts: memory of all their GPUs together, 0 for CPU-only hosts */
    int vcpus;               /* hosts; 0 when not known */
    tt_price_kind kind;
} tt_price;

/* A user price file, read by tt_prices_load: CSV with a header naming at least `name` and
 * `price_per_hour`; optional `kind` (host | accelerator), `memory_gib`, `gpu_memory_gib`. */
typedef struct tt_prices {
    tt_price *entries;
    int n;
} tt_prices;

/* The built-in EC2 host types (c5, m5, g4dn, p2, p3). */
const tt_price *tt_prices_builtin_hosts(int *n);

/* Looks `name` up: the user file first (when `user` is not NULL), then the built-in hosts,
 * then the accelerator catalog. Returns false when nothing is known about `name`.
 * *from_user tells whether the answer came from the user file (may be NULL). */
bool tt_price_lookup(const tt_prices *user, const char *name, tt_price *out, bool *from_user);

tt_status tt_prices_load(const char *path, tt_prices *out);
void tt_prices_free(tt_prices *p);

/* "eia2.medium" -> "eia2", "c5.xlarge" -> "c5", "none"/"" -> "". */
void tt_price_family(const char *name, char *out, int n);

/* A type name as tables print it, in the catalog's spelling: lower case, SageMaker's "ml."
 * dropped, the first Elastic Inference generation's old "eia." as "eia1.", shortened sizes
 * spelt out ("C5.4XL" -> "c5.4xlarge", "med" -> "medium"); "none", "-", "n/a" -> "". */
void tt_price_canon(const char *in, char *out, size_t n);
/* A price as tables print it: "0.12", "$0.12", "$ 1,020.50", "0.12 USD", "$0.12/hr",
 * "0.12 per hour". False unless it is a non-negative number. */
bool tt_price_parse(const char *s, double *out);

#endif
