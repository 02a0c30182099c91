/* tether-conformance: runs the ONNX backend test suite (model.onnx + test_data_set_N/
 * input_K.pb, output_K.pb per folder) and compares with ONNX's rule: same dtype and
 * shape, |a - b| <= atol + rtol * |b|. Each test runs in its own process with a timeout,
 * so a crash or hang is one failure, not the end of the run. */
#include "model/model.h"
#include "runtime/session.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef TETHER_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

#define DEFAULT_ROOT "/usr/share/libonnx-testdata/data"
static const char *g_default_suites[] = {"node", "simple", "pytorch-converted", "pytorch-operator"};

static double g_atol = 1e-7, g_rtol = 1e-3;
static int g_timeout = 120;
static const char *g_backend;  /* --backend: placed first, with ref for what it lacks */
static const char *g_precision; /* --precision: device math mode (NULL: fp32) */

typedef struct test {
    char *path, *name;
    const char *suite;  /* the folder it was found under: "node", "simple", ... */
    bool skipped;       /* by the skip file: not run */
    char result[600]; /* "pass ..." / "fail ..." / "skip ..." */
} test;

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ---- comparing values ----------------------------------------------------------------- */

static int compare_tensor(const tt_tensor *got, const tt_tensor *want, char *why, size_t n)
{
    char g[200], w[200];
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->rank) != 0) {
        snprintf(why, n, "got %s, expected %s", tt_tensor_desc(got, g, sizeof g), tt_tensor_desc(want, w, sizeof w));
        return -1;
    }
    int64_t numel = tt_tensor_numel(want);
    if (want->dtype == TETHER_DTYPE_STRING) {
        for (int64_t i = 0; i < numel; i++) {
            const char *a = ((char *const *)got->data)[i], *b = ((char *const *)want->data)[i];
            if (strcmp(a, b) != 0) {
                snprintf(why, n, "element %lld: got \"%.40s\", expected \"%.40s\"", (long long)i, a, b);
                return -1;
            }
        }
        return 0;
    }
    bool fl = tt_dtype_is_float(want->dtype) || want->dtype == TETHER_DTYPE_COMPLEX64 ||
              want->dtype == TETHER_DTYPE_COMPLEX128 || ((TT_DTS_MINIFLOAT >> want->dtype) & 1);
    if (want->dtype == TETHER_DTYPE_COMPLEX64 || want->dtype == TETHER_DTYPE_COMPLEX128)
        numel *= 2;
    tt_dtype dt = want->dtype == TETHER_DTYPE_COMPLEX64    ? TETHER_DTYPE_FLOAT
                  : want->dtype == TETHER_DTYPE_COMPLEX128 ? TETHER_DTYPE_DOUBLE
                                                           : want->dtype;
    int bad = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (fl) {
            double a = tt_load_f64(got->data, dt, (size_t)i), b = tt_load_f64(want->data, dt, (size_t)i);
            bool ok = (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= g_atol + g_rtol * fabs(b);
            if (!ok && !bad++)
                snprintf(why, n, "element %lld: got %.9g, expected %.9g", (long long)i, a, b);
        } else {
            int64_t a = tt_load_i64(got->data, dt, (size_t)i), b = tt_load_i64(want->data, dt, (size_t)i);
            if (a != b && !bad++)
                snprintf(why, n, "element %lld: got %lld, expected %lld", (long long)i, (long long)a, (long long)b);
        }
    }
    if (bad) {
        size_t l = strlen(why);
        snprintf(why + l, n - l, " (%d of %lld elements differ)", bad, (long long)numel);
        return -1;
    }
    return 0;
}

