/* Files rewritten whole: a new version goes to a temporary file that is synced and then
 * renamed over the old, so a reader (or a crash) sees one version or the other, never a mix. */
#ifndef TT_FILE_H
#define TT_FILE_H

#include "core/status.h"

#include <stddef.h>

/* Writes len bytes to tmp (created 0600, or truncated), fsyncs it and renames it over path.
 * IO naming tmp or path on failure; tmp may then be left behind for the caller to remove. */
tt_status tt_file_replace(const char *path, const char *tmp, const void *data, size_t len);

#endif
