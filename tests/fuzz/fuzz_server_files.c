/* libFuzzer target for tetherd's text files: the same bytes as its config file ("key = value"
 * lines, each through the setting parsers: sizes, rates, type definitions, slot lists,
 * prices) and as a --reserve-keys file ("NAME SHA256 MAX-SLOTS MAX-LEASE" lines). Both are
 * read at start and again at every SIGHUP, so a bad file must be an error, never a crash. */
#include "core/log.h"
#include "core/mem.h"
#include "fuzz_file.h"
#include "server/config.h"
#include "server/keys.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tt_log_set_level(TT_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    tt_server_config c;
    tt_config_defaults(&c);
    if (tt_config_load_file(&c, path) == TT_OK) {
        /* what a loaded config holds is bounded as its parsers promise */
        if (c.n_slot_specs < 0 || c.n_slot_specs > TT_MAX_SLOT_SPECS || c.n_types < 0 || c.n_types > TT_MAX_TYPES ||
            memchr(c.listen, 0, sizeof c.listen) == NULL || memchr(c.state_dir, 0, sizeof c.state_dir) == NULL)
            abort();
    }
    tt_keys k = {0};
    if (tt_keys_load(path, &k) == TT_OK) {
        if (k.n < 0 || (k.n && !k.v))
            abort();
        for (int i = 0; i < k.n; i++)
            if (memchr(k.v[i].name, 0, sizeof k.v[i].name) == NULL || k.v[i].max_slots < 0)
                abort();
        tt_keys_match(&k, "tk-not-a-key");
        tt_keys_free(&k);
    }
    /* the size parser on its own, over the first line */
    char line[128];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = 0;
    uint64_t bytes;
    tt_parse_bytes(line, &bytes);
    return 0;
}
