/* libFuzzer target for the attachment records ($TETHER_HOME/attachments.json, src/client/
 * attach.c) as every command and every "eia:N" session reads them: listing, one by ordinal,
 * its token as bytes. An input starting with "V:" sets TETHER_VISIBLE_DEVICES to the rest of
 * its first line, so that filter and renumbering is fuzzed over the same records. */
#include "client/attach.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_home[512], g_file[512];

static void remove_home(void)
{
    unlink(g_file);
    rmdir(g_home);
}

/* One home per process, removed at exit (tests/unit/test_file_parsers.c replays the seeds
 * through this too). It is made under $TMPDIR: tests/fuzz/run.sh points that into
 * build-fuzz/ and empties it, since fork mode's jobs may be killed before they exit. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (g_home[0])
        return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_home, sizeof g_home, "%s/tether-fuzz-attach-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_home))
        abort();
    setenv("TETHER_HOME", g_home, 1);
    snprintf(g_file, sizeof g_file, "%s/attachments.json", g_home);
    atexit(remove_home);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *body = data;
    size_t n = size;
    unsetenv("TETHER_VISIBLE_DEVICES");
    if (size >= 2 && memcmp(data, "V:", 2) == 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t)(nl - data) : size;
        char vis[256];
        size_t k = len - 2 < sizeof vis - 1 ? len - 2 : sizeof vis - 1;
        memcpy(vis, data + 2, k);
        vis[k] = 0;
        if (!memchr(vis, 0, k))
            setenv("TETHER_VISIBLE_DEVICES", vis, 1);
        body = nl ? nl + 1 : data + size;
        n = size - (size_t)(body - data);
    }
    FILE *f = fopen(g_file, "wb");
    if (!f || fwrite(body, 1, n, f) != n || fclose(f) != 0)
        abort();
    tt_attachment *all = NULL;
    int count = 0;
    if (tt_attachments_list(&all, &count) == TT_OK) {
        for (int i = 0; i < count; i++) {
            if (memchr(all[i].id, 0, sizeof all[i].id) == NULL || memchr(all[i].token, 0, sizeof all[i].token) == NULL)
                abort();
            uint8_t token[TT_WIRE_TOKEN_LEN];
            tt_attachment_token(&all[i], token);
        }
        tt_free(all);
    }
    tt_attachment a;
    tt_attachment_get(0, &a);
    tt_attachment_get(1, &a);
    return 0;
}
