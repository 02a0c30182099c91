/* Logging: level from TETHER_LOG_LEVEL (default notice), one line per message. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_level = -1;
static tt_log_sink g_sink;
static void *g_sink_user;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

int tt_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "notice", "warn", "error", "off"};
    for (int i = 0; i < 6; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    if (s && strcmp(s, "warning") == 0)
        return TT_LOG_WARN;
    return -1;
}

tt_log_level tt_log_get_level(void)
{
    if (g_level < 0) {
        int l = tt_log_level_parse(getenv("TETHER_LOG_LEVEL"));
        g_level = l < 0 ? TT_LOG_NOTICE : l;
    }
    return (tt_log_level)g_level;
}

void tt_log_set_level(tt_log_level level) { g_level = (int)level; }

void tt_log_set_sink(tt_log_sink sink, void *user)
{
    pthread_mutex_lock(&g_log_lock);
    g_sink = sink;
    g_sink_user = user;
    pthread_mutex_unlock(&g_log_lock);
}

/* Control characters become \xNN: messages carry names and text that clients and models
 * chose, and a log line must stay one line that cannot move the terminal's cursor or
 * forge a line of its own. */
static void escape_controls(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = 0;
}

void tt_log(tt_log_level level, const char *fmt, ...)
{
    if (level < tt_log_get_level())
        return;
    char raw[2048], msg[4 * sizeof raw + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    escape_controls(raw, msg, sizeof msg);
    pthread_mutex_lock(&g_log_lock);
    if (g_sink) {
        g_sink(level, msg, g_sink_user);
    } else {
        static const char *tags[] = {"debug", "info", "notice", "warn", "error", "off"};
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld tether %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, tags[level], msg);
    }
    pthread_mutex_unlock(&g_log_lock);
}
