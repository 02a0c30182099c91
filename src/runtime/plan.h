/* Memory planning: one arena per run, each intermediate tensor at an offset chosen so
 * that tensors alive at the same time never overlap (greedy by size, first fit in time). */
#ifndef TT_PLAN_H
#define TT_PLAN_H

#include "runtime/exec.h"

/* Builds a plan for g from the sizes a recording run saw (r->rec) and static lifetimes. */
tt_status tt_plan_build(const tt_graph *g, const tt_run *r, const tt_value *inputs, tt_plan **out);
void tt_plan_free(tt_plan *p);
/* Whether the plan was made for inputs of exactly these dtypes and shapes. */
bool tt_plan_matches(const tt_plan *p, const tt_value *inputs);

#endif
