/* Slots left behind by failover: the failed server could not be told to release the slot
 * (it was down), and if it comes back with its state the slot would stay reserved until
 * its lease ends. They are remembered in $TETHER_HOME/orphans.json (mode 0600: tokens)
 * and released at the next attach or detach on this host; one the server no longer knows
 * is forgotten, and so is one older than a week (its lease has ended by then anyway). */
#include "client/orphans.h"

#include "client/records.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ORPHANS 256
#define FORGET_AFTER_S (7 * 86400)
#define RELEASE_MS 500

typedef struct orphan {
    tt_attachment a;
    int64_t since;
} orphan;

static tt_status orphans_path(char *out, size_t n)
{
    char home[1024];
    TT_TRY(tt_tether_home(home, sizeof home));
    snprintf(out, n, "%s/orphans.json", home);
    return TT_OK;
}

static void str_of(char *dst, size_t cap, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int load(orphan *out, int cap)
{
    char path[1100];
    void *data;
    size_t len;
    if (orphans_path(path, sizeof path) != TT_OK || tt_read_file(path, 4u << 20, &data, &len) != TT_OK) {
        tt_error_clear();
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(data, len);
    tt_free(data);
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(root, "orphans"))
    {
        if (n >= cap)
            break;
        orphan *x = &out[n];
        memset(x, 0, sizeof *x);
        str_of(x->a.id, sizeof x->a.id, o, "id");
        str_of(x->a.type, sizeof x->a.type, o, "type");
        str_of(x->a.endpoint, sizeof x->a.endpoint, o, "endpoint");
        str_of(x->a.token, sizeof x->a.token, o, "token");
        str_of(x->a.tls.ca, sizeof x->a.tls.ca, o, "tls_ca");
        str_of(x->a.tls.cert, sizeof x->a.tls.cert, o, "tls_cert");
        str_of(x->a.tls.key, sizeof x->a.tls.key, o, "tls_key");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "since");
        x->since = cJSON_IsNumber(s) ? (int64_t)s->valuedouble : 0;
        if (x->a.id[0] && x->a.endpoint[0])
            n++;
    }
    cJSON_Delete(root);
    return n;
}

static tt_status save(const orphan *o, int n)
{
    char path[1100];
    TT_TRY(orphans_path(path, sizeof path));
    if (n == 0) {
        unlink(path);
        return TT_OK;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "orphans");
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", o[i].a.id);
        cJSON_AddStringToObject(x, "type", o[i].a.type);
        cJSON_AddStringToObject(x, "endpoint", o[i].a.endpoint);
        cJSON_AddStringToObject(x, "token", o[i].a.token);
        cJSON_AddStringToObject(x, "tls_ca", o[i].a.tls.ca);
        cJSON_AddStringToObject(x, "tls_cert", o[i].a.tls.cert);
        cJSON_AddStringToObject(x, "tls_key", o[i].a.tls.key);
        cJSON_AddNumberToObject(x, "since", (double)o[i].since);
        cJSON_AddItemToArray(arr, x);
    }
    return tt_records_write_json(path, root);
}

void tt_orphans_add_locked(const tt_attachment *a)
{
    orphan *o = tt_calloc(MAX_ORPHANS + 1, sizeof *o);
    if (!o)
        return;
    int n = load(o, MAX_ORPHANS);
    if (n == MAX_ORPHANS) { /* the oldest goes */
        memmove(o, o + 1, sizeof *o * (size_t)(n - 1));
        n--;
    }
    o[n].a = *a;
    o[n].since = (int64_t)time(NULL);
    n++;
    if (save(o, n) != TT_OK) {
        tt_log(TT_LOG_WARN, "could not remember slot %s to release later: %s", a->id, tt_last_error());
        tt_error_clear();
    }
    memset(o, 0, sizeof *o * (size_t)n);
    tt_free(o);
}

int tt_orphans_sweep(void)
{
    /* most hosts have none: a stat() says so without the lock (an orphan remembered just
     * after it is released at the next sweep) */
    char path[1100];
    struct stat sb;
    if (orphans_path(path, sizeof path) != TT_OK || stat(path, &sb) != 0) {
        tt_error_clear();
        return 0;
    }
    int lock;
    if (tt_records_lock(&lock) != TT_OK) {
        tt_error_clear();
        return 0;
    }
    orphan *o = tt_calloc(MAX_ORPHANS + 1, sizeof *o);
    int n = o ? load(o, MAX_ORPHANS) : 0;
    tt_records_unlock(lock);
    if (n == 0) {
        tt_free(o);
        return 0;
    }
    /* released without the lock (each try is bounded); then the list is rewritten under it */
    int64_t now = (int64_t)time(NULL);
    bool *gone = tt_calloc((size_t)n, sizeof *gone);
    int released = 0;
    for (int i = 0; gone && i < n; i++) {
        tt_status st = tt_release_at(&o[i].a, RELEASE_MS);
        if (st == TT_OK || st == TETHER_ERR_AUTH || now - o[i].since > FORGET_AFTER_S) {
            gone[i] = true;
            released += st == TT_OK;
            if (st == TT_OK)
                tt_log(TT_LOG_INFO, "released slot %s (%s) at %s, left behind by a failover", o[i].a.id, o[i].a.type,
                       o[i].a.endpoint);
        }
        tt_error_clear();
    }
    if (gone && tt_records_lock(&lock) == TT_OK) {
        orphan *cur = tt_calloc(MAX_ORPHANS + 1, sizeof *cur);
        int m = cur ? load(cur, MAX_ORPHANS) : 0, k = 0;
        for (int i = 0; i < m; i++) {
            bool drop = false;
            for (int j = 0; j < n && !drop; j++)
                drop = gone[j] && strcmp(cur[i].a.id, o[j].a.id) == 0;
            if (!drop)
                cur[k++] = cur[i];
        }
        if (cur && k != m && save(cur, k) != TT_OK)
            tt_error_clear();
        if (cur)
            memset(cur, 0, sizeof *cur * (size_t)m);
        tt_free(cur);
        tt_records_unlock(lock);
    }
    tt_error_clear();
    memset(o, 0, sizeof *o * (size_t)n);
    tt_free(o);
    tt_free(gone);
    return released;
}
