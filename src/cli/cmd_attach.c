/* tether attach: reserve an accelerator slot of a type on a tetherd server, or on the
 * least-loaded server of a fleet, and record the attachment (ordinal, id, type, endpoint,
 * token) in the tether home directory. */
#include "cli.h"

#include "client/attach.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether attach TYPE --server HOST:PORT [--key KEY | --key-file FILE] [--lease SECONDS]\n"
               "                     [--json]\n"
               "       tether attach TYPE --fleet etcd://HOST:PORT[,...] [--server ID|HOST:PORT] [--zone Z]\n"
               "                     [--key KEY | --key-file FILE]\n\n"
               "Reserves a slot of accelerator TYPE (e.g. eia2.medium, cpu.small) on a tetherd server\n"
               "and records it in $TETHER_HOME (default ~/.tether). Sessions then name it as eia:N,\n"
               "N being the ordinal printed here (0 for the first attachment).\n\n"
               "  -s, --server ENDPOINT  HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:PATH; with\n"
               "                         --fleet: only this server (its id or endpoint)\n"
               "  -f, --fleet URLS       place the attachment in a fleet of servers registered in etcd\n"
               "                         (etcd://HOST:PORT[,...], etcds://... over TLS): the least-loaded\n"
               "                         server with a free slot of TYPE; when that server fails,\n"
               "                         sessions move to another one of the same type\n"
               "  -z, --zone ZONE        with --fleet: only servers labelled with this zone\n"
               "  -k, --key KEY          the reservation key the server's operator gave you (servers\n"
               "                         started with --reserve-keys); default $TETHER_RESERVE_KEY; with\n"
               "                         --fleet it is recorded, for failover and resize to use\n"
               "      --key-file FILE    read the key from FILE (keeps it out of the process list)\n"
               "  -l, --lease SECONDS    release the slot automatically after this long unused\n"
               "                         (default: the server's, usually a day)\n"
               "      --tls-ca FILE      CA certificate that signed the servers' (tls:// endpoints;\n"
               "                         default: $TETHER_TLS_CA, else the system's store)\n"
               "      --tls-cert FILE    this host's client certificate, for servers that ask for one\n"
               "      --tls-key FILE     its key (default: $TETHER_TLS_CERT, $TETHER_TLS_KEY)\n"
               "      --fleet-ca FILE, --fleet-cert FILE, --fleet-key FILE\n"
               "                         the same for etcd over TLS (default: $TETHER_FLEET_CA, ...)\n"
               "      --json             print the attachment as JSON (without its token)\n"
               "  -h, --help\n");
}

static int set_path(char *dst, size_t cap, const char *flag, const char *v)
{
    if (strlen(v) >= cap)
        return tt_cli_fail("attach", "%s: path longer than %zu bytes", flag, cap - 1);
    snprintf(dst, cap, "%s", v);
    return 0;
}

