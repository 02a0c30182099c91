/* tether fleet: the servers of a fleet (from etcd), their slots and how many are in use. */
#include "cli.h"

#include "client/attach.h"
#include "core/mem.h"
#include "fleet/fleet.h"
#include "net/sock.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether fleet [etcd://HOST:PORT[,...]] [--json]\n\n"
               "Lists the servers registered in a fleet, their slots (type, state, attachment, holder)\n"
               "and their use. The fleet is the one named, else $TETHER_FLEET, else the fleet of the\n"
               "first attachment made through one.\n\n"
               "      --fleet URL        the fleet, named as for 'tether attach --fleet'\n"
               "      --json             machine-readable output\n"
               "      --fleet-ca FILE, --fleet-cert FILE, --fleet-key FILE\n"
               "                         certificates for etcd over TLS (etcds://)\n"
               "  -h, --help\n");
}

/* The fleet of the first attachment made through one ("" if none). */
static void recorded_fleet(char *out, size_t n, tt_tls_files *tls)
{
    out[0] = 0;
    tt_attachment *a;
    int k;
    if (tt_attachments_list(&a, &k) != TETHER_OK)
        return;
    for (int i = 0; i < k && !out[0]; i++)
        if (a[i].fleet[0]) {
            snprintf(out, n, "%s", a[i].fleet);
            if (!tls->ca[0] && !tls->cert[0])
                *tls = a[i].fleet_tls;
        }
    memset(a, 0, sizeof *a * (size_t)k);
    tt_free(a);
}

static cJSON *view_json(const tt_fleet_view *v, const char *fleet)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "fleet", fleet);
    cJSON_AddNumberToObject(root, "revision", (double)v->revision);
    cJSON *servers = cJSON_AddArrayToObject(root, "servers");
    for (int i = 0; i < v->n_servers; i++) {
        const tt_fleet_server *s = &v->servers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "endpoint", s->endpoint);
        cJSON_AddStringToObject(o, "zone", s->zone);
        cJSON_AddStringToObject(o, "device", s->device);
        cJSON_AddBoolToObject(o, "tls", s->tls);
        cJSON_AddStringToObject(o, "version", s->version);
        cJSON_AddNumberToObject(o, "slots_total", s->slots);
        cJSON_AddNumberToObject(o, "attached", s->attached);
        cJSON_AddNumberToObject(o, "claimed", s->claimed);
        cJSON *slots = cJSON_AddArrayToObject(o, "slots");
        for (int k = 0; k < v->n_slots; k++) {
            const tt_fleet_slot *sl = &v->slots[k];
            if (strcmp(sl->server, s->id) != 0)
                continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "index", sl->index);
            cJSON_AddStringToObject(x, "type", sl->type);
            cJSON_AddStringToObject(x, "state", sl->attached ? "attached" : sl->claimed ? "claimed" : "free");
            cJSON_AddStringToObject(x, "attachment", sl->attachment);
            cJSON_AddStringToObject(x, "holder", sl->holder);
            cJSON_AddNumberToObject(x, "memory_bytes", (double)sl->memory_bytes);
            cJSON_AddNumberToObject(x, "compute_tflops", sl->tflops);
            cJSON_AddItemToArray(slots, x);
        }
        cJSON_AddItemToArray(servers, o);
    }
    return root;
}

