/* Graph execution: a frame runs one graph's nodes in order over a table of values, calls
 * each node's placed kernel, frees each value when its last consumer is done, and places
 * intermediate tensors in the memory plan's arenas when a plan fits the run's input
 * shapes. */
#ifndef TT_EXEC_H
#define TT_EXEC_H

#include "backends/backend.h"

/* At most this many buffer types (arenas) per plan: host plus the session's devices. */
#define TT_PLAN_MAX_ARENAS 4

/* A memory plan for one set of input shapes: where each planned value of the top graph
 * lives, one arena per buffer type, computed from value lifetimes and the sizes seen in a
 * run. */
typedef struct tt_plan {
    int n_inputs;
    tt_type *sig;           /* the input dtypes and shapes this plan is for */
    int n_values;
    int64_t *offset;        /* per value: byte offset in its arena, or -1: not planned */
    size_t *size;           /* per value: bytes reserved */
    uint8_t *arena_of;      /* per value: which arena */
    int n_arenas;
    const tt_buft *arena_buft[TT_PLAN_MAX_ARENAS]; /* [0] is host memory (NULL) */
    size_t arena_size[TT_PLAN_MAX_ARENAS];
    size_t total;           /* bytes over every arena */
    uint64_t flops;         /* per run at these shapes */
    uint64_t heap_bytes;    /* bytes of unplanned intermediates (outputs, strings, dynamic) */
    bool device_planned;    /* every value of a device buffer type has its place in an arena */
} tt_plan;

/* Kernels' scratch memory: a stack in one block, grown to the run's high-water mark at
 * reset so the steady path allocates nothing. Overflow blocks live for one kernel call. */
typedef struct tt_scratch {
    uint8_t *base;
    size_t cap, top, high;  /* high: the most any moment of this run wanted */
    void **extra;           /* overflow blocks, freed when their kernel returns */
    int n_extra, extra_cap;
    size_t extra_bytes;
} tt_scratch;

/* One run's working memory; a session keeps a pool of them for concurrent runs. */
typedef struct tt_run {
    const tt_graph *g;
    const tt_plan *plan;    /* NULL: heap allocations */
    uint8_t *arena[TT_PLAN_MAX_ARENAS];
    size_t arena_cap[TT_PLAN_MAX_ARENAS];
    const tt_buft *arena_buft[TT_PLAN_MAX_ARENAS];
    tt_buf *bufs;           /* per top-level value, for planned storage */
    size_t *rec;            /* when recording: bytes allocated per top-level value */
    bool recording;
    uint64_t flops;         /* accumulated while recording */
    tt_value *vals;         /* the top frame's value table */
    int *remaining;
    uint64_t deadline_ns;   /* CLOCK_MONOTONIC; 0: none. Checked before every node and by long kernels */
    const _Atomic int *cancel; /* when set and non-zero, the run stops at the next check */
    tt_scratch scratch;
    /* Each device backend's context for this run (tt_backend.ctx_new), made with the run. */
    int n_bctx;
    const tt_backend *bctx_backend[TT_MAX_BACKENDS];
    void *bctx[TT_MAX_BACKENDS];
    struct tt_run *next;    /* in the session's free list */
} tt_run;

typedef struct tt_frame {
    const tt_graph *g;
    struct tt_frame *parent;
    tt_run *run;            /* for the top frame; subgraph frames allocate on the heap */
    tt_value *vals;
    int *remaining;         /* consumers left per value */
} tt_frame;

tt_status tt_run_new(const tt_graph *g, tt_run **out);
void tt_run_free(tt_run *r);
/* Makes the arena fit plan (NULL: none). */
tt_status tt_run_use_plan(tt_run *r, const tt_plan *plan);

/* Binds the top graph's inputs (borrowed) and constants, runs every node, and leaves the
 * graph outputs in r->vals (the caller moves them out, then calls tt_run_reset). */
tt_status tt_run_exec(tt_run *r, const tt_value *inputs);
void tt_run_reset(tt_run *r);

/* Runs one node in frame f (also used by constant folding). */
tt_status tt_exec_node(tt_frame *f, int node_index);
/* Runs a frame's nodes; the caller has bound inputs/constants/outer values. */
tt_status tt_frame_exec(tt_frame *f);
/* Binds constants and outer values of f->g into f->vals (borrowed). */
void tt_frame_bind_static(tt_frame *f);

/* A value's concrete type, as infer sees it at run time. */
void tt_value_type(const tt_value *v, const tt_type *declared, tt_type *t);

#endif
