/* tether resize: move a running attachment to a slot of another type, live. */
#include "cli.h"

#include "client/attach.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether resize ORDINAL TYPE [--wait SECONDS] [--json]\n\n"
               "Moves accelerator eia:ORDINAL to a new slot of TYPE (bigger or smaller) without\n"
               "stopping the applications using it: the new slot is reserved (through the\n"
               "attachment's fleet, else on its server) and recorded under the same ordinal; each\n"
               "running session loads its model there and switches at its next request; the old\n"
               "slot is released once no session uses it.\n\n"
               "  -w, --wait SECONDS     release the old slot after this long even if a session\n"
               "                         still holds it (default 30); such a session moves at its\n"
               "                         next request\n"
               "      --json             print the new attachment as JSON\n"
               "  -h, --help\n");
}

int tt_cmd_resize(int argc, char **argv)
{
    static const struct option opts[] = {{"wait", required_argument, 0, 'w'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    double wait_s = 30;
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "w:h", opts, NULL)) != -1) {
        switch (o) {
        case 'w': {
            char *end;
            wait_s = strtod(optarg, &end);
            if (*end || !(wait_s >= 0) || wait_s > 3600)
                return tt_cli_usage("resize", "--wait '%s' is not a number of seconds in 0..3600", optarg);
            break;
        }
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("resize", NULL);
        }
    }
    if (optind != argc - 2)
        return tt_cli_usage("resize", "expected an ordinal and a type (tether resize 0 eia2.large)");
    const char *arg = argv[optind];
    if (strncmp(arg, "eia:", 4) == 0)
        arg += 4;
    char *end;
    long ord = strtol(arg, &end, 10);
    if (end == arg || *end || ord < 0 || ord > 1000000)
        return tt_cli_usage("resize", "'%s' is not an ordinal (0, 1, ... or eia:N)", argv[optind]);
    tt_attachment before;
    if (tt_attachment_get((int)ord, &before) != TETHER_OK)
        return tt_cli_fail("resize", "%s", tether_last_error());
    memset(before.token, 0, sizeof before.token);
    tt_attachment a;
    char note[1024];
    if (tt_attachment_resize((int)ord, argv[optind + 1], (int)(wait_s * 1000), &a, note, sizeof note) != TETHER_OK)
        return tt_cli_fail("resize", "%s", tether_last_error());
    memset(a.token, 0, sizeof a.token);
    if (note[0])
        fprintf(stderr, "tether resize: note: %s\n", note);
    if (json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "ordinal", a.ordinal);
        cJSON_AddStringToObject(r, "id", a.id);
        cJSON_AddStringToObject(r, "type", a.type);
        cJSON_AddStringToObject(r, "endpoint", a.endpoint);
        cJSON_AddStringToObject(r, "previous_id", before.id);
        cJSON_AddStringToObject(r, "previous_type", before.type);
        char *text = cJSON_Print(r);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(r);
        return 0;
    }
    printf("resized eia:%d  %s (%s) -> %s (%s)  %s\n", a.ordinal, tt_cli_esc(before.id), tt_cli_esc(before.type),
           tt_cli_esc(a.id), tt_cli_esc(a.type), tt_cli_esc(a.endpoint));
    return 0;
}
