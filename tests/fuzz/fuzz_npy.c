/* libFuzzer target for the CLI's array readers (src/cli/npy.c): the same bytes as a .npy file
 * (header dict, dtype, shape, byte order, Fortran order) and as an .npz archive (zip directory,
 * zip64 records, stored and deflated members, each a .npy). `tether run --input` reads these
 * from whoever made them. A parsed array must be exactly as large as its shape says. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_array(const tether_tensor *t)
{
    size_t n = tether_dtype_size(t->dtype);
    if (t->rank < 0 || t->rank > TETHER_MAX_RANK)
        abort();
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            abort();
        n *= (size_t)t->dims[i];
    }
    if (n != t->size || (t->size && !t->data))
        abort();
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < t->size; i += 4096)
        sink ^= ((const unsigned char *)t->data)[i]; /* every page of it is there */
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tether_tensor t;
    if (tt_npy_parse(data, size, "fuzz.npy", &t) == TETHER_OK) {
        check_array(&t);
        free(t.data);
    }
    tt_npz z;
    if (tt_npz_parse(data, size, "fuzz.npz", &z) == TETHER_OK) {
        for (int i = 0; i < z.n; i++) {
            check_array(&z.arrays[i]);
            if (!z.names[i])
                abort();
        }
        tt_npz_free(&z);
    }
    return 0;
}
