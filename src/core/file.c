/* Whole-file replacement through a temporary file, fsync and rename. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

tt_status tt_file_replace(const char *path, const char *tmp, const void *data, size_t len)
{
    tt_status st = TT_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
        st = tt_error(TETHER_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (st == TT_OK && rename(tmp, path) != 0)
        st = tt_error(TETHER_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
    return st;
}
