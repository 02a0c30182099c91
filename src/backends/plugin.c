/* Loading backend plugins (libtether_<name>.so) with dlopen: where to look, the host table
 * handed to them, and the checks that refuse a plugin built for another libtether. A
 * plugin is loaded once per process and stays loaded; a failure is remembered with its
 * reason, so every later call says the same thing without touching the disk again. */
#include "backends/plugin.h"

#include "core/log.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the host table -------------------------------------------------------------------- */

static tt_status host_set_error(tt_status code, const char *msg) { return tt_error(code, "%s", msg ? msg : "?"); }
static tt_status host_prefix_error(tt_status code, const char *prefix)
{
    return tt_error_prefix(code, "%s", prefix ? prefix : "");
}
static void host_log(int level, const char *msg)
{
    if (level < TT_LOG_DEBUG || level > TT_LOG_ERROR)
        level = TT_LOG_INFO;
    tt_log((tt_log_level)level, "%s", msg ? msg : "");
}

static const tt_plugin_host g_host = {
    .abi = TT_PLUGIN_ABI,
    .layout = TT_PLUGIN_LAYOUT,
    .version = TETHER_VERSION,
    .set_error = host_set_error,
    .prefix_error = host_prefix_error,
    .last_error = tt_last_error,
    .log = host_log,
    .max_tensor_bytes = tt_max_tensor_bytes,
};

const tt_plugin_host *tt_plugin_host_table(void) { return &g_host; }

tt_status tt_plugin_check(const tt_plugin *p, const char *path)
{
    if (!p)
        return tt_error(TETHER_ERR_UNSUPPORTED, "plugin %s refused to start (it returned no table)", path);
    if (p->abi != TT_PLUGIN_ABI)
        return tt_error(TETHER_ERR_UNSUPPORTED, "plugin %s speaks plugin ABI %u, this libtether speaks %u: rebuild it",
                        path, p->abi, TT_PLUGIN_ABI);
    if (!p->version || strcmp(p->version, TETHER_VERSION) != 0)
        return tt_error(TETHER_ERR_UNSUPPORTED, "plugin %s was built for tether %s, this is tether %s: rebuild it", path,
                        p->version ? p->version : "?", TETHER_VERSION);
    if (p->layout != TT_PLUGIN_LAYOUT)
        return tt_error(TETHER_ERR_UNSUPPORTED,
                        "plugin %s was built from other headers (layout %08x, libtether's %08x): rebuild it", path,
                        p->layout, TT_PLUGIN_LAYOUT);
    if (!p->name || !p->probe || !p->device_info || !p->open || !p->tables)
        return tt_error(TETHER_ERR_UNSUPPORTED, "plugin %s has an incomplete table", path);
    return TT_OK;
}

/* ---- where to look --------------------------------------------------------------------- */

/* The directory holding the object that contains this code (libtether.so, or the program
 * it is linked into). */
static bool self_dir(char *dir, size_t cap)
{
    Dl_info info;
    if (!dladdr((void *)&tt_plugin_load, &info) || !info.dli_fname || !*info.dli_fname)
        return false;
    char real[PATH_MAX];
    const char *f = realpath(info.dli_fname, real) ? real : info.dli_fname;
    const char *slash = strrchr(f, '/');
    if (!slash || (size_t)(slash - f) >= cap)
        return false;
    memcpy(dir, f, (size_t)(slash - f));
    dir[slash - f] = 0;
    return true;
}

typedef struct loaded {
    char name[16];
    bool tried;
    const tt_plugin *p;
    tt_status code;
    char reason[1024];
} loaded;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded g_loaded[4];

/* A dlerror() message that says a library is missing names that library. */
static void explain_dlerror(const char *path, const char *err, char *out, size_t cap)
{
    const char *colon = strstr(err, ": cannot open shared object file");
    if (colon) {
        /* "libcublasLt.so.13: cannot open ..." or "/path/libtether_cuda.so: cannot open ..." */
        const char *start = colon;
        while (start > err && start[-1] != ' ')
            start--;
        int len = (int)(colon - start);
        if (strncmp(start, path, (size_t)len) != 0 || (size_t)len != strlen(path)) {
            snprintf(out, cap,
                     "the plugin %s needs %.*s, which the dynamic linker cannot find (install the CUDA "
                     "runtime libraries, or add their directory to LD_LIBRARY_PATH)",
                     path, len, start);
            return;
        }
    }
    snprintf(out, cap, "the plugin %s cannot be loaded: %s", path, err);
}

static tt_status try_path(const char *path, const char *name, loaded *l)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        explain_dlerror(path, err ? err : "unknown error", l->reason, sizeof l->reason);
        return TETHER_ERR_UNSUPPORTED;
    }
    tt_plugin_entry_fn entry;
    void *sym = dlsym(h, TT_PLUGIN_ENTRY);
    memcpy(&entry, &sym, sizeof entry);
    if (!entry) {
        snprintf(l->reason, sizeof l->reason, "%s is not a tether plugin (it has no symbol %s)", path, TT_PLUGIN_ENTRY);
        dlclose(h);
        return TETHER_ERR_UNSUPPORTED;
    }
    const tt_plugin *p = entry(&g_host, TT_PLUGIN_ABI);
    tt_status s = tt_plugin_check(p, path);
    if (s == TT_OK && strcmp(p->name, name) != 0)
        s = tt_error(TETHER_ERR_UNSUPPORTED, "plugin %s is the '%s' plugin, not '%s'", path, p->name, name);
    if (s != TT_OK) {
        snprintf(l->reason, sizeof l->reason, "%s", tt_last_error());
        dlclose(h);
        return s;
    }
    l->p = p; /* stays loaded for the life of the process */
    TT_DEBUG("loaded the %s plugin from %s (%s)", name, path, p->libraries ? p->libraries : "");
    return TT_OK;
}