static void print_table(const tt_fleet_view *v, const char *fleet)
{
    int attached = 0;
    for (int k = 0; k < v->n_slots; k++)
        attached += v->slots[k].attached;
    /* records come from the servers: printed escaped, never as terminal control */
    printf("fleet %s: %d server%s, %d slot%s, %d attached\n", tt_cli_esc(fleet), v->n_servers,
           v->n_servers == 1 ? "" : "s", v->n_slots, v->n_slots == 1 ? "" : "s", attached);
    for (int i = 0; i < v->n_servers; i++) {
        const tt_fleet_server *s = &v->servers[i];
        printf("\n%s  %s%s%s  %s  %d/%d attached (%.0f%%)\n", tt_cli_esc(s->id), tt_cli_esc(s->endpoint),
               s->zone[0] ? "  zone " : "", tt_cli_esc(s->zone), tt_cli_esc(s->device), s->attached, s->slots,
               s->slots ? 100.0 * s->attached / s->slots : 0.0);
        for (int k = 0; k < v->n_slots; k++) {
            const tt_fleet_slot *sl = &v->slots[k];
            if (strcmp(sl->server, s->id) != 0)
                continue;
            printf("  slot %-3d %-14s %-9s %s%s%s\n", sl->index, tt_cli_esc(sl->type),
                   sl->attached ? "attached" : sl->claimed ? "claimed" : "free", tt_cli_esc(sl->attachment),
                   sl->holder[0] ? "  by " : "", tt_cli_esc(sl->holder));
        }
    }
}

int tt_cmd_fleet(int argc, char **argv)
{
    enum { O_CA = 256, O_CERT, O_KEY };
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"fleet", required_argument, 0, 'f'},
                                         {"fleet-ca", required_argument, 0, O_CA},
                                         {"fleet-cert", required_argument, 0, O_CERT},
                                         {"fleet-key", required_argument, 0, O_KEY},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool json = false;
    const char *named = NULL; /* --fleet */
    tt_tls_files tls;
    memset(&tls, 0, sizeof tls);
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = true; break;
        case 'f': named = optarg; break;
        case O_CA: snprintf(tls.ca, sizeof tls.ca, "%s", optarg); break;
        case O_CERT: snprintf(tls.cert, sizeof tls.cert, "%s", optarg); break;
        case O_KEY: snprintf(tls.key, sizeof tls.key, "%s", optarg); break;
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("fleet", NULL);
        }
    }
    if (argc - optind > (named ? 0 : 1))
        return tt_cli_usage("fleet", "one fleet at a time ('%s' is extra)", argv[argc - 1]);
    char fleet[1024] = "";
    if (named)
        snprintf(fleet, sizeof fleet, "%s", named);
    else if (optind < argc)
        snprintf(fleet, sizeof fleet, "%s", argv[optind]);
    else if (getenv("TETHER_FLEET") && *getenv("TETHER_FLEET"))
        snprintf(fleet, sizeof fleet, "%s", getenv("TETHER_FLEET"));
    else
        recorded_fleet(fleet, sizeof fleet, &tls);
    if (!fleet[0])
        return tt_cli_usage("fleet", "which fleet? name it (tether fleet etcd://HOST:PORT), set TETHER_FLEET, or "
                                     "attach through one first");
    const char *ca = getenv("TETHER_FLEET_CA"), *cert = getenv("TETHER_FLEET_CERT"), *key = getenv("TETHER_FLEET_KEY");
    if (!tls.ca[0] && ca)
        snprintf(tls.ca, sizeof tls.ca, "%s", ca);
    if (!tls.cert[0] && cert)
        snprintf(tls.cert, sizeof tls.cert, "%s", cert);
    if (!tls.key[0] && key)
        snprintf(tls.key, sizeof tls.key, "%s", key);
    tt_etcd *e;
    if (tt_etcd_open(fleet, &tls, &e) != TETHER_OK)
        return tt_cli_fail("fleet", "%s", tether_last_error());
    tt_fleet_view v;
    tether_status st = tt_fleet_view_read(e, tt_deadline_ms(10000), &v);
    tt_etcd_close(e);
    if (st != TETHER_OK)
        return tt_cli_fail("fleet", "%s", tether_last_error());
    if (json) {
        cJSON *root = view_json(&v, fleet);
        char *text = cJSON_Print(root);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(root);
    } else {
        print_table(&v, fleet);
    }
    tt_fleet_view_free(&v);
    return 0;
}