static int compare_value(const tt_value *got, const tt_value *want, char *why, size_t n)
{
    if (got->kind != want->kind) {
        snprintf(why, n, "got a value of kind %d, expected kind %d", got->kind, want->kind);
        return -1;
    }
    if (want->kind == TT_KIND_TENSOR)
        return compare_tensor(&got->t, &want->t, why, n);
    if (want->kind == TT_KIND_SEQUENCE) {
        if (got->seq->n != want->seq->n) {
            snprintf(why, n, "sequence of %d, expected %d", got->seq->n, want->seq->n);
            return -1;
        }
        for (int i = 0; i < want->seq->n; i++) {
            if (compare_tensor(&got->seq->items[i], &want->seq->items[i], why, n) != 0) {
                char tmp[400];
                snprintf(tmp, sizeof tmp, "sequence item %d: %s", i, why);
                snprintf(why, n, "%s", tmp);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- one test, in a child process ------------------------------------------------------------ */

static bool uses_training_ops(const tt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].domain, "ai.onnx.preview.training") == 0)
            return true;
    return false;
}

/* Runs data set `dir` through session s; false (with out filled) on any failure. */
static bool run_data_set(const test *t, tether_session *s, const char *dir, int d, int nin, const tt_type *in_types,
                         int nout, const tt_type *out_types, char *out, size_t n)
{
    tt_value *in = calloc((size_t)nin + 1, sizeof *in), *got = calloc((size_t)nout + 1, sizeof *got);
    tt_value *want = calloc((size_t)nout + 1, sizeof *want);
    bool ok = in && got && want;
    for (int i = 0; i < nin + nout && ok; i++) {
        bool is_in = i < nin;
        int k = is_in ? i : i - nin;
        char f[4300];
        snprintf(f, sizeof f, "%s/%s_%d.pb", dir, is_in ? "input" : "output", k);
        void *data;
        size_t len;
        if (tt_read_file(f, (size_t)1 << 32, &data, &len) != TT_OK) {
            snprintf(out, n, "fail %s: reading %s %d: %s", t->name, is_in ? "input" : "output", k, tt_last_error());
            ok = false;
            break;
        }
        if (tt_value_from_pb(data, len, is_in ? &in_types[k] : &out_types[k], is_in ? &in[k] : &want[k]) != TT_OK) {
            snprintf(out, n, "fail %s: decoding %s %d: %s", t->name, is_in ? "input" : "output", k, tt_last_error());
            ok = false;
        }
        free(data);
        /* ONNX 1.12 stores bfloat16 test data as uint16 (numpy has no bfloat16): relabel */
        tt_value *v = is_in ? &in[k] : &want[k];
        const tt_type *ty = is_in ? &in_types[k] : &out_types[k];
        if (ok && v->kind == TT_KIND_TENSOR && ty->dtype == TETHER_DTYPE_BFLOAT16 && v->t.dtype == TETHER_DTYPE_UINT16)
            v->t.dtype = TETHER_DTYPE_BFLOAT16;
    }
    if (ok && tt_local_run_values(s, in, got, NULL) != TT_OK) {
        snprintf(out, n, "fail %s: %s", t->name, tt_last_error());
        ok = false;
    }
    for (int i = 0; i < nout && ok; i++) {
        char why[400];
        if (compare_value(&got[i], &want[i], why, sizeof why) != 0) {
            snprintf(out, n, "fail %s: output %d (data set %d): %s", t->name, i, d, why);
            ok = false;
        }
    }
    for (int i = 0; in && i < nin; i++)
        tt_value_release(&in[i]);
    for (int i = 0; got && want && i < nout; i++) {
        tt_value_release(&got[i]);
        tt_value_release(&want[i]);
    }
    free(in);
    free(got);
    free(want);
    return ok;
}

static void run_test(const test *t, char *out, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", t->path);
    tt_model *m;
    if (tt_model_load_file(path, &m) != TT_OK) {
        snprintf(out, n, "fail %s: %s", t->name, tt_last_error());
        return;
    }
    if (uses_training_ops(m->graph)) {
        snprintf(out, n, "skip %s: training-only operator (ai.onnx.preview.training)", t->name);
        tt_model_free(m);
        return;
    }
    /* the declared types, copied before the model is handed to the session */
    int nin = m->graph->n_inputs, nout = m->graph->n_outputs;
    tt_type *in_types = calloc((size_t)nin + 1, sizeof *in_types), *out_types = calloc((size_t)nout + 1, sizeof *out_types);
    for (int i = 0; i < nin; i++)
        in_types[i] = m->graph->values[m->graph->inputs[i]].type;
    for (int i = 0; i < nout; i++)
        out_types[i] = m->graph->values[m->graph->outputs[i]].type;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.warmup = 0;
    cfg.quiet = 1;
    char target[128];
    if (g_backend) {
        snprintf(target, sizeof target, strcmp(g_backend, "ref") == 0 ? "%s" : "%s,ref", g_backend);
        cfg.target = target;
    }
    cfg.precision = g_precision;
    tether_session *s;
    int on_backend = 0, nodes = 0;
    if (tt_local_open(m, &cfg, &s) != TT_OK) {
        snprintf(out, n, "fail %s: %s", t->name, tt_last_error());
    } else {
        const tt_graph *g = tt_session_local(s)->model->graph;
        for (int i = 0; g_backend && i < g->n_nodes; i++) {
            nodes++;
            on_backend += strcmp(g->nodes[i].backend->name, g_backend) == 0;
        }
        int sets = 0;
        bool ok = true;
        for (int d = 0; ok; d++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/test_data_set_%d", t->path, d);
            if (!is_dir(dir))
                break;
            sets++;
            ok = run_data_set(t, s, dir, d, nin, in_types, nout, out_types, out, n);
        }
        tether_session_free(s);
        if (ok && sets == 0)
            snprintf(out, n, "skip %s: no test data sets", t->name);
        else if (ok && g_backend)
            snprintf(out, n, "pass %s [%s: %d/%d nodes]", t->name, g_backend, on_backend, nodes);
        else if (ok)
            snprintf(out, n, "pass %s", t->name);
    }
    free(in_types);
    free(out_types);
#ifdef TETHER_SANITIZE
    /* the child leaves through _exit: check for leaks of this test explicitly */
    if (strncmp(out, "pass", 4) == 0 && __lsan_do_recoverable_leak_check())
        snprintf(out, n, "fail %s: memory leaked (LeakSanitizer report above)", t->name);
#endif
}

/* ---- driver -------------------------------------------------------------------------------------- */

static void add_suite(const char *dir, const char *suite, test **tests, int *n, int *cap)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    if (exists(p)) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *tests = realloc(*tests, sizeof(test) * (size_t)*cap);
        }
        const char *base = strrchr(dir, '/');
        (*tests)[*n] = (test){.path = strdup(dir), .name = strdup(base ? base + 1 : dir), .suite = suite};
        (*n)++;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "tether-conformance: cannot open '%s': %s\n", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    int nn = 0, nc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == nc) {
            nc = nc ? nc * 2 : 256;
            names = realloc(names, sizeof(char *) * (size_t)nc);
        }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    for (int i = 0; i < nn; i++) {
        snprintf(p, sizeof p, "%s/%s/model.onnx", dir, names[i]);
        if (exists(p)) {
            snprintf(p, sizeof p, "%s/%s", dir, names[i]);
            add_suite(p, suite, tests, n, cap);
        }
        free(names[i]);
    }
    free(names);
}