int tt_cmd_attach(int argc, char **argv)
{
    enum { O_TLS_CA = 256, O_TLS_CERT, O_TLS_KEY, O_FLEET_CA, O_FLEET_CERT, O_FLEET_KEY };
    static const struct option opts[] = {{"server", required_argument, 0, 's'},
                                         {"fleet", required_argument, 0, 'f'},
                                         {"zone", required_argument, 0, 'z'},
                                         {"lease", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'j'},
                                         {"key", required_argument, 0, 'k'},
                                         {"key-file", required_argument, 0, 'K'},
                                         {"tls-ca", required_argument, 0, O_TLS_CA},
                                         {"tls-cert", required_argument, 0, O_TLS_CERT},
                                         {"tls-key", required_argument, 0, O_TLS_KEY},
                                         {"fleet-ca", required_argument, 0, O_FLEET_CA},
                                         {"fleet-cert", required_argument, 0, O_FLEET_CERT},
                                         {"fleet-key", required_argument, 0, O_FLEET_KEY},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    tt_attach_opts ao;
    memset(&ao, 0, sizeof ao);
    const char *key = NULL, *key_file = NULL;
    long lease = 0;
    bool json = false;
    int o, rc = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:f:z:l:k:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': ao.server = optarg; break;
        case 'f': ao.fleet = optarg; break;
        case 'z': ao.zone = optarg; break;
        case 'k': key = optarg; break;
        case 'K': key_file = optarg; break;
        case 'l': {
            char *end;
            lease = strtol(optarg, &end, 10);
            if (end == optarg || *end || lease <= 0 || lease > 365L * 86400)
                return tt_cli_usage("attach", "--lease '%s' is not a number of seconds in 1..31536000", optarg);
            break;
        }
        case 'j': json = true; break;
        case O_TLS_CA: rc = set_path(ao.tls.ca, sizeof ao.tls.ca, "--tls-ca", optarg); break;
        case O_TLS_CERT: rc = set_path(ao.tls.cert, sizeof ao.tls.cert, "--tls-cert", optarg); break;
        case O_TLS_KEY: rc = set_path(ao.tls.key, sizeof ao.tls.key, "--tls-key", optarg); break;
        case O_FLEET_CA: rc = set_path(ao.fleet_tls.ca, sizeof ao.fleet_tls.ca, "--fleet-ca", optarg); break;
        case O_FLEET_CERT: rc = set_path(ao.fleet_tls.cert, sizeof ao.fleet_tls.cert, "--fleet-cert", optarg); break;
        case O_FLEET_KEY: rc = set_path(ao.fleet_tls.key, sizeof ao.fleet_tls.key, "--fleet-key", optarg); break;
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("attach", NULL);
        }
        if (rc)
            return rc;
    }
    if (optind == argc)
        return tt_cli_usage("attach", "no accelerator type given (e.g. eia2.medium)");
    if (optind != argc - 1)
        return tt_cli_usage("attach", "one accelerator type at a time ('%s' is extra)", argv[argc - 1]);
    if (!ao.server && !ao.fleet)
        return tt_cli_usage("attach", "--server HOST:PORT (the tetherd to attach from) or --fleet etcd://HOST:PORT "
                                      "is required");
    if (ao.zone && !ao.fleet)
        return tt_cli_usage("attach", "--zone places through a fleet: give --fleet etcd://HOST:PORT too");
    if (key && key_file)
        return tt_cli_usage("attach", "give --key or --key-file, not both");
    char key_buf[TT_WIRE_MAX_KEY + 2] = "";
    if (key_file) {
        FILE *f = fopen(key_file, "r");
        if (!f)
            return tt_cli_fail_st("attach", TETHER_ERR_IO, "cannot read the key file '%s': %s", key_file,
                                  strerror(errno));
        bool got = fgets(key_buf, sizeof key_buf, f) != NULL;
        fclose(f);
        key_buf[strcspn(key_buf, "\r\n")] = 0;
        if (!got || !key_buf[0])
            return tt_cli_fail_st("attach", TETHER_ERR_INVALID_ARGUMENT, "the key file '%s' holds no key on its first line",
                                  key_file);
        key = key_buf;
    }
    ao.lease_s = (uint32_t)lease;
    ao.key = key;
    tt_attachment a;
    tt_status st = tt_attach_with(argv[optind], &ao, &a);
    memset(key_buf, 0, sizeof key_buf);
    if (st != TETHER_OK)
        return tt_cli_fail_last("attach", st);
    memset(a.token, 0, sizeof a.token);
    if (json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "ordinal", a.ordinal);
        cJSON_AddStringToObject(r, "id", a.id);
        cJSON_AddStringToObject(r, "type", a.type);
        cJSON_AddStringToObject(r, "endpoint", a.endpoint);
        cJSON_AddNumberToObject(r, "memory_bytes", (double)a.memory_bytes);
        cJSON_AddNumberToObject(r, "compute_tflops", a.tflops);
        if (a.fleet[0]) {
            cJSON_AddStringToObject(r, "fleet", a.fleet);
            cJSON_AddStringToObject(r, "server_id", a.server_id);
            cJSON_AddStringToObject(r, "zone", a.zone);
        }
        char *text = cJSON_Print(r);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(r);
        return 0;
    }
    char rate[32];
    if (a.tflops >= 1)
        snprintf(rate, sizeof rate, "%.2f TFLOPS", a.tflops);
    else
        snprintf(rate, sizeof rate, "%.1f GFLOPS", a.tflops * 1e3);
    if (a.ordinal >= 0)
        printf("attached eia:%d  %s  %s  %.2f GiB  %s  %s%s%s\n", a.ordinal, tt_cli_esc(a.id), tt_cli_esc(a.type),
               a.memory_bytes / 1073741824.0, rate, tt_cli_esc(a.endpoint), a.fleet[0] ? "  via " : "",
               tt_cli_esc(a.fleet));
    else
        printf("attached %s  %s  %.2f GiB  %s  %s (not visible to this process: TETHER_VISIBLE_DEVICES / EI_VISIBLE_DEVICES)\n",
               tt_cli_esc(a.id), tt_cli_esc(a.type), a.memory_bytes / 1073741824.0, rate, tt_cli_esc(a.endpoint));
    return 0;
}
