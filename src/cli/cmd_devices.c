/* tether devices: the backends this build has and the devices each can see (the CPU's
 * model and cores; each GPU's name, memory, compute capability and driver), or why a
 * backend is unavailable (not built, its libraries or driver missing, no GPU). */
#include "cli.h"

#include "backends/backend.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether devices [--json]\n\n"
               "Lists the backends of this build (cpu, cuda) and the devices each can run on,\n"
               "or why a backend cannot run here. Local sessions name a device as their\n"
               "target: \"cpu\" or \"cuda:N\".\n\n"
               "  --json     {\"backends\": [{\"name\": \"cpu\", \"available\": true, \"devices\": [...]},\n"
               "              {\"name\": \"cuda\", \"available\": false, \"reason\": \"...\"}]}\n"
               "  -h, --help\n");
}

static cJSON *device_json(const tt_backend_devices *b, int i)
{
    const tt_device_info *d = &b->dev[i];
    cJSON *o = cJSON_CreateObject();
    bool cpu = strcmp(b->name, "cpu") == 0;
    if (!cpu) {
        char target[32];
        snprintf(target, sizeof target, "%s:%d", b->name, i);
        cJSON_AddStringToObject(o, "target", target);
    }
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)d->memory_bytes);
    if (d->memory_free)
        cJSON_AddNumberToObject(o, "memory_free_bytes", (double)d->memory_free);
    if (cpu) {
        cJSON_AddNumberToObject(o, "cores", d->cores);
        cJSON_AddNumberToObject(o, "threads", d->threads);
        cJSON_AddStringToObject(o, "isa", d->detail);
    } else {
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", d->cc_major, d->cc_minor);
        cJSON_AddStringToObject(o, "compute_capability", cc);
        cJSON_AddNumberToObject(o, "multiprocessors", d->cores);
        cJSON_AddStringToObject(o, "driver_cuda", d->driver);
        cJSON_AddStringToObject(o, "runtime_cuda", d->runtime);
        if (d->peak_flops > 0)
            cJSON_AddNumberToObject(o, "fp32_tflops", d->peak_flops / 1e12);
        cJSON_AddStringToObject(o, "bus", d->detail);
    }
    return o;
}

static void print_text(const tt_backend_devices *b)
{
    printf("%s: %s%s%s%s\n", b->name, b->available ? "available" : "unavailable", b->version[0] ? " (" : "",
           b->version, b->version[0] ? ")" : "");
    if (!b->available) {
        printf("  %s\n", b->reason);
        return;
    }
    for (int i = 0; i < b->n; i++) {
        const tt_device_info *d = &b->dev[i];
        if (strcmp(b->name, "cpu") == 0)
            printf("  cpu     %s, %d cores, %d threads, %.1f GiB%s%s\n", d->name, d->cores, d->threads,
                   d->memory_bytes / 1073741824.0, d->detail[0] ? ", " : "", d->detail);
        else
            printf("  %s:%d  %s, %.1f GiB, compute capability %d.%d, %d multiprocessors, %.1f FP32 TFLOPS, driver CUDA %s\n",
                   b->name, i, d->name, d->memory_bytes / 1073741824.0, d->cc_major, d->cc_minor, d->cores,
                   d->peak_flops / 1e12, d->driver);
    }
    if (b->reason[0])
        printf("  (%s)\n", b->reason);
}

int tt_cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    tt_backend_devices *b = calloc(2, sizeof *b);
    if (!b)
        return tt_cli_fail("devices", "out of memory");
    tt_devices_cpu(&b[0]);
    tt_devices_cuda(&b[1]);
    if (!json) {
        for (int i = 0; i < 2; i++)
            print_text(&b[i]);
        free(b);
        return 0;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "backends");
    for (int i = 0; i < 2; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", b[i].name);
        cJSON_AddBoolToObject(e, "available", b[i].available);
        if (b[i].available) {
            cJSON *devs = cJSON_AddArrayToObject(e, "devices");
            for (int k = 0; k < b[i].n; k++)
                cJSON_AddItemToArray(devs, device_json(&b[i], k));
        } else {
            cJSON_AddStringToObject(e, "reason", b[i].reason);
        }
        if (b[i].version[0])
            cJSON_AddStringToObject(e, "libraries", b[i].version);
        cJSON_AddItemToArray(arr, e);
    }
    char *s = cJSON_Print(root);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
    free(b);
    return s ? 0 : tt_cli_fail("devices", "out of memory");
}
