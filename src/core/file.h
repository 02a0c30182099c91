/* Files: opening one inside a folder without leaving it, and files rewritten whole.
 * Rewritten whole: a new version goes to a temporary file that is synced and then
 * renamed over the old, so a reader (or a crash) sees one version or the other, never a mix. */
#ifndef TT_FILE_H
#define TT_FILE_H

#include "core/status.h"

#include <stddef.h>

/* Writes len bytes to tmp (created 0600, or truncated), fsyncs it and renames it over path.
 * IO naming tmp or path on failure; tmp may then be left behind for the caller to remove. */
tt_status tt_file_replace(const char *path, const char *tmp, const void *data, size_t len);

/* Opens `rel` for reading inside the folder `dir`, never outside it: a path (or a symbolic
 * link on the way) leading out of dir fails with EXDEV, where the kernel cannot tell, with
 * ELOOP on any symbolic link. Never blocks (a FIFO opens and is then not a regular file).
 * Returns the descriptor, or -1 with errno set. */
int tt_open_beneath(const char *dir, const char *rel);

#endif