#ifndef TETHER_PLUGIN_BUILD_DIR
#define TETHER_PLUGIN_BUILD_DIR ""
#endif
#ifndef TETHER_PLUGIN_INSTALL_DIR
#define TETHER_PLUGIN_INSTALL_DIR ""
#endif
#ifndef TETHER_PLUGIN_CUDA_WHY /* why configure left the CUDA plugin out */
#define TETHER_PLUGIN_CUDA_WHY "nvcc was not found when tether was configured"
#endif

static void load_locked(const char *name, loaded *l)
{
    char file[64], env[64];
    snprintf(file, sizeof file, "libtether_%s.so", name);
    snprintf(env, sizeof env, "TETHER_%s_PLUGIN", name);
    for (char *c = env; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    const char *forced = getenv(env);
    if (forced && *forced) {
        l->code = try_path(forced, name, l);
        if (l->code != TT_OK && access(forced, F_OK) != 0)
            snprintf(l->reason, sizeof l->reason, "%s names %s, which does not exist", env, forced);
        return;
    }
    char dirs[4][PATH_MAX];
    int nd = 0;
    char self[PATH_MAX];
    if (self_dir(self, sizeof self)) {
        snprintf(dirs[nd++], PATH_MAX, "%s", self);           /* beside libtether.so */
        snprintf(dirs[nd++], PATH_MAX, "%s/../lib", self);    /* bin/ of a program, lib/ beside it */
    }
    if (*TETHER_PLUGIN_BUILD_DIR)
        snprintf(dirs[nd++], PATH_MAX, "%s", TETHER_PLUGIN_BUILD_DIR);
    if (*TETHER_PLUGIN_INSTALL_DIR)
        snprintf(dirs[nd++], PATH_MAX, "%s", TETHER_PLUGIN_INSTALL_DIR);
    char looked[600] = "";
    size_t lo = 0;
    for (int i = 0; i < nd; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        if (access(path, F_OK) == 0) {
            l->code = try_path(path, name, l);
            return; /* the first one found decides: a broken plugin is reported, not skipped */
        }
        if (lo < sizeof looked)
            lo += (size_t)snprintf(looked + lo, sizeof looked - lo, "%s%s", lo ? ", " : "", dirs[i]);
    }
    /* last, wherever the dynamic linker looks (LD_LIBRARY_PATH, ld.so.conf) */
    dlerror();
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        dlclose(h);
        l->code = try_path(file, name, l);
        return;
    }
    const char *err = dlerror();
    if (err && !strstr(err, file)) { /* found, but something it needs is missing */
        explain_dlerror(file, err, l->reason, sizeof l->reason);
        l->code = TETHER_ERR_UNSUPPORTED;
        return;
    }
#ifdef TETHER_PLUGIN_CUDA_BUILT
    bool built = strcmp(name, "cuda") == 0;
#else
    bool built = false;
#endif
    if (built)
        snprintf(l->reason, sizeof l->reason, "%s was built but is not where libtether looks (%s, the dynamic linker's path); set %s to its path",
                 file, looked, env);
    else
        snprintf(l->reason, sizeof l->reason, "this build of tether has no %s backend: %s was not built (%s)", name,
                 file, strcmp(name, "cuda") == 0 ? TETHER_PLUGIN_CUDA_WHY : "no such plugin");
    l->code = TETHER_ERR_UNSUPPORTED;
}

tt_status tt_plugin_load(const char *name, const tt_plugin **out)
{
    *out = NULL;
    if (!name || strlen(name) >= sizeof g_loaded[0].name)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "bad plugin name");
    pthread_mutex_lock(&g_lock);
    loaded *l = NULL;
    for (size_t i = 0; i < sizeof g_loaded / sizeof g_loaded[0] && !l; i++)
        if (!g_loaded[i].name[0] || strcmp(g_loaded[i].name, name) == 0)
            l = &g_loaded[i];
    if (!l) {
        pthread_mutex_unlock(&g_lock);
        return tt_error(TETHER_ERR_UNSUPPORTED, "too many plugins");
    }
    if (!l->tried) {
        snprintf(l->name, sizeof l->name, "%s", name);
        l->code = TT_OK;
        load_locked(name, l);
        l->tried = true;
    }
    const tt_plugin *p = l->p;
    tt_status code = l->code;
    char reason[sizeof l->reason];
    memcpy(reason, l->reason, sizeof reason);
    pthread_mutex_unlock(&g_lock);
    if (!p)
        return tt_error(code ? code : TETHER_ERR_UNSUPPORTED, "%s", reason);
    *out = p;
    return TT_OK;
}
