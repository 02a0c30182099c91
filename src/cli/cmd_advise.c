/* tether advise: lands with its issue; until then it fails loudly rather than pretend. */
#include "cli.h"

int tt_cmd_advise(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tt_cli_fail("advise", "not implemented in this build");
}