typedef struct child {
    pid_t pid;
    int fd, idx;
    time_t start;
    size_t len;
} child;

static void finish(test *t, child *c, int status, bool timed_out)
{
    t->result[c->len < sizeof t->result ? c->len : sizeof t->result - 1] = 0;
    if (timed_out)
        snprintf(t->result, sizeof t->result, "fail %s: timed out after %d s", t->name, g_timeout);
    else if (WIFSIGNALED(status))
        snprintf(t->result, sizeof t->result, "fail %s: crashed with signal %d (%s)", t->name, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (!t->result[0])
        snprintf(t->result, sizeof t->result, "fail %s: the test process exited with status %d", t->name,
                 WEXITSTATUS(status));
}

/* Marks the tests named in a skip file (NAME REASON per line) as skipped and removes them
 * from the run order; they still count in the summary. */
static int apply_skips(const char *path, test *tests, int *order, int *m, bool quiet)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tether-conformance: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char *reason = line + strcspn(line, " \t");
        if (*reason)
            *reason++ = 0;
        reason += strspn(reason, " \t");
        for (int q = 0; q < *m; q++) {
            test *t = &tests[order[q]];
            if (strcmp(t->name, line) != 0)
                continue;
            snprintf(t->result, sizeof t->result, "skip %s: %s", t->name, *reason ? reason : "(no reason given)");
            if (!quiet)
                printf("%s\n", t->result);
            t->skipped = true;
        }
    }
    fclose(f);
    return 0;
}

/* Whether target cannot open here (its reason printed). Asked in a child process: a device
 * backend's runtime must not start in the parent, whose children it would not survive. */
