/* epoll, level-triggered: a handler that leaves bytes unread is simply called again, which
 * keeps one busy connection from starving the others (handlers read a bounded amount). */
#include "server/loop.h"

#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct tt_loop {
    int ep;
    tt_io wake_io;
    atomic_bool stop;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

tt_status tt_loop_new(tt_loop **out)
{
    tt_loop *l = tt_calloc(1, sizeof *l);
    if (!l)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for the event loop");
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ep < 0 || l->wake_io.fd < 0) {
        tt_status s = tt_error(TETHER_ERR_INTERNAL, "epoll/eventfd: %s", strerror(errno));
        tt_loop_free(l);
        return s;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake_io};
    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake_io.fd, &ev);
    *out = l;
    return TT_OK;
}

void tt_loop_free(tt_loop *l)
{
    if (!l)
        return;
    if (l->ep >= 0)
        close(l->ep);
    if (l->wake_io.fd >= 0)
        close(l->wake_io.fd);
    tt_free(l);
}

static uint32_t ep_events(unsigned ev)
{
    return (ev & TT_EV_READ ? EPOLLIN | EPOLLRDHUP : 0) | (ev & TT_EV_WRITE ? EPOLLOUT : 0);
}

tt_status tt_loop_add(tt_loop *l, tt_io *io, unsigned events)
{
    struct epoll_event ev = {.events = ep_events(events), .data.ptr = io};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, io->fd, &ev) != 0)
        return tt_error(TETHER_ERR_INTERNAL, "epoll_ctl(ADD, fd %d): %s", io->fd, strerror(errno));
    return TT_OK;
}

tt_status tt_loop_mod(tt_loop *l, tt_io *io, unsigned events)
{
    struct epoll_event ev = {.events = ep_events(events), .data.ptr = io};
    if (epoll_ctl(l->ep, EPOLL_CTL_MOD, io->fd, &ev) != 0)
        return tt_error(TETHER_ERR_INTERNAL, "epoll_ctl(MOD, fd %d): %s", io->fd, strerror(errno));
    return TT_OK;
}

void tt_loop_del(tt_loop *l, tt_io *io)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, io->fd, NULL);
}

void tt_loop_wake(tt_loop *l)
{
    uint64_t one = 1;
    ssize_t k = write(l->wake_io.fd, &one, sizeof one);
    (void)k; /* EAGAIN: the counter is already non-zero, the loop wakes anyway */
}

void tt_loop_stop(tt_loop *l)
{
    atomic_store(&l->stop, true);
    tt_loop_wake(l);
}

void tt_loop_run(tt_loop *l, int tick_ms, void (*tick)(void *), void (*wake)(void *), void (*after_batch)(void *),
                 void *ud)
{
    struct epoll_event evs[128];
    uint64_t next_tick = mono_ms() + (uint64_t)tick_ms;
    while (!atomic_load(&l->stop)) {
        uint64_t now = mono_ms();
        int wait = now >= next_tick ? 0 : (int)(next_tick - now);
        int n = epoll_wait(l->ep, evs, (int)(sizeof evs / sizeof evs[0]), wait);
        if (n < 0 && errno != EINTR) {
            tt_log(TT_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            break;
        }
        bool woke = false;
        for (int i = 0; i < n; i++) {
            tt_io *io = evs[i].data.ptr;
            if (io == &l->wake_io) {
                uint64_t v;
                ssize_t k = read(io->fd, &v, sizeof v);
                (void)k;
                woke = true;
                continue;
            }
            unsigned ev = 0;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                ev |= TT_EV_READ;
            if (evs[i].events & EPOLLOUT)
                ev |= TT_EV_WRITE;
            io->fn(l, io, ev);
        }
        if (woke && wake)
            wake(ud);
        if (after_batch)
            after_batch(ud);
        if (mono_ms() >= next_tick) {
            if (tick)
                tick(ud);
            next_tick = mono_ms() + (uint64_t)tick_ms;
        }
    }
}
