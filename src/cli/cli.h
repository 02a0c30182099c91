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

/* Prints "tether NAME: message" to stderr and returns exit code 1. */
int tt_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when arg is -h or --help. */
bool tt_cli_is_help(const char *arg);

/* numpy .npy files (format 1.0/2.0, C order, little-endian numeric dtypes and bool). */
tether_status tt_npy_read(const char *path, tether_tensor *t); /* t->data: malloc'ed, caller frees */
tether_status tt_npy_write(const char *path, const tether_tensor *t);
/* "float32[1,3,224,224]" */
const char *tt_cli_tensor_desc(const tether_tensor *t, char *buf, size_t n);

int tt_cmd_run(int argc, char **argv);
int tt_cmd_info(int argc, char **argv);
int tt_cmd_attach(int argc, char **argv);
int tt_cmd_detach(int argc, char **argv);
int tt_cmd_describe(int argc, char **argv);
int tt_cmd_doctor(int argc, char **argv);
int tt_cmd_bench(int argc, char **argv);
int tt_cmd_advise(int argc, char **argv);
int tt_cmd_devices(int argc, char **argv);

#endif
