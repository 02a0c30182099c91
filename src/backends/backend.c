/* The backend registry: the built-in backends, kernel lookup, and a session's backend
 * list from its target. */
#include "backends/backend.h"

#include "core/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_MAX_REGISTERED 8
static const tt_backend *g_registered[TT_MAX_REGISTERED];
static int g_n_registered;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

tt_status tt_backend_register(const tt_backend *b)
{
    const tt_backend *have;
    if (tt_backend_get(b->name, &have) == TT_OK)
        return have == b ? TT_OK : tt_error(TETHER_ERR_INVALID_ARGUMENT, "a backend named '%s' exists", b->name);
    tt_error_clear();
    pthread_mutex_lock(&g_lock);
    tt_status s = TT_OK;
    if (g_n_registered == TT_MAX_REGISTERED)
        s = tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d backends registered", TT_MAX_REGISTERED);
    else
        g_registered[g_n_registered++] = b;
    pthread_mutex_unlock(&g_lock);
    return s;
}

tt_status tt_backend_get(const char *name, const tt_backend **out)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_registered; i++)
        if (strcmp(g_registered[i]->name, name) == 0) {
            *out = g_registered[i];
            pthread_mutex_unlock(&g_lock);
            return TT_OK;
        }
    pthread_mutex_unlock(&g_lock);
    if (strcmp(name, "ref") == 0) {
        *out = &tt_backend_ref;
        return TT_OK;
    }
    if (strcmp(name, "cpu") == 0) {
        *out = &tt_backend_cpu;
        return TT_OK;
    }
    return tt_error(TETHER_ERR_UNSUPPORTED, "no backend named '%s' in this build (it has: ref, cpu)", name);
}

const tt_kernel *tt_backend_find_kernel(const tt_backend *b, const tt_kprep *p, const tt_type *const *in_types)
{
    for (const tt_kernel *const *t = b->tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++)
            if (tt_kernel_matches(k, p->node, in_types) && (!k->supports || k->supports(p)))
                return k;
    return NULL;
}

static tt_status list_add(tt_backend_list *l, const char *name)
{
    const tt_backend *b = NULL;
    TT_TRY(tt_backend_get(name, &b));
    for (int i = 0; i < l->n; i++)
        if (l->b[i] == b)
            return TT_OK;
    if (l->n == TT_MAX_BACKENDS)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "more than %d backends named", TT_MAX_BACKENDS);
    l->b[l->n++] = b;
    return TT_OK;
}

tt_status tt_backend_list_for(const char *target, tt_backend_list *out)
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
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        TT_TRY(list_add(out, tok));
    }
    /* a single device falls back on the host's backends for what it lacks */
    if (!explicit_list) {
        TT_TRY(list_add(out, "cpu"));
        TT_TRY(list_add(out, "ref"));
        if (strcmp(target, "ref") == 0)
            out->n = 1;
    }
    return TT_OK;
}
