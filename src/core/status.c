/* Thread-local error messages behind tether_last_error(). A message is kept whole however
 * long it grows (prefixes pile up as an error travels outwards); only a failed allocation
 * falls back to a fixed buffer that may cut it. */
#include "core/status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_ERRMSG_FALLBACK 1024

static _Thread_local char tt_errfix[TT_ERRMSG_FALLBACK];
static _Thread_local char *tt_errmsg; /* heap, or NULL for tt_errfix */

static pthread_key_t g_errkey;
static pthread_once_t g_errkey_once = PTHREAD_ONCE_INIT;
static void errkey_make(void) { pthread_key_create(&g_errkey, free); }

/* Makes msg (malloc'ed) the thread's message. The old one is freed only now, so arguments
 * that pointed into it (a message quoting the last one) were read first. */
static void install(char *msg)
{
    char *old = tt_errmsg;
    tt_errmsg = msg;
    pthread_once(&g_errkey_once, errkey_make);
    pthread_setspecific(g_errkey, msg); /* freed when the thread ends */
    free(old);
}

static const char *current(void) { return tt_errmsg ? tt_errmsg : tt_errfix; }

/* The fixed buffer, when memory is short: the message may be cut there. */
static void install_fixed(const char *msg)
{
    if (msg != tt_errfix)
        snprintf(tt_errfix, sizeof tt_errfix, "%s", msg);
    char *old = tt_errmsg;
    tt_errmsg = NULL;
    if (old) {
        pthread_setspecific(g_errkey, NULL);
        free(old);
    }
}

tt_status tt_error(tt_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int len = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (len >= 0) {
        install(msg);
    } else {
        char tmp[TT_ERRMSG_FALLBACK];
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        install_fixed(tmp);
    }
    return code;
}

tt_status tt_error_prefix(tt_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *prefix = NULL;
    int pl = vasprintf(&prefix, fmt, ap);
    va_end(ap);
    if (pl < 0)
        return code; /* keep the cause rather than lose it */
    const char *cur = current();
    size_t ol = strlen(cur);
    char *msg = malloc((size_t)pl + ol + 1);
    if (!msg) {
        free(prefix);
        return code;
    }
    memcpy(msg, prefix, (size_t)pl);
    memcpy(msg + pl, cur, ol + 1);
    free(prefix);
    install(msg);
    return code;
}

const char *tt_last_error(void) { return current(); }

void tt_error_clear(void) { install_fixed(""); }

void tt_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "tether: internal invariant failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

const char *tether_last_error(void) { return current(); }

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
