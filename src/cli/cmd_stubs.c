/* Commands whose implementation lands with the accelerator and advisor work. Until then
 * they fail loudly rather than pretend. */
#include "cli.h"

static int not_yet(const char *cmd)
{
    return tt_cli_fail(cmd, "not implemented in this build");
}

int tt_cmd_attach(int argc, char **argv) { (void)argc; (void)argv; return not_yet("attach"); }
int tt_cmd_detach(int argc, char **argv) { (void)argc; (void)argv; return not_yet("detach"); }
int tt_cmd_describe(int argc, char **argv) { (void)argc; (void)argv; return not_yet("describe-accelerators"); }
int tt_cmd_doctor(int argc, char **argv) { (void)argc; (void)argv; return not_yet("doctor"); }
int tt_cmd_bench(int argc, char **argv) { (void)argc; (void)argv; return not_yet("bench"); }
int tt_cmd_advise(int argc, char **argv) { (void)argc; (void)argv; return not_yet("advise"); }