static bool backend_unavailable(const char *target)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        tt_backend_list bl;
        if (tt_backend_list_for(target, &bl) != TT_OK) {
            printf("tether-conformance: backend %s is unavailable: %s\n", target, tt_last_error());
            fflush(stdout);
            _exit(77);
        }
        tt_backend_list_release(&bl);
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 77;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tether-conformance [options] [FOLDER...]\n"
            "Runs the ONNX backend test suite. A FOLDER holds test folders (model.onnx +\n"
            "test_data_set_N/), or is one. Default: the node, simple, pytorch-converted and\n"
            "pytorch-operator folders under the --data root.\n\n"
            "  -d, --data DIR      the suite's root (default %s); for the newest\n"
            "                      ONNX, the folder scripts/deps.sh --onnx-suite writes\n"
            "  -e, --expect FILE   tests that must pass: any of them failing makes the run fail\n"
            "  -w, --write-expect FILE  write the names of the tests that passed\n"
            "  -f, --filter TEXT   only tests whose name contains TEXT\n"
            "  -j, --jobs N        tests run at once (default: online cores)\n"
            "  -t, --timeout S     seconds per test (default 120)\n"
            "  -s, --skip FILE     tests not to run: lines of 'NAME REASON'; each is reported as\n"
            "                      skipped with its reason\n"
            "  -b, --backend NAME  run on backend NAME (cpu, cuda:0, ...), with the reference\n"
            "                      kernels for what it lacks; reports how many nodes it ran\n"
            "  -p, --precision P   fp32 (default), tf32 or fp16 (device backends)\n"
            "  -q, --quiet         print only failures and the summary\n"
            "  -h, --help\n"
            "Prints one line per test, the counts of each folder, and ends with\n"
            "'N passed, N failed, N skipped'.\n",
            DEFAULT_ROOT);
}

