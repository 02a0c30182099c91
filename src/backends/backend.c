/* The backend registry: the built-in backends, device backends from plugins, kernel
 * lookup, and a session's backend list from its target. */
#include "backends/backend.h"

#include "backends/plugin.h"
#include "core/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tt_precision_valid(const char *p)
{
    return !p || !*p || strcmp(p, "fp32") == 0 || strcmp(p, "tf32") == 0 || strcmp(p, "fp16") == 0 ||
           strcmp(p, "bf16") == 0 || strcmp(p, "int8") == 0;
}

/* "cuda:3" → plugin "cuda", ordinal 3; "cuda" → ordinal 0. False for other names. */
static bool parse_device(const char *name, char *plugin, size_t cap, int *ordinal)
{
    const char *colon = strchr(name, ':');
    size_t n = colon ? (size_t)(colon - name) : strlen(name);
    if (n != 4 || strncmp(name, "cuda", 4) != 0 || n >= cap)
        return false;
    memcpy(plugin, name, n);
    plugin[n] = 0;
    *ordinal = 0;
    if (colon) {
        char *end;
        long o = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || o < 0 || o >= TT_MAX_DEVICES)
            return false;
        *ordinal = (int)o;
    }
    return true;
}

/* Opens device `name` of its plugin, checking the ordinal against what the plugin sees. */
static tt_status open_device(const char *name, const tt_backend_opts *opts, const tt_backend **out)
{
    char plugin[16];
    int ordinal;
    if (!parse_device(name, plugin, sizeof plugin, &ordinal))
        return tt_error(TETHER_ERR_UNSUPPORTED, "no backend named '%s' in this build (it has: ref, cpu, cuda:N)", name);
    const tt_plugin *p;
    tt_status s = tt_plugin_load(plugin, &p);
    if (s != TT_OK)
        return tt_error_prefix(s, "backend %s is unavailable: ", name);
    char reason[512] = "";
    int n = p->probe(reason, sizeof reason);
    if (n <= 0)
        return tt_error(TETHER_ERR_UNSUPPORTED, "backend %s is unavailable: %s", name, reason);
    if (ordinal >= n)
        return tt_error(TETHER_ERR_UNSUPPORTED, "backend %s is unavailable: this host has %d %s device%s (%s:0%s)", name,
                        n, plugin, n == 1 ? "" : "s", plugin, n > 1 ? "..." : "");
    if (opts && !tt_precision_valid(opts->precision))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "precision '%s' is not one of fp32, tf32, fp16", opts->precision);
    s = p->open(ordinal, opts, out);
    if (s != TT_OK)
        return tt_error_prefix(s, "opening backend %s: ", name);
    return TT_OK;
}

/* The shared default instance of each device, for callers that do not own one. */
static pthread_mutex_t g_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static const tt_backend *g_shared[TT_MAX_DEVICES];

#define TT_MAX_REGISTERED 8
static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const tt_backend *g_registered[TT_MAX_REGISTERED];
static int g_n_registered;

/* Called with g_reg_lock held. */
static const tt_backend *find_locked(const char *name)
{
    for (int i = 0; i < g_n_registered; i++)
        if (strcmp(g_registered[i]->name, name) == 0)
            return g_registered[i];
    return NULL;
}

static const tt_backend *find_registered(const char *name)
{
    pthread_mutex_lock(&g_reg_lock);
    const tt_backend *b = find_locked(name);
    pthread_mutex_unlock(&g_reg_lock);
    return b;
}

tt_status tt_backend_register(const tt_backend *b)
{
    if (!b || !b->name || !b->tables)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "a backend needs a name and kernel tables");
    /* looked up and added under one hold of the lock: two threads registering one name at
     * once add it once */
    pthread_mutex_lock(&g_reg_lock);
    const tt_backend *have = find_locked(b->name);
    tt_status s = TT_OK;
    if (have || strcmp(b->name, "ref") == 0 || strcmp(b->name, "cpu") == 0)
        s = have == b ? TT_OK : tt_error(TETHER_ERR_INVALID_ARGUMENT, "a backend named '%s' exists", b->name);
    else if (g_n_registered == TT_MAX_REGISTERED)
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d backends registered", TT_MAX_REGISTERED);
    else
        g_registered[g_n_registered++] = b;
    pthread_mutex_unlock(&g_reg_lock);
    return s;
}

