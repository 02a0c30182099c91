/* What each backend of this build can run on, for `tether devices`: the host's processor
 * for cpu (model name, cores, ISA), the GPUs the CUDA plugin sees, or why it sees none. */
#include "backends/plugin.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The value of "key : value" line `key` of /proc/cpuinfo's first processor. */
static bool cpuinfo_field(const char *key, char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    size_t kl = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != '\t' && line[kl] != ':'))
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        v++;
        while (*v == ' ')
            v++;
        snprintf(out, cap, "%s", v);
        size_t n = strlen(out);
        while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
            out[--n] = 0;
        found = true;
    }
    fclose(f);
    return found;
}

/* Physical cores: distinct (physical id, core id) pairs. */
static int physical_cores(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[512];
    int phys = 0, n = 0;
    int seen[1024][2];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) {
            phys = v;
        } else if (sscanf(line, "core id : %d", &v) == 1) {
            bool dup = false;
            for (int i = 0; i < n && !dup; i++)
                dup = seen[i][0] == phys && seen[i][1] == v;
            if (!dup && n < 1024) {
                seen[n][0] = phys;
                seen[n][1] = v;
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

void tt_devices_cpu(tt_backend_devices *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cpu");
    out->available = true;
#ifdef TETHER_HAVE_DNNL
    snprintf(out->version, sizeof out->version, "oneDNN, OpenBLAS");
#else
    snprintf(out->version, sizeof out->version, "OpenBLAS");
#endif
    tt_device_info *d = &out->dev[0];
    out->n = 1;
    if (!cpuinfo_field("model name", d->name, sizeof d->name) &&
        !cpuinfo_field("Model", d->name, sizeof d->name)) /* arm64 */
        snprintf(d->name, sizeof d->name, "unknown processor");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    d->threads = online > 0 ? (int)online : 1;
    d->cores = physical_cores();
    if (d->cores <= 0)
        d->cores = d->threads;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    long avail = sysconf(_SC_AVPHYS_PAGES);
    d->memory_free = avail > 0 && psize > 0 ? (uint64_t)avail * (uint64_t)psize : 0;
    char flags[4096];
    if (cpuinfo_field("flags", flags, sizeof flags)) {
        static const char *const isa[] = {"avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "avx2", "fma", "f16c"};
        size_t o = 0;
        for (size_t i = 0; i < sizeof isa / sizeof isa[0]; i++) {
            char pat[32];
            snprintf(pat, sizeof pat, " %s ", isa[i]);
            char padded[4100];
            snprintf(padded, sizeof padded, " %s ", flags);
            if (strstr(padded, pat) && o < sizeof d->detail)
                o += (size_t)snprintf(d->detail + o, sizeof d->detail - o, "%s%s", o ? " " : "", isa[i]);
        }
    }
}

void tt_devices_cuda(tt_backend_devices *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cuda");
    const tt_plugin *p;
    if (tt_plugin_load("cuda", &p) != TT_OK) {
        snprintf(out->reason, sizeof out->reason, "%s", tt_last_error());
        tt_error_clear();
        return;
    }
    snprintf(out->version, sizeof out->version, "%s", p->libraries ? p->libraries : "");
    int n = p->probe(out->reason, sizeof out->reason);
    if (n <= 0)
        return;
    out->reason[0] = 0;
    out->available = true;
    for (int i = 0; i < n && i < TT_MAX_DEVICES; i++) {
        if (p->device_info(i, &out->dev[out->n]) == TT_OK) {
            out->n++;
        } else {
            snprintf(out->reason, sizeof out->reason, "device %d: %s", i, tt_last_error());
            tt_error_clear();
        }
    }
}
