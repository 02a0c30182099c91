/* Thread-local error messages behind tether_last_error(). */
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_ERRMSG_MAX 1024

static _Thread_local char tt_errmsg[TT_ERRMSG_MAX];

tt_status tt_error(tt_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tt_errmsg, sizeof tt_errmsg, fmt, ap);
    va_end(ap);
    return code;
}

tt_status tt_error_prefix(tt_status code, const char *fmt, ...)
{
    char prefix[TT_ERRMSG_MAX], old[TT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tt_errmsg, sizeof old);
    size_t pl = strlen(prefix), ol = strlen(old);
    if (ol > sizeof tt_errmsg - 1 - pl)
        ol = sizeof tt_errmsg - 1 - pl;
    memcpy(tt_errmsg, prefix, pl);
    memcpy(tt_errmsg + pl, old, ol);
    tt_errmsg[pl + ol] = 0;
    return code;
}

const char *tt_last_error(void) { return tt_errmsg; }

void tt_error_clear(void) { tt_errmsg[0] = 0; }

void tt_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "tether: internal invariant failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

const char *tether_last_error(void) { return tt_errmsg; }

const char *tether_status_name(tether_status s)
{
    switch (s) {
    case TETHER_OK: return "ok";
    case TETHER_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TETHER_ERR_INVALID_MODEL: return "invalid model";
    case TETHER_ERR_UNSUPPORTED: return "unsupported";
    case TETHER_ERR_NO_MEMORY: return "out of memory";
    case TETHER_ERR_IO: return "i/o error";
    case TETHER_ERR_SHAPE: return "shape or type mismatch";
    case TETHER_ERR_RUNTIME: return "runtime error";
    case TETHER_ERR_NOT_FOUND: return "not found";
    case TETHER_ERR_QUOTA: return "over quota";
    case TETHER_ERR_AUTH: return "not authorized";
    case TETHER_ERR_NETWORK: return "network error";
    case TETHER_ERR_TIMEOUT: return "timed out";
    case TETHER_ERR_PROTOCOL: return "protocol error";
    case TETHER_ERR_BUSY: return "busy";
    case TETHER_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *tether_version(void) { return TETHER_VERSION; }
