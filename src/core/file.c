/* Whole-file replacement through a temporary file, fsync and rename; opening files inside
 * a folder with the kernel's RESOLVE_BENEATH (or a walk refusing symbolic links). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#endif

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

/* Without openat2: component by component, refusing every symbolic link and "..". */
static int open_walk(int dirfd, const char *rel)
{
    char *copy = strdup(rel);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    int fd = dirfd;
    char *save = NULL, *next;
    for (char *comp = strtok_r(copy, "/", &save); comp; comp = next) {
        next = strtok_r(NULL, "/", &save);
        if (strcmp(comp, "..") == 0) {
            errno = EXDEV;
            break;
        }
        int flags = O_NOFOLLOW | O_CLOEXEC | (next ? O_DIRECTORY | O_PATH : O_RDONLY | O_NONBLOCK);
        int nfd = openat(fd, comp, flags);
        struct stat st;
        if (nfd < 0 && errno == ENOTDIR && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            errno = ELOOP; /* a link to a folder: O_NOFOLLOW | O_DIRECTORY says "not a directory" */
        int e = errno;
        if (fd != dirfd)
            close(fd);
        fd = nfd;
        errno = e;
        if (fd < 0 || !next) {
            free(copy);
            return fd;
        }
    }
    if (fd != dirfd)
        close(fd);
    free(copy);
    if (errno != EXDEV)
        errno = ENOENT; /* an empty path */
    return -1;
}

int tt_open_beneath(const char *dir, const char *rel)
{
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    int fd = -1;
#if defined(__linux__) && defined(SYS_openat2)
    struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        fd = open_walk(dirfd, rel); /* an older kernel, or a sandbox refusing the call */
#else
    fd = open_walk(dirfd, rel);
#endif
    int e = errno;
    close(dirfd);
    errno = e;
    return fd;
}
