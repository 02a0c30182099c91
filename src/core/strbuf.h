/* A growable text buffer for the server's generated documents (metrics, the repository
 * index, the status page): printf appends, and a failed allocation sets `oom` once, after
 * which appends do nothing, so a writer checks once at the end. */
#ifndef TT_CORE_STRBUF_H
#define TT_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tt_strbuf {
    char *p; /* NUL-terminated once anything was appended; free with tt_free */
    size_t n, cap;
    bool oom;
} tt_strbuf;

void tt_strbuf_printf(tt_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