int main(int argc, char **argv)
{
    const char *expect = NULL, *write_expect = NULL, *filter = NULL, *skip_file = NULL, *root = DEFAULT_ROOT;
    int jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bool quiet = false;
    static const struct option opts[] = {
        {"expect", required_argument, 0, 'e'}, {"write-expect", required_argument, 0, 'w'},
        {"filter", required_argument, 0, 'f'}, {"jobs", required_argument, 0, 'j'},
        {"timeout", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
        {"skip", required_argument, 0, 's'},   {"help", no_argument, 0, 'h'},
        {"backend", required_argument, 0, 'b'}, {"precision", required_argument, 0, 'p'},
        {"data", required_argument, 0, 'd'},   {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "e:w:f:j:t:s:b:p:d:qh", opts, NULL)) != -1) {
        switch (o) {
        case 'e': expect = optarg; break;
        case 'w': write_expect = optarg; break;
        case 'f': filter = optarg; break;
        case 'j': jobs = atoi(optarg); break;
        case 't': g_timeout = atoi(optarg); break;
        case 'q': quiet = true; break;
        case 's': skip_file = optarg; break;
        case 'b': g_backend = optarg; break;
        case 'p': g_precision = optarg; break;
        case 'd': root = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (jobs < 1)
        jobs = 1;
    test *tests = NULL;
    int n = 0, cap = 0;
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            size_t l = strlen(argv[i]);
            while (l > 1 && argv[i][l - 1] == '/')
                argv[i][--l] = 0;
            const char *base = strrchr(argv[i], '/');
            add_suite(argv[i], base ? base + 1 : argv[i], &tests, &n, &cap);
        }
    } else {
        for (size_t i = 0; i < sizeof g_default_suites / sizeof *g_default_suites; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", root, g_default_suites[i]);
            if (is_dir(p))
                add_suite(p, g_default_suites[i], &tests, &n, &cap);
        }
    }
    if (n == 0) {
        fprintf(stderr, "tether-conformance: no tests found under '%s'%s\n", optind < argc ? argv[optind] : root,
                optind < argc || strcmp(root, DEFAULT_ROOT) != 0 ? "" : " (is libonnx-testdata installed?)");
        return 2;
    }
    if (g_backend && backend_unavailable(g_backend))
        return 77;
    int *order = malloc(sizeof(int) * (size_t)n), m = 0;
    for (int i = 0; i < n; i++)
        if (!filter || strstr(tests[i].name, filter))
            order[m++] = i;

    if (skip_file && apply_skips(skip_file, tests, order, &m, quiet) != 0)
        return 2;
    child *kids = calloc((size_t)jobs, sizeof *kids);
    int running = 0, next = 0, done = 0;
    for (int k = 0; k < jobs; k++)
        kids[k].pid = 0;
    while (done < m) {
        for (int k = 0; k < jobs && next < m; k++) {
            if (kids[k].pid)
                continue;
            int fds[2];
            if (pipe(fds) != 0) {
                perror("pipe");
                return 2;
            }
            int idx = order[next++];
            if (tests[idx].skipped) {
                done++;
                k--; /* this slot is still free */
                continue;
            }
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                close(fds[0]);
                alarm((unsigned)g_timeout + 5);
                char res[600];
                run_test(&tests[idx], res, sizeof res);
                ssize_t w = write(fds[1], res, strlen(res));
                (void)w;
                _exit(0);
            }
            close(fds[1]);
            kids[k] = (child){.pid = pid, .fd = fds[0], .idx = idx, .start = time(NULL), .len = 0};
            tests[idx].result[0] = 0;
            running++;
        }
        struct pollfd pfd[64];
        int np = 0, map[64];
        for (int k = 0; k < jobs && np < 64; k++)
            if (kids[k].pid) {
                pfd[np] = (struct pollfd){.fd = kids[k].fd, .events = POLLIN};
                map[np++] = k;
            }
        poll(pfd, (nfds_t)np, 500);
        for (int q = 0; q < np; q++) {
            child *c = &kids[map[q]];
            test *t = &tests[c->idx];
            bool timed_out = time(NULL) - c->start > g_timeout;
            if (pfd[q].revents & (POLLIN | POLLHUP)) {
                ssize_t r = read(c->fd, t->result + c->len, sizeof t->result - 1 - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    continue;
                }
            } else if (!timed_out) {
                continue;
            }
            if (timed_out)
                kill(c->pid, SIGKILL);
            int status = 0;
            waitpid(c->pid, &status, 0);
            close(c->fd);
            finish(t, c, status, timed_out);
            if (!quiet || strncmp(t->result, "fail", 4) == 0)
                printf("%s\n", t->result);
            c->pid = 0;
            running--;
            done++;
        }
    }

    int passed = 0, failed = 0, skipped = 0, regressions = 0;
    long on_backend = 0, nodes = 0, tests_on = 0;
    for (int q = 0; q < m; q++) {
        const char *r = tests[order[q]].result;
        const char *br = g_backend ? strrchr(r, '[') : NULL;
        int a, b;
        if (br && strncmp(r, "pass", 4) == 0 && sscanf(strchr(br, ' ') ? strchr(br, ' ') : br, " %d/%d", &a, &b) == 2) {
            on_backend += a;
            nodes += b;
            tests_on += a > 0;
        }
        passed += strncmp(r, "pass", 4) == 0;
        failed += strncmp(r, "fail", 4) == 0;
        skipped += strncmp(r, "skip", 4) == 0;
    }
    if (expect) {
        FILE *f = fopen(expect, "r");
        if (!f) {
            fprintf(stderr, "tether-conformance: cannot read '%s': %s\n", expect, strerror(errno));
            return 2;
        }
        char line[512];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0] || line[0] == '#')
                continue;
            bool found = false;
            for (int q = 0; q < m; q++) {
                test *t = &tests[order[q]];
                if (strcmp(t->name, line) == 0) {
                    found = true;
                    if (strncmp(t->result, "pass", 4) != 0) {
                        printf("regression: %s was expected to pass\n", line);
                        regressions++;
                    }
                }
            }
            (void)found;
        }
        fclose(f);
    }
    if (write_expect) {
        FILE *f = fopen(write_expect, "w");
        if (!f) {
            fprintf(stderr, "tether-conformance: cannot write '%s': %s\n", write_expect, strerror(errno));
            return 2;
        }
        fprintf(f, "# Conformance tests that pass; written by tether-conformance --write-expect.\n");
        char **names = malloc(sizeof(char *) * (size_t)(m + 1));
        int k = 0;
        for (int q = 0; q < m; q++)
            if (strncmp(tests[order[q]].result, "pass", 4) == 0)
                names[k++] = tests[order[q]].name;
        qsort(names, (size_t)k, sizeof *names, cmp_str);
        for (int q = 0; q < k; q++)
            fprintf(f, "%s\n", names[q]);
        free(names);
        fclose(f);
    }
    if (g_backend)
        printf("backend %s ran %ld of %ld nodes of the passing tests (%ld tests used it)\n", g_backend, on_backend,
               nodes, tests_on);
    /* each folder's counts, in the order the folders were given */
    for (int q = 0; q < m; q++) {
        const char *suite = tests[order[q]].suite;
        bool seen = false;
        for (int r = 0; r < q && !seen; r++)
            seen = strcmp(tests[order[r]].suite, suite) == 0;
        if (seen)
            continue;
        int sp = 0, sf = 0, ss = 0;
        for (int r = q; r < m; r++) {
            const test *t = &tests[order[r]];
            if (strcmp(t->suite, suite) != 0)
                continue;
            sp += strncmp(t->result, "pass", 4) == 0;
            sf += strncmp(t->result, "fail", 4) == 0;
            ss += strncmp(t->result, "skip", 4) == 0;
        }
        printf("%s: %d passed, %d failed, %d skipped\n", suite, sp, sf, ss);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    for (int i = 0; i < n; i++) {
        free(tests[i].path);
        free(tests[i].name);
    }
    free(tests);
    free(order);
    free(kids);
    if (expect)
        return regressions ? 1 : 0;
    return failed ? 1 : 0;
}
