/* The status page at / on the HTTP port: one HTML document with its style inline and no
 * external asset, built from the DESCRIBE document the native protocol returns — every slot
 * in detail, as the operator sees it — plus the repository's models. It reloads itself every 5 s.
 * Each row carries its numbers in data- attributes as well, for scripts and tests. */
#include "server/http.h"

#include "core/mem.h"
#include "core/strbuf.h"
#include "server/metrics.h"
#include "server/repo.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text from clients (a holder's name) or the system, escaped for HTML text and attributes. */
static void hb_text(tt_strbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': tt_strbuf_printf(b, "&lt;"); break;
        case '>': tt_strbuf_printf(b, "&gt;"); break;
        case '&': tt_strbuf_printf(b, "&amp;"); break;
        case '"': tt_strbuf_printf(b, "&quot;"); break;
        case '\'': tt_strbuf_printf(b, "&#39;"); break;
        default: tt_strbuf_printf(b, "%c", *s); break;
        }
    }
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}"
    "th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".bar{display:inline-block;height:.7em;background:#4a8;vertical-align:middle;margin-right:.4em}"
    ".free{color:#888}.muted{color:#666}";

tt_status tt_status_page_html(tt_server *srv, char **out)
{
    char *json = NULL;
    TT_TRY(tt_metrics_describe_all_json(srv, &json));
    cJSON *d = cJSON_Parse(json);
    tt_free(json);
    if (!d)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    const cJSON *server = cJSON_GetObjectItemCaseSensitive(d, "server");
    double uptime = num(server, "uptime_s");
    tt_strbuf b = {0};
    tt_strbuf_printf(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta http-equiv=\"refresh\" content=\"5\"><title>tetherd ");
    hb_text(&b, str(server, "id"));
    tt_strbuf_printf(&b, "</title><style>%s</style></head><body>", style);
    tt_strbuf_printf(&b, "<h1>tetherd <span id=\"server-id\">");
    hb_text(&b, str(server, "id"));
    tt_strbuf_printf(&b, "</span></h1><p>version %s &middot; device <span id=\"device\">", str(server, "version"));
    hb_text(&b, str(server, "device"));
    tt_strbuf_printf(&b,
              "</span> &middot; peak <span id=\"peak\">%.1f</span> GFLOP/s &middot; %s scheduling, %s metering "
              "&middot; up <span id=\"uptime\">%.0f</span> s &middot; %.0f connections</p>",
              num(server, "device_peak_gflops"), str(server, "sched"), str(server, "meter"), uptime,
              num(server, "connections"));

    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(d, "slots");
    tt_strbuf_printf(&b, "<h2>Slots (<span id=\"slot-count\">%d</span>)</h2><table id=\"slots\"><thead><tr>"
                  "<th>#</th><th>type</th><th>state</th><th>holder</th><th>memory used / quota</th>"
                  "<th>rate</th><th>inferences</th><th>busy since start</th></tr></thead><tbody>",
              cJSON_GetArraySize(slots));
    const cJSON *s;
    cJSON_ArrayForEach(s, slots)
    {
        int index = (int)num(s, "index");
        const char *state = str(s, "state");
        double used = num(s, "memory_used_bytes"), quota = num(s, "memory_quota_bytes");
        double busy = uptime > 0 ? num(s, "compute_ms_total") / (uptime * 1000) : 0;
        if (busy > 1)
            busy = 1;
        bool repo = strcmp(state, "repository") == 0;
        tt_strbuf_printf(&b, "<tr class=\"slot\" data-slot=\"%d\" data-type=\"", index);
        hb_text(&b, str(s, "type"));
        tt_strbuf_printf(&b,
                  "\" data-state=\"%s\" data-memory-used=\"%.0f\" data-memory-quota=\"%.0f\" "
                  "data-tflops=\"%.6g\" data-inferences=\"%.0f\"><td class=\"n\">%d</td><td class=\"type\">",
                  state, used, quota, num(s, "compute_tflops"), num(s, "inferences"), index);
        hb_text(&b, str(s, "type"));
        tt_strbuf_printf(&b, "</td><td class=\"state%s\">%s</td><td class=\"holder\">", *state == 'f' && !repo ? " free" : "",
                  repo ? "model repository" : state);
        if (strcmp(state, "attached") == 0) {
            hb_text(&b, str(s, "holder"));
            tt_strbuf_printf(&b, " <span class=\"muted\">(");
            hb_text(&b, str(s, "id"));
            tt_strbuf_printf(&b, ")</span>");
        } else if (repo) {
            tt_strbuf_printf(&b, "repository models");
        } else {
            tt_strbuf_printf(&b, "&ndash;");
        }
        tt_strbuf_printf(&b,
                  "</td><td class=\"n\">%.1f / %.1f MiB</td><td class=\"n\">%.3f TFLOPS</td><td class=\"n\">%.0f</td>"
                  "<td><span class=\"bar\" style=\"width:%.0fpx\"></span>%.1f%%</td></tr>",
                  used / 1048576.0, quota / 1048576.0, num(s, "compute_tflops"), num(s, "inferences"), busy * 100,
                  busy * 100);
    }
    tt_strbuf_printf(&b, "</tbody></table>");

    tt_repo *repo = srv->repo;
    tt_strbuf_printf(&b, "<h2>Models</h2><table id=\"models\"><thead><tr><th>model</th><th>version</th><th>slot</th>"
                  "<th>requests</th><th>errors</th><th>p50</th><th>p99</th><th>mean batch</th><th>queued</th>"
                  "</tr></thead><tbody>");
    int shown = 0;
    if (repo) {
        float *lat = tt_malloc(sizeof(float) * TT_REPO_RECENT);
        pthread_mutex_lock(&repo->lock);
        for (tt_repo_model *m = repo->models; m && lat; m = m->next) {
            if (m->state != TT_MODEL_READY)
                continue;
            uint64_t total = 0;
            for (int i = 0; i < TT_REPO_MAX_CODES; i++)
                total += m->code_counts[i];
            int n = m->n_recent;
            memcpy(lat, m->recent, sizeof(float) * (size_t)n);
            qsort(lat, (size_t)n, sizeof *lat, cmp_float);
            double p50 = n ? lat[(n - 1) / 2] * 1e3 : 0, p99 = n ? lat[(int)((n - 1) * 0.99)] * 1e3 : 0;
            double mean = m->batch_count ? (double)m->batch_rows / (double)m->batch_count : 0;
            tt_strbuf_printf(&b,
                      "<tr class=\"model\" data-model=\"%s\" data-version=\"%" PRId64 "\" data-requests=\"%" PRIu64
                      "\" data-errors=\"%" PRIu64 "\" data-slot=\"%d\" data-p50-ms=\"%.3f\" data-p99-ms=\"%.3f\" "
                      "data-mean-batch=\"%.3f\"><td>%s</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%d</td>"
                      "<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.2f ms</td>"
                      "<td class=\"n\">%.2f ms</td><td class=\"n\">%.2f</td><td class=\"n\">%d</td></tr>",
                      m->name, m->version, total, total - m->ok, m->slot ? m->slot->index : -1, p50, p99, mean,
                      m->name, m->version, m->slot ? m->slot->index : -1, total, total - m->ok, p50, p99, mean,
                      m->queued);
            shown++;
        }
        pthread_mutex_unlock(&repo->lock);
        tt_free(lat);
    }
    if (!shown)
        tt_strbuf_printf(&b, "<tr><td colspan=\"9\" class=\"muted\">no repository models</td></tr>");
    tt_strbuf_printf(&b, "</tbody></table><p class=\"muted\">This page reloads every 5 seconds. Prometheus metrics: "
                  "<a href=\"/metrics\">/metrics</a>.</p></body></html>\n");
    cJSON_Delete(d);
    if (b.oom) {
        tt_free(b.p);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    *out = b.p;
    return TT_OK;
}
