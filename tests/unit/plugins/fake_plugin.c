/* A fake backend plugin for the loader's tests: its table is wrong in the one way the
 * build says (FAKE_ABI, FAKE_VERSION, FAKE_LAYOUT, FAKE_NAME), so each refusal message
 * can be checked. With FAKE_DEP it also needs a library the dynamic linker cannot find. */
#include "backends/plugin.h"

#ifndef FAKE_ABI
#define FAKE_ABI TT_PLUGIN_ABI
#endif
#ifndef FAKE_VERSION
#define FAKE_VERSION TETHER_VERSION
#endif
#ifndef FAKE_LAYOUT
#define FAKE_LAYOUT TT_PLUGIN_LAYOUT
#endif
#ifndef FAKE_NAME
#define FAKE_NAME "cuda"
#endif

#ifdef FAKE_DEP
int tt_fake_dep_value(void);
#endif

static int probe(char *reason, size_t cap)
{
    (void)reason;
    (void)cap;
    return 0;
}
static tt_status device_info(int ordinal, tt_device_info *out)
{
    (void)ordinal;
    (void)out;
    return TETHER_ERR_UNSUPPORTED;
}
static tt_status open_backend(int ordinal, const tt_backend_opts *opts, const tt_backend **out)
{
    (void)ordinal;
    (void)opts;
    (void)out;
    return TETHER_ERR_UNSUPPORTED;
}
static const tt_kernel none[] = {TT_KERNEL_END};
static const tt_kernel *const tables[] = {none, NULL};

static const tt_plugin g_plugin = {
    .abi = FAKE_ABI,
    .layout = FAKE_LAYOUT,
    .version = FAKE_VERSION,
    .name = FAKE_NAME,
    .libraries = "none",
    .probe = probe,
    .device_info = device_info,
    .open = open_backend,
    .tables = tables,
};

__attribute__((visibility("default"))) const tt_plugin *tt_plugin_entry_v1(const tt_plugin_host *host, uint32_t abi)
{
    (void)host;
    (void)abi;
#ifdef FAKE_DEP
    if (tt_fake_dep_value() != 42)
        return NULL;
#endif
    return &g_plugin;
}
