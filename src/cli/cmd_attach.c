/* tether attach: reserve an accelerator slot of a type on a tetherd server and record the
 * attachment (ordinal, id, type, endpoint, token) in the tether home directory. */
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
               "                     [--json]\n\n"
               "Reserves a slot of accelerator TYPE (e.g. eia2.medium, cpu.small) on a tetherd server\n"
               "and records it in $TETHER_HOME (default ~/.tether). Sessions then name it as eia:N,\n"
               "N being the ordinal printed here (0 for the first attachment).\n\n"
               "  -s, --server ENDPOINT  HOST:PORT, tcp://HOST:PORT or unix:PATH\n"
               "  -k, --key KEY          the reservation key the server's operator gave you (servers\n"
               "                         started with --reserve-keys); default $TETHER_RESERVE_KEY\n"
               "      --key-file FILE    read the key from FILE (keeps it out of the process list)\n"
               "  -l, --lease SECONDS    release the slot automatically after this long unused\n"
               "                         (default: the server's, usually a day)\n"
               "      --json             print the attachment as JSON (without its token)\n"
               "  -h, --help\n");
}

int tt_cmd_attach(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, 0, 's'},
                                         {"lease", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'j'},
                                         {"key", required_argument, 0, 'k'},
                                         {"key-file", required_argument, 0, 'K'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *server = NULL, *key = NULL, *key_file = NULL;
    long lease = 0;
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:l:k:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': server = optarg; break;
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
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("attach", NULL);
        }
    }
    if (optind == argc)
        return tt_cli_usage("attach", "no accelerator type given (e.g. eia2.medium)");
    if (optind != argc - 1)
        return tt_cli_usage("attach", "one accelerator type at a time ('%s' is extra)", argv[argc - 1]);
    if (!server)
        return tt_cli_usage("attach", "--server HOST:PORT is required: the tetherd to attach from");
    if (key && key_file)
        return tt_cli_usage("attach", "give --key or --key-file, not both");
    char key_buf[TT_WIRE_MAX_KEY + 2] = "";
    if (key_file) {
        FILE *f = fopen(key_file, "r");
        if (!f)
            return tt_cli_fail("attach", "cannot read the key file '%s': %s", key_file, strerror(errno));
        bool got = fgets(key_buf, sizeof key_buf, f) != NULL;
        fclose(f);
        key_buf[strcspn(key_buf, "\r\n")] = 0;
        if (!got || !key_buf[0])
            return tt_cli_fail("attach", "the key file '%s' holds no key on its first line", key_file);
        key = key_buf;
    }
    tt_attachment a;
    tt_status st = tt_attach_key(argv[optind], server, (uint32_t)lease, key, &a);
    memset(key_buf, 0, sizeof key_buf);
    if (st != TETHER_OK)
        return tt_cli_fail("attach", "%s", tether_last_error());
    memset(a.token, 0, sizeof a.token);
    if (json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "ordinal", a.ordinal);
        cJSON_AddStringToObject(r, "id", a.id);
        cJSON_AddStringToObject(r, "type", a.type);
        cJSON_AddStringToObject(r, "endpoint", a.endpoint);
        cJSON_AddNumberToObject(r, "memory_bytes", (double)a.memory_bytes);
        cJSON_AddNumberToObject(r, "compute_tflops", a.tflops);
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
        printf("attached eia:%d  %s  %s  %.2f GiB  %s  %s\n", a.ordinal, tt_cli_esc(a.id), tt_cli_esc(a.type),
               a.memory_bytes / 1073741824.0, rate, tt_cli_esc(a.endpoint));
    else
        printf("attached %s  %s  %.2f GiB  %s  %s (not visible to this process: TETHER_VISIBLE_DEVICES / EI_VISIBLE_DEVICES)\n",
               tt_cli_esc(a.id), tt_cli_esc(a.type), a.memory_bytes / 1073741824.0, rate, tt_cli_esc(a.endpoint));
    return 0;
}
