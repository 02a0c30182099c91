/* tether attach: lands with its issue; until then it fails loudly rather than pretend. */
#include "cli.h"

int tt_cmd_attach(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tt_cli_fail("attach", "not implemented in this build");
}
