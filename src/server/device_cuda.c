/* A CUDA device for tetherd (--device cuda:N): its name, memory and FP32 peak come from the
 * CUDA plugin (or --peak-gflops); models open on it as cuda:N sessions, each held to the
 * largest slot's memory quota on the device. Slots meter its device time by default. */
#include "server/device.h"

#include "backends/backend.h"
#include "core/threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tt_status tt_device_open_cuda(tt_device *d, const char *name, double peak_gflops)
{
    memset(d, 0, sizeof *d);
    const char *colon = strchr(name, ':');
    char *end = NULL;
    long ordinal = colon ? strtol(colon + 1, &end, 10) : 0;
    if (strncmp(name, "cuda", 4) != 0 || (colon ? colon != name + 4 || !colon[1] || *end : name[4]) || ordinal < 0 ||
        ordinal >= TT_MAX_DEVICES)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "device '%s': name a GPU as cuda:N", name);
    tt_backend_devices *b = malloc(sizeof *b);
    if (!b)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    tt_devices_cuda(b);
    tt_status s = TT_OK;
    if (!b->available)
        s = tt_error(TETHER_ERR_UNSUPPORTED, "device '%s' is unavailable: %s", name, b->reason);
    else if (ordinal >= b->n)
        s = tt_error(TETHER_ERR_UNSUPPORTED, "device '%s' is unavailable: this host has %d GPU%s", name, b->n,
                     b->n == 1 ? "" : "s");
    if (s == TT_OK) {
        const tt_device_info *g = &b->dev[ordinal];
        snprintf(d->name, sizeof d->name, "cuda:%ld", ordinal);
        snprintf(d->target, sizeof d->target, "cuda:%ld", ordinal);
        d->memory_bytes = g->memory_bytes;
        d->peak_flops = peak_gflops > 0 ? peak_gflops * 1e9 : g->peak_flops;
        d->threads = tt_threads_total();
        d->gpu = true;
        snprintf(d->desc, sizeof d->desc, "cuda:%ld: %.60s, %.1f GiB, cc %d.%d, %.1f FP32 TFLOPS%s", ordinal, g->name,
                 g->memory_bytes / 1073741824.0, g->cc_major, g->cc_minor, d->peak_flops / 1e12,
                 peak_gflops > 0 ? " (as configured)" : "");
        if (d->peak_flops <= 0)
            s = tt_error(TETHER_ERR_UNSUPPORTED, "device '%s': its FP32 peak is not known: give --peak-gflops", name);
    }
    free(b);
    return s;
}
