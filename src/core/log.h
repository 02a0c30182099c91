/* Leveled logging to stderr (or a sink the embedding program installs). */
#ifndef TT_LOG_H
#define TT_LOG_H

typedef enum tt_log_level {
    TT_LOG_DEBUG = 0,
    TT_LOG_INFO = 1,
    TT_LOG_NOTICE = 2, /* worth a line by default: where a session runs */
    TT_LOG_WARN = 3,
    TT_LOG_ERROR = 4,
    TT_LOG_OFF = 5,
} tt_log_level;

typedef void (*tt_log_sink)(tt_log_level level, const char *msg, void *user);

void tt_log(tt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tt_log_set_level(tt_log_level level);
tt_log_level tt_log_get_level(void);
/* Parses "debug" | "info" | "notice" | "warn" | "error" | "off"; returns -1 if unknown. */
int tt_log_level_parse(const char *s);
void tt_log_set_sink(tt_log_sink sink, void *user);

#define TT_DEBUG(...) tt_log(TT_LOG_DEBUG, __VA_ARGS__)
#define TT_INFO(...) tt_log(TT_LOG_INFO, __VA_ARGS__)
#define TT_WARN(...) tt_log(TT_LOG_WARN, __VA_ARGS__)

#endif
