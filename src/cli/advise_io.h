/* Reading the advisor's input: the rows of `tether bench --json` (or of `tether advise
 * --json`) or a CSV table with the header host,accelerator,price_per_hour,mean_ms,p90_ms
 * and optionally memory_needed. */
#ifndef TT_CLI_ADVISE_IO_H
#define TT_CLI_ADVISE_IO_H

#include "advise.h"

/* Reads the rows of the file at `path` (JSON when it starts with '{' or '[', else CSV) and
 * appends them to *rows (realloc'ed; free it) and *n. Errors name the file and line. */
tt_status tt_adv_read_file(const char *path, tt_adv_row **rows, int *n);

/* The same, from text in memory; `name` labels messages. `text` is modified. */
tt_status tt_adv_read_text(char *text, const char *name, tt_adv_row **rows, int *n);

#endif
