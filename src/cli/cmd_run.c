/* tether run: run a model once on a target with inputs from .npy files; write each output
 * as .npy and print its name, dtype and shape. */
#include "cli.h"

#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tether run MODEL.onnx [--input [NAME=]FILE.npy]... [options]\n\n"
               "Runs MODEL once and writes each output to DIR/NAME.npy.\n\n"
               "  -i, --input [NAME=]FILE  an input as a .npy file; without NAME, inputs go in the\n"
               "                           model's order\n"
               "  -o, --output-dir DIR     where outputs are written (default: do not write)\n"
               "  -t, --target TARGET      cpu (default), cuda:N (a local GPU), eia:N (an attached accelerator),\n"
               "                           tcp://HOST:PORT or unix:PATH\n"
               "  -n, --runs N             run N times and report the time of each (default 1)\n"
               "  -h, --help\n");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Output names can hold '/' or ':'; keep file names tame. */
static void safe_name(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = (in[i] == '/' || in[i] == '\\' || in[i] == ':' || in[i] == ' ') ? '_' : in[i];
    out[i] = 0;
    if (!out[0] || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, n, "output");
}

int tt_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},  {"output-dir", required_argument, 0, 'o'},
                                         {"target", required_argument, 0, 't'}, {"runs", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *outdir = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    int runs = 1;
    char **in_args = calloc((size_t)argc + 1, sizeof *in_args);
    int n_in = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "i:o:t:n:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in_args[n_in++] = optarg; break;
        case 'o': outdir = optarg; break;
        case 't': cfg.target = optarg; break;
        case 'n': runs = atoi(optarg); break;
        case 'h': usage(stdout); free(in_args); return 0;
        default: usage(stderr); free(in_args); return 2;
        }
    }
    if (optind != argc - 1 || runs < 1) {
        usage(stderr);
        free(in_args);
        return 2;
    }
    const char *model = argv[optind];
    if (tt_log_get_level() > TT_LOG_INFO)
        cfg.quiet = 1; /* where the session runs is printed below instead */
    tether_session *s;
    if (tether_session_open(&s, model, &cfg) != TETHER_OK) {
        int rc = tt_cli_fail("run", "%s", tether_last_error());
        free(in_args);
        return rc;
    }
    tether_tensor *inputs = calloc((size_t)n_in + 1, sizeof *inputs);
    int rc = 0;
    for (int i = 0; i < n_in && !rc; i++) {
        char *eq = strchr(in_args[i], '=');
        const char *file = in_args[i];
        /* NAME=FILE, unless the '=' is part of a path to an existing file */
        struct stat st;
        if (eq && stat(in_args[i], &st) != 0) {
            *eq = 0;
            file = eq + 1;
        } else {
            eq = NULL;
        }
        if (tt_npy_read(file, &inputs[i]) != TETHER_OK) {
            rc = tt_cli_fail("run", "%s", tether_last_error());
            break;
        }
        inputs[i].name = eq ? in_args[i] : NULL;
        if (!eq && i < (int)tether_session_input_count(s)) {
            tether_value_info info;
            tether_session_input_info(s, (size_t)i, &info);
            inputs[i].name = info.name;
        }
    }
    tether_session_stats stats;
    tether_session_stats_get(s, &stats);
    tether_outputs *out = NULL;
    for (int r = 0; r < runs && !rc; r++) {
        tether_outputs_free(out);
        out = NULL;
        double t0 = now_ms();
        if (tether_session_run(s, inputs, (size_t)n_in, &out) != TETHER_OK) {
            rc = tt_cli_fail("run", "%s", tether_last_error());
            break;
        }
        printf("run %d on %s: %.3f ms\n", r + 1, stats.where, now_ms() - t0);
    }
    if (!rc && outdir && mkdir(outdir, 0755) != 0 && errno != EEXIST)
        rc = tt_cli_fail("run", "cannot create '%s': %s", outdir, strerror(errno));
    for (size_t i = 0; !rc && i < tether_outputs_count(out); i++) {
        const tether_tensor *t = tether_outputs_get(out, i);
        char desc[256];
        printf("%s: %s\n", t->name, tt_cli_tensor_desc(t, desc, sizeof desc));
        if (outdir) {
            char name[256], path[4096];
            safe_name(t->name, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s.npy", outdir, name);
            if (tt_npy_write(path, t) != TETHER_OK)
                rc = tt_cli_fail("run", "%s", tether_last_error());
        }
    }
    tether_outputs_free(out);
    for (int i = 0; i < n_in; i++)
        free(inputs[i].data);
    free(inputs);
    free(in_args);
    tether_session_free(s);
    return rc;
}
