/* The advisor's chart as SVG, like the Elastic Inference write-ups' figures: one bar per
 * combination (cost per 100,000 inferences, one colour per family), P90 latency as a line
 * on a second axis, the latency limit dashed, the recommendation marked. */
#ifndef TT_CLI_SVG_H
#define TT_CLI_SVG_H

#include "advise.h"

#include <stdio.h>

/* Writes the chart of the rows tt_advise sorted (unpriced rows are left out). */
void tt_adv_svg(FILE *f, const tt_adv_row *rows, int n, const tt_adv_result *res, const tt_adv_constraints *c);

/* The same into the file at `path`. */
tt_status tt_adv_svg_write(const char *path, const tt_adv_row *rows, int n, const tt_adv_result *res,
                           const tt_adv_constraints *c);

#endif
