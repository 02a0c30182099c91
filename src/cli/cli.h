/* Shared pieces of the tether command: the subcommand table, option helpers, .npy I/O. */
#ifndef TT_CLI_H
#define TT_CLI_H

#include "tether.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct tt_cmd {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand name */
} tt_cmd;

/* Prints "tether NAME: message" to stderr and returns exit code 1. Control characters in
 * the message (which may quote a server, a file or a model) are escaped. */
int tt_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a failed call that returned st. With TETHER_STATUS_LINE=1 in the environment
 * (the Python package sets it), a last line "tether-status: CODE NAME" follows, so a program
 * driving the command knows what kind of error it was. */
int tt_cli_fail_st(const char *cmd, tether_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* tt_cli_fail_st(cmd, st, "%s", tether_last_error()). */
int tt_cli_fail_last(const char *cmd, tether_status st);
/* A usage error: prints "tether NAME: reason" and where the options are described, and
 * returns exit code 2. With fmt NULL, getopt has already printed the reason. */
int tt_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when arg is -h or --help. */
bool tt_cli_is_help(const char *arg);
/* A whole number in [lo, hi]: the whole of s, nothing after it. */
bool tt_cli_long(const char *s, long lo, long hi, long *out);
/* s with control characters (terminal escapes, newlines, ...) written as \xHH, for text that
 * came from outside (a server, a file) on its way to a terminal. Returns out. */
const char *tt_cli_safe(const char *s, char *out, size_t n);
/* Prints s to f with control characters escaped, as tt_cli_safe does, whatever its length. */
void tt_cli_put_safe(FILE *f, const char *s);
/* s escaped as tt_cli_safe does, whole, for printf's %s: valid until 16 later calls. */
const char *tt_cli_esc(const char *s);

/* numpy .npy files (format 1.0-3.0, either byte order, C or Fortran order, numbers, bool and
 * complex): read into C order and this machine's byte order. t->data: malloc'ed, caller frees. */
tether_status tt_npy_read(const char *path, tether_tensor *t);
tether_status tt_npy_parse(const void *buf, size_t n, const char *label, tether_tensor *t);
tether_status tt_npy_write(const char *path, const tether_tensor *t);

/* numpy .npz archives (numpy.savez, and numpy.savez_compressed where zlib is built in): the
 * arrays with their names (member names without ".npy"). */
typedef struct tt_npz {
    tether_tensor *arrays; /* data malloc'ed; name unset */
    char **names;
    int n;
} tt_npz;
tether_status tt_npz_read(const char *path, tt_npz *out);
tether_status tt_npz_parse(const void *buf, size_t n, const char *path, tt_npz *out);
void tt_npz_free(tt_npz *z);
/* Whether path is a zip archive (an .npz, whatever its name). */
bool tt_npz_is(const char *path);

/* The --input arguments of run and bench, into t[i] / have[i] for the model's input i
 * (n = the model's input count; t and have zeroed by the caller). A spec is NAME=FILE.npy,
 * FILE.npy (the input at the spec's position), or FILE.npz (its arrays by name). An array
 * of another dtype than the input's is converted when every value is kept exactly. */
tether_status tt_cli_read_inputs(tether_session *s, char *const *specs, int n_specs, tether_tensor *t, bool *have);
/* src as `want` into a malloc'ed *out when every element converts exactly, else an error
 * naming `what`, the element and the two dtypes. */
tether_status tt_cli_convert_exact(const tether_tensor *src, tether_dtype want, const char *what, void **out);
/* "float32[1,3,224,224]" */
const char *tt_cli_tensor_desc(const tether_tensor *t, char *buf, size_t n);

int tt_cmd_run(int argc, char **argv);
int tt_cmd_info(int argc, char **argv);
int tt_cmd_attach(int argc, char **argv);
int tt_cmd_detach(int argc, char **argv);
int tt_cmd_resize(int argc, char **argv);
int tt_cmd_fleet(int argc, char **argv);
int tt_cmd_describe(int argc, char **argv);
int tt_cmd_doctor(int argc, char **argv);
int tt_cmd_bench(int argc, char **argv);
int tt_cmd_advise(int argc, char **argv);
int tt_cmd_devices(int argc, char **argv);

#endif
