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
               "  -l, --run-limit S        a run still going after S seconds stops with an error\n"
               "                           (default 0: no limit; a model's loop may never end)\n"
               "  -h, --help\n\n"
               "Inputs: .npy files (any byte order, C or Fortran order), or an .npz archive whose\n"
               "arrays are named as the model's inputs. An input of another dtype than the model's\n"
               "is converted only where every value is kept exactly.\n");
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
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'}, {"output-dir", required_argument, 0, 'o'},
        {"target", required_argument, 0, 't'}, {"runs", required_argument, 0, 'n'},
        {"run-limit", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *outdir = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    int runs = 1;
    char **in_args = calloc((size_t)argc + 1, sizeof *in_args);
    int n_in = 0, o;
    optind = 1;
    long v;
    double limit_s = 0;
    char *end;
    while ((o = getopt_long(argc, argv, "i:o:t:n:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in_args[n_in++] = optarg; break;
        case 'o': outdir = optarg; break;
        case 't': cfg.target = optarg; break;
        case 'n':
            if (!tt_cli_long(optarg, 1, 1000000000, &v)) {
                free(in_args);
                return tt_cli_usage("run", "--runs '%s': expected a whole number of at least 1", optarg);
            }
            runs = (int)v;
            break;
        case 'l':
            limit_s = strtod(optarg, &end);
            if (end == optarg || *end || !(limit_s >= 0) || limit_s > 86400 * 365.0) {
                free(in_args);
                return tt_cli_usage("run", "--run-limit '%s': expected seconds (0 for no limit)", optarg);
            }
            cfg.run_limit_ms = limit_s > 0 && limit_s < 0.001 ? 1 : (int)(limit_s * 1000);
            break;
        case 'h': usage(stdout); free(in_args); return 0;
        default: free(in_args); return tt_cli_usage("run", NULL);
        }
    }
    if (optind != argc - 1) {
        free(in_args);
        return tt_cli_usage("run", optind == argc ? "no model given" : "one model at a time ('%s' is extra)",
                            argv[argc - 1]);
    }
    const char *model = argv[optind];
    if (tt_log_get_level() > TT_LOG_INFO)
        cfg.quiet = 1; /* where the session runs is printed below instead */
    tether_session *s;
    tether_status st = tether_session_open(&s, model, &cfg);
    if (st != TETHER_OK) {
        int rc = tt_cli_fail_last("run", st);
        free(in_args);
        return rc;
    }
    size_t n_model = tether_session_input_count(s);
    tether_tensor *slots = calloc(n_model + 1, sizeof *slots), *inputs = calloc(n_model + 1, sizeof *inputs);
    bool *have = calloc(n_model + 1, sizeof *have);
    int rc = 0;
    size_t n_given = 0;
    if (!slots || !inputs || !have)
        rc = tt_cli_fail("run", "out of memory");
    else if ((st = tt_cli_read_inputs(s, in_args, n_in, slots, have)) != TETHER_OK)
        rc = tt_cli_fail_last("run", st);
    /* the inputs given, in the model's order: the library names any that is missing */
    for (size_t i = 0; !rc && i < n_model; i++)
        if (have[i])
            inputs[n_given++] = slots[i];
    tether_session_stats stats;
    tether_session_stats_get(s, &stats);
    tether_outputs *out = NULL;
    for (int r = 0; r < runs && !rc; r++) {
        tether_outputs_free(out);
        out = NULL;
        double t0 = now_ms();
        if ((st = tether_session_run(s, inputs, n_given, &out)) != TETHER_OK) {
            rc = tt_cli_fail_last("run", st);
            break;
        }
        printf("run %d on %s: %.3f ms\n", r + 1, tt_cli_esc(stats.where), now_ms() - t0);
    }
    if (!rc && outdir && mkdir(outdir, 0755) != 0 && errno != EEXIST)
        rc = tt_cli_fail("run", "cannot create '%s': %s", outdir, strerror(errno));
    for (size_t i = 0; !rc && i < tether_outputs_count(out); i++) {
        const tether_tensor *t = tether_outputs_get(out, i);
        char desc[256];
        printf("%s: %s\n", tt_cli_esc(t->name), tt_cli_tensor_desc(t, desc, sizeof desc));
        if (outdir) {
            char name[256], path[4096];
            safe_name(t->name, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s.npy", outdir, name);
            if ((st = tt_npy_write(path, t)) != TETHER_OK)
                rc = tt_cli_fail_last("run", st);
        }
    }
    tether_outputs_free(out);
    for (size_t i = 0; slots && i < n_model; i++)
        free(slots[i].data);
    free(slots);
    free(inputs);
    free(have);
    free(in_args);
    tether_session_free(s);
    return rc;
}
