/* The event loop (after Redis's ae): epoll over listeners and connections, an eventfd
 * other threads use to wake it, and a periodic tick for timeouts and lease expiry. One
 * thread runs it; handlers must not block. */
#ifndef TT_SERVER_LOOP_H
#define TT_SERVER_LOOP_H

#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_loop tt_loop;
typedef struct tt_io tt_io;

#define TT_EV_READ 1u
#define TT_EV_WRITE 2u

/* Called with the events that fired (TT_EV_READ also on hang-up and error: the read then
 * says what happened). */
typedef void (*tt_io_fn)(tt_loop *l, tt_io *io, unsigned events);

/* Embedded in whatever owns the fd; must stay put while registered. */
struct tt_io {
    int fd;
    tt_io_fn fn;
    void *owner;
};

tt_status tt_loop_new(tt_loop **out);
void tt_loop_free(tt_loop *l);
tt_status tt_loop_add(tt_loop *l, tt_io *io, unsigned events);
/* Thread-safe: workers turn the writable interest of a connection on. */
tt_status tt_loop_mod(tt_loop *l, tt_io *io, unsigned events);
void tt_loop_del(tt_loop *l, tt_io *io);
/* Thread-safe: makes the loop return from its wait and run `wake` (see tt_loop_run). */
void tt_loop_wake(tt_loop *l);
/* Thread-safe: tt_loop_run returns after the current iteration. */
void tt_loop_stop(tt_loop *l);
/* Runs until stopped. tick runs every tick_ms; wake runs after every wait that a
 * tt_loop_wake (or stop) interrupted; after_batch after every batch of events. */
void tt_loop_run(tt_loop *l, int tick_ms, void (*tick)(void *), void (*wake)(void *), void (*after_batch)(void *),
                 void *ud);

#endif