tt_status tt_backend_get(const char *name, const tt_backend **out)
{
    const tt_backend *reg = find_registered(name);
    if (reg) {
        *out = reg;
        return TT_OK;
    }
    if (strcmp(name, "ref") == 0) {
        *out = &tt_backend_ref;
        return TT_OK;
    }
    if (strcmp(name, "cpu") == 0) {
        *out = &tt_backend_cpu;
        return TT_OK;
    }
    char plugin[16];
    int ordinal;
    if (!parse_device(name, plugin, sizeof plugin, &ordinal))
        return tt_error(TETHER_ERR_UNSUPPORTED, "no backend named '%s' in this build (it has: ref, cpu, cuda:N)", name);
    pthread_mutex_lock(&g_shared_lock);
    tt_status s = TT_OK;
    if (!g_shared[ordinal])
        s = open_device(name, NULL, &g_shared[ordinal]);
    *out = g_shared[ordinal];
    pthread_mutex_unlock(&g_shared_lock);
    return s;
}

tt_status tt_backend_open(const char *name, const tt_backend_opts *opts, const tt_backend **out)
{
    if (strcmp(name, "ref") == 0 || strcmp(name, "cpu") == 0 || find_registered(name))
        return tt_backend_get(name, out);
    return open_device(name, opts, out);
}

void tt_backend_close(const tt_backend *b)
{
    if (b && b->release)
        b->release(b);
}

const tt_kernel *tt_backend_find_kernel(const tt_backend *b, const tt_kprep *p, const tt_type *const *in_types)
{
    tt_kprep q = *p;
    q.backend = b; /* supports sees the instance it is asked for */
    for (const tt_kernel *const *t = b->tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++)
            if (tt_kernel_matches(k, p->node, in_types) && (!k->supports || k->supports(&q)))
                return k;
    return NULL;
}

static tt_status list_add(tt_backend_list *l, const char *name, const tt_backend_opts *opts)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->b[i]->name, name) == 0)
            return TT_OK;
    if (l->n == TT_MAX_BACKENDS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d backends named", TT_MAX_BACKENDS);
    const tt_backend *b = NULL;
    TT_TRY(tt_backend_open(name, opts, &b));
    l->owned[l->n] = b->release != NULL;
    l->b[l->n++] = b;
    return TT_OK;
}

tt_status tt_backend_list_for_opts(const char *target, const tt_backend_opts *opts, tt_backend_list *out)
{
    memset(out, 0, sizeof *out);
    if (!target || !*target || strcmp(target, "cpu") == 0) {
        const char *env = getenv("TETHER_BACKENDS");
        target = env && *env ? env : "cpu";
    }
    char buf[256];
    if (strlen(target) >= sizeof buf)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "target '%.64s...' is too long", target);
    strcpy(buf, target);
    bool explicit_list = strchr(buf, ',') != NULL;
    tt_status s = TT_OK;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && s == TT_OK; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        s = list_add(out, tok, opts);
    }
    /* a single device falls back on the host's backends for what it lacks */
    if (s == TT_OK && !explicit_list) {
        if (strcmp(target, "ref") != 0)
            s = list_add(out, "cpu", opts);
        if (s == TT_OK)
            s = list_add(out, "ref", opts);
    }
    if (s != TT_OK)
        tt_backend_list_release(out);
    return s;
}

tt_status tt_backend_list_for(const char *target, tt_backend_list *out)
{
    return tt_backend_list_for_opts(target, NULL, out);
}

void tt_backend_list_release(tt_backend_list *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->owned[i])
            tt_backend_close(l->b[i]);
    memset(l, 0, sizeof *l);
}
