/* Status codes and error messages: every failing call records a message naming what was
 * wrong (thread-local), and outer layers may prefix it with their context. */
#ifndef TT_STATUS_H
#define TT_STATUS_H

#include "tether.h"
#include <stdarg.h>

typedef tether_status tt_status;

#define TT_OK TETHER_OK

/* Record a message and return code, e.g. `return tt_error(TETHER_ERR_SHAPE, "...%d", n);` */
tt_status tt_error(tt_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context ("node 'x' (Conv): " + old message). Returns code. */
tt_status tt_error_prefix(tt_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tt_last_error(void);
void tt_error_clear(void);

#define TT_TRY(expr)                      \
    do {                                  \
        tt_status tt_try_s_ = (expr);     \
        if (tt_try_s_ != TT_OK)           \
            return tt_try_s_;             \
    } while (0)

/* Invariants that stay on in release builds: a failure is a bug in tether, not bad input. */
#define TT_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond))                                                                     \
            tt_assert_fail(#cond, __FILE__, __LINE__);                                   \
    } while (0)
_Noreturn void tt_assert_fail(const char *cond, const char *file, int line);

#endif
