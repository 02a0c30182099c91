/* Sessions: the public handle over either a local engine (this process's CPU) or a
 * remote one (an accelerator served by tetherd). Both present the same inputs, outputs
 * and run call; remote execution is a transport around the same engine. */
#ifndef TT_SESSION_H
#define TT_SESSION_H

#include "model/ir.h"
#include "runtime/exec.h"

#include <pthread.h>

typedef struct tt_session_ops {
    tt_status (*run)(tether_session *s, const tether_tensor *inputs, size_t n, tether_outputs **out);
    void (*free)(tether_session *s);
} tt_session_ops;

struct tether_session {
    const tt_session_ops *ops;
    int n_inputs, n_outputs;
    tether_value_info *inputs, *outputs; /* names and dim names point into the model or info_arena */
    tether_session_stats stats;
    tt_arena info_arena;
    void *impl;
};

struct tether_outputs {
    size_t n;
    tether_tensor *t;
    tt_value *vals;          /* the references that keep each output's storage alive */
    char **names;            /* owned copies of the names */
    uint64_t flops;          /* of the run that made them */
};

#define TT_MAX_PLANS 8

/* The local engine over one prepared model. */
typedef struct tt_local {
    tt_model *model;
    pthread_mutex_t lock;
    tt_run *free_runs;
    tt_plan *plans[TT_MAX_PLANS];
    int n_plans;
    uint64_t run_limit_ns;
    int num_threads; /* a run's thread cap (0: the whole pool) */
    tt_backend_list backends; /* where nodes may be placed, in order of preference */
} tt_local;

/* Opens a local session over a loaded model (takes ownership of m). */
tt_status tt_local_open(tt_model *m, const tether_session_config *cfg, tether_session **out);
tt_local *tt_session_local(tether_session *s); /* NULL for a remote session */
/* "fp32", "bf16" or "int8"; an error naming anything else. */
tt_status tt_precision_parse(const char *s, tt_precision *out);
/* Runs a local session on values of any kind (sequences, optionals), bound by position;
 * outputs[i] receives a reference the caller releases. For tools and tests. */
tt_status tt_local_run_values(tether_session *s, const tt_value *inputs, tt_value *outputs, uint64_t *flops);

/* Input binding shared by local and remote sessions: matches caller tensors to the
 * model's inputs by name (or position) and checks dtypes and shapes, naming any mismatch. */
tt_status tt_bind_inputs(const tether_session *s, const tether_tensor *in, size_t n, const tether_tensor **bound);

/* Builds an outputs object of n tensors (names copied); takes the values' references. */
tt_status tt_outputs_new(size_t n, tether_outputs **out);
tt_status tt_outputs_set(tether_outputs *o, size_t i, const char *name, tt_value *v);

/* Fills s->inputs / s->outputs from the model's top graph. */
tt_status tt_session_describe_model(tether_session *s, const tt_model *m);

#endif
