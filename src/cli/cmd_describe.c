/* tether describe-accelerators: the attachments this process sees and their health, in the
 * shape of the Elastic Inference tool's output (client version, time, count, and per
 * device ordinal, type, id, status), with endpoint, memory and compute rate besides. */
#include "cli.h"

#include "client/attach.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether describe-accelerators [--json] [--timeout MS]\n\n"
               "Lists the attached accelerators visible to this process (TETHER_VISIBLE_DEVICES, or\n"
               "EI_VISIBLE_DEVICES where it is unset, limits and renumbers them) and asks each one's\n"
               "server how it is: healthy, unhealthy (the server answers but refuses or lost the\n"
               "attachment) or unreachable.\n\n"
               "  --json         JSON, as the Elastic Inference tool printed it, plus tether's fields\n"
               "  --timeout MS   per accelerator (default 3000)\n"
               "  -h, --help\n");
}

typedef struct probe_job {
    tt_attachment *a;
    tt_accel_health h;
    int timeout_ms;
    pthread_t th;
} probe_job;

static void *probe_main(void *arg)
{
    probe_job *j = arg;
    tt_accel_probe(j->a, j->timeout_ms, &j->h);
    return NULL;
}

int tt_cmd_describe(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool json = false;
    int timeout_ms = 3000, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = true; break;
        case 't': {
            long v;
            if (!tt_cli_long(optarg, 1, 3600000, &v))
                return tt_cli_usage("describe-accelerators", "--timeout '%s': expected milliseconds (1 or more)",
                                    optarg);
            timeout_ms = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("describe-accelerators", NULL);
        }
    }
    if (optind != argc)
        return tt_cli_usage("describe-accelerators", "unexpected argument '%s'", argv[optind]);
    tt_attachment *a;
    int n;
    tether_status st = tt_attachments_list(&a, &n);
    if (st != TETHER_OK)
        return tt_cli_fail_last("describe-accelerators", st);
    /* every accelerator is probed at once: one unreachable server costs one timeout, not n */
    probe_job *jobs = calloc((size_t)n + 1, sizeof *jobs);
    for (int i = 0; i < n; i++) {
        jobs[i] = (probe_job){.a = &a[i], .timeout_ms = timeout_ms};
        if (pthread_create(&jobs[i].th, NULL, probe_main, &jobs[i]) != 0)
            probe_main(&jobs[i]), jobs[i].th = 0;
    }
    for (int i = 0; i < n; i++)
        if (jobs[i].th)
            pthread_join(jobs[i].th, NULL);
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%a %b %e %H:%M:%S %Y", localtime(&now));
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "tether_client_version", tether_version());
        /* the Elastic Inference tool's field, for scripts that read it */
        cJSON_AddStringToObject(root, "ei_client_version", tether_version());
        cJSON_AddStringToObject(root, "time", when);
        cJSON_AddNumberToObject(root, "attached_accelerators", n);
        cJSON *devs = cJSON_AddArrayToObject(root, "devices");
        for (int i = 0; i < n; i++) {
            const tt_accel_health *h = &jobs[i].h;
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "ordinal", a[i].ordinal);
            cJSON_AddStringToObject(d, "type", a[i].type);
            cJSON_AddStringToObject(d, "id", a[i].id);
            cJSON_AddStringToObject(d, "status", h->status);
            if (h->reason[0])
                cJSON_AddStringToObject(d, "reason", h->reason);
            cJSON_AddStringToObject(d, "endpoint", a[i].endpoint);
            if (a[i].fleet[0]) {
                cJSON_AddStringToObject(d, "fleet", a[i].fleet);
                cJSON_AddStringToObject(d, "server_id", a[i].server_id);
            }
            cJSON_AddNumberToObject(d, "memory_quota_bytes", (double)h->memory_quota);
            cJSON_AddNumberToObject(d, "memory_used_bytes", (double)h->memory_used);
            cJSON_AddNumberToObject(d, "compute_tflops", h->tflops);
            if (strcmp(h->status, "healthy") == 0) {
                cJSON_AddNumberToObject(d, "models_loaded", h->models_loaded);
                cJSON_AddNumberToObject(d, "inferences", (double)h->inferences);
                cJSON_AddNumberToObject(d, "errors", (double)h->errors);
                cJSON_AddNumberToObject(d, "rtt_ms", h->rtt_ms);
                cJSON_AddNumberToObject(d, "lease_expires_in_s", h->lease_expires_in_s);
            }
            cJSON_AddItemToArray(devs, d);
        }
        char *text = cJSON_Print(root);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    } else {
        printf("tether client %s, %s\n%d accelerator%s attached\n", tether_version(), when, n, n == 1 ? "" : "s");
        if (n)
            printf("%-7s %-12s %-36s %-11s %-20s %-18s %s\n", "ORDINAL", "TYPE", "ID", "STATUS", "MEMORY USED/QUOTA",
                   "COMPUTE", "ENDPOINT");
        for (int i = 0; i < n; i++) {
            const tt_accel_health *h = &jobs[i].h;
            char mem[64], rate[32];
            snprintf(mem, sizeof mem, "%.1f/%.1f MiB", h->memory_used / 1048576.0, h->memory_quota / 1048576.0);
            if (h->tflops >= 1)
                snprintf(rate, sizeof rate, "%.2f TFLOPS", h->tflops);
            else
                snprintf(rate, sizeof rate, "%.1f GFLOPS", h->tflops * 1e3);
            printf("eia:%-3d %-12s %-36s %-11s %-20s %-18s %s\n", a[i].ordinal, tt_cli_esc(a[i].type), tt_cli_esc(a[i].id), h->status, mem,
                   rate, tt_cli_esc(a[i].endpoint));
            if (h->reason[0])
                printf("        %s\n", tt_cli_esc(h->reason));
        }
    }
    if (a)
        memset(a, 0, sizeof *a * (size_t)n); /* tokens */
    free(jobs);
    free(a);
    return 0;
}
