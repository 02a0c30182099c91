/* libFuzzer target for the advisor's table readers (src/cli/advise_io.c, csv.c, prices.c): the
 * same bytes as a benchmark table (bench JSON, CSV, tab-separated or Markdown, with captions,
 * aliases, prices with '$', optional columns) and as a --prices file. Users paste these from
 * anywhere; a bad one is an error naming the line, never a crash. */
#include "cli/advise_io.h"
#include "cli/prices.h"
#include "core/mem.h"
#include "fuzz_file.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reader edits the text in place: a NUL-terminated copy */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    tt_adv_row *rows = NULL;
    int n = 0;
    if (tt_adv_read_text(text, "fuzz", &rows, &n) == TT_OK && n < 0)
        abort();
    free(rows);
    free(text);

    tt_prices p = {0};
    if (tt_prices_load(fuzz_file(data, size), &p) == TT_OK)
        tt_prices_free(&p);
    return 0;
}
