/* tether describe-accelerators: lands with its issue; until then it fails loudly rather than pretend. */
#include "cli.h"

int tt_cmd_describe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tt_cli_fail("describe-accelerators", "not implemented in this build");
}
