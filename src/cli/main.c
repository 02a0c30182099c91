/* tether: the command-line front end. One file per subcommand; this one dispatches. */
#include "cli.h"

#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const tt_cmd g_cmds[] = {
    {"run", "run a model on the CPU or an attached accelerator", tt_cmd_run},
    {"info", "describe a model: inputs, outputs, opsets, ops, parameters, FLOPs", tt_cmd_info},
    {"attach", "reserve an accelerator slot on a tetherd server", tt_cmd_attach},
    {"detach", "release an attached accelerator", tt_cmd_detach},
    {"resize", "move an attached accelerator to another type, live", tt_cmd_resize},
    {"fleet", "list the servers of a fleet, their slots and use", tt_cmd_fleet},
    {"describe-accelerators", "list attached accelerators and their health", tt_cmd_describe},
    {"doctor", "check, step by step, the path to an accelerator", tt_cmd_doctor},
    {"bench", "measure latency and throughput of a model on a target", tt_cmd_bench},
    {"advise", "pick the cheapest host + accelerator meeting a latency target", tt_cmd_advise},
    {"devices", "list the backends of this build and the devices they can run on", tt_cmd_devices},
};

/* Outside text as a terminal should see it: printable bytes and UTF-8 as they are, tabs kept,
 * every other control character (ESC, CR, BEL, DEL, and C1 controls, which arrive in UTF-8
 * as 0xC2 0x80..0x9F) as \xHH. Writes at most n bytes with the NUL; returns the length the
 * whole text needs. */
static size_t escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[12];
        size_t k;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            k = (size_t)snprintf(e, sizeof e, "\\xc2\\x%02x", p[1]);
            p++;
        } else if (*p == '\t' || (*p >= 0x20 && *p != 0x7f)) {
            e[0] = (char)*p;
            k = 1;
        } else {
            k = (size_t)snprintf(e, sizeof e, "\\x%02x", *p);
        }
        if (o + k < n)
            memcpy(out + o, e, k);
        else if (o < n)
            n = o + 1; /* stop writing at a whole character */
        o += k;
    }
    if (n)
        out[o < n ? o : n - 1] = 0;
    return o;
}

const char *tt_cli_safe(const char *s, char *out, size_t n)
{
    escape(s, out, n);
    return out;
}

void tt_cli_put_safe(FILE *f, const char *s)
{
    size_t need = escape(s, NULL, 0) + 1;
    char *buf = malloc(need);
    if (!buf) {
        fputs("(out of memory)", f);
        return;
    }
    escape(s, buf, need);
    fputs(buf, f);
    free(buf);
}

const char *tt_cli_esc(const char *s)
{
    static char *ring[16];
    static unsigned next;
    if (!s)
        return "(null)";
    size_t need = escape(s, NULL, 0) + 1;
    char *buf = malloc(need);
    if (!buf)
        return "(out of memory)";
    escape(s, buf, need);
    unsigned i = next++ % 16;
    free(ring[i]);
    ring[i] = buf;
    return buf;
}

static void vfail(const char *cmd, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *msg = len >= 0 ? malloc((size_t)len + 1) : NULL;
    fprintf(stderr, "tether %s: ", cmd);
    if (msg) {
        vsnprintf(msg, (size_t)len + 1, fmt, ap);
        tt_cli_put_safe(stderr, msg); /* the whole message: never cut */
        free(msg);
    } else {
        vfprintf(stderr, fmt, ap);
    }
    fputc('\n', stderr);
}

int tt_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int tt_cli_fail_st(const char *cmd, tether_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(cmd, fmt, ap);
    va_end(ap);
    const char *want = getenv("TETHER_STATUS_LINE");
    if (want && strcmp(want, "1") == 0 && st != TETHER_OK)
        fprintf(stderr, "tether-status: %d %s\n", (int)st, tether_status_name(st));
    return 1;
}

int tt_cli_fail_last(const char *cmd, tether_status st)
{
    /* a copy: the message may change while it is printed */
    char *msg = strdup(tether_last_error());
    int rc = tt_cli_fail_st(cmd, st, "%s", msg ? msg : tether_last_error());
    free(msg);
    return rc;
}

int tt_cli_usage(const char *cmd, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vfail(cmd, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "Try 'tether %s --help' for its usage.\n", cmd);
    return 2;
}

bool tt_cli_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
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
    if (argc < 2) {
        fprintf(stderr, "tether: no command given\n\n");
        usage(stderr);
        return 2;
    }
    if (tt_cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("tether %s\n", tether_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (strcmp(argv[1], g_cmds[i].name) == 0) {
            /* getopt names the program in its messages: "tether run: unrecognized option" */
            char name[64];
            snprintf(name, sizeof name, "tether %s", g_cmds[i].name);
            argv[1] = name;
            return g_cmds[i].main(argc - 1, argv + 1);
        }
    fprintf(stderr, "tether: unknown command '");
    tt_cli_put_safe(stderr, argv[1]);
    fprintf(stderr, "'\n\n");
    usage(stderr);
    return 2;
}
