/* tether detach: release an attached accelerator on its server and forget its record. */
#include "cli.h"

#include "client/attach.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether detach ORDINAL [--force]\n\n"
               "Releases accelerator eia:ORDINAL (as describe-accelerators numbers them) and removes\n"
               "its record. The ordinals of later attachments move down by one.\n\n"
               "  -f, --force   forget the record even if its server cannot be reached (the server\n"
               "                frees the slot when its lease ends)\n"
               "  -h, --help\n");
}

int tt_cmd_detach(int argc, char **argv)
{
    static const struct option opts[] = {{"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool force = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (o) {
        case 'f': force = true; break;
        case 'h': usage(stdout); return 0;
        default: return tt_cli_usage("detach", NULL);
        }
    }
    if (optind == argc)
        return tt_cli_usage("detach", "no ordinal given (0, 1, ... or eia:N)");
    if (optind != argc - 1)
        return tt_cli_usage("detach", "one ordinal at a time ('%s' is extra)", argv[argc - 1]);
    const char *arg = argv[optind];
    if (strncmp(arg, "eia:", 4) == 0)
        arg += 4;
    char *end;
    long ord = strtol(arg, &end, 10);
    if (end == arg || *end || ord < 0 || ord > 1000000)
        return tt_cli_usage("detach", "'%s' is not an ordinal (0, 1, ... or eia:N)", argv[optind]);
    tt_attachment a;
    tether_status st = tt_attachment_get((int)ord, &a);
    if (st != TETHER_OK)
        return tt_cli_fail_last("detach", st);
    memset(a.token, 0, sizeof a.token);
    char note[1024];
    if ((st = tt_detach_ex((int)ord, force, note, sizeof note)) != TETHER_OK)
        return tt_cli_fail_last("detach", st);
    if (note[0])
        fprintf(stderr, "tether detach: note: %s\n", tt_cli_esc(note));
    printf("detached eia:%ld  %s  %s  %s\n", ord, tt_cli_esc(a.id), tt_cli_esc(a.type), tt_cli_esc(a.endpoint));
    return 0;
}
