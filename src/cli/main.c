/* tether: the command-line front end. One file per subcommand; this one dispatches. */
#include "cli.h"

#include "core/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const tt_cmd g_cmds[] = {
    {"run", "run a model on the CPU or an attached accelerator", tt_cmd_run},
    {"info", "describe a model: inputs, outputs, opsets, ops, parameters, FLOPs", tt_cmd_info},
    {"attach", "reserve an accelerator slot on a tetherd server", tt_cmd_attach},
    {"detach", "release an attached accelerator", tt_cmd_detach},
    {"describe-accelerators", "list attached accelerators and their health", tt_cmd_describe},
    {"doctor", "check, step by step, the path to an accelerator", tt_cmd_doctor},
    {"bench", "measure latency and throughput of a model on a target", tt_cmd_bench},
    {"advise", "pick the cheapest host + accelerator meeting a latency target", tt_cmd_advise},
    {"devices", "list the backends of this build and the devices they can run on", tt_cmd_devices},
};

int tt_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tether %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool tt_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

static void usage(FILE *f)
{
    fprintf(f, "usage: tether COMMAND [ARGS...]\n\n"
               "tether runs ONNX models on this host's CPU or on a right-sized slice of a\n"
               "remote accelerator (a tetherd server), and advises the cheapest combination.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        fprintf(f, "  %-22s %s\n", g_cmds[i].name, g_cmds[i].summary);
    fprintf(f, "\n'tether COMMAND --help' describes a command. Environment: TETHER_HOME (default\n"
               "~/.tether), TETHER_LOG_LEVEL (debug|info|warn|error), TETHER_NUM_THREADS.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || tt_cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("tether %s\n", tether_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (strcmp(argv[1], g_cmds[i].name) == 0)
            return g_cmds[i].main(argc - 1, argv + 1);
    fprintf(stderr, "tether: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
