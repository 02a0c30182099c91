/* libFuzzer target for tetherd's KServe v2 request parser (src/server/kserve.c), which reads
 * every HTTP inference body: the first two bytes of an input choose where the JSON header
 * ends (as Inference-Header-Content-Length would), the rest is the body. Every tensor the
 * parser accepts must hold exactly its shape's bytes; anything else it must refuse with a
 * message. TETHER_FUZZ_SEEDS=DIR writes a seed corpus of valid requests into DIR first. */
#include "core/mem.h"
#include "server/kserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tt_kserve_limits lim = {.max_tensors = 64, .max_tensor_bytes = 1 << 20, .max_depth = 32};

static void write_seed(const char *dir, int i, const char *json, const void *bin, size_t nbin)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-%d", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    size_t j = strlen(json);
    unsigned char hdr[2] = {(unsigned char)(j >> 8), (unsigned char)j};
    fwrite(hdr, 1, 2, f);
    fwrite(json, 1, j, f);
    if (nbin)
        fwrite(bin, 1, nbin, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("TETHER_FUZZ_SEEDS");
    if (!dir)
        return 0;
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    write_seed(dir, 0, "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]}]}", 0,
               0);
    write_seed(dir, 1,
               "{\"id\":\"a\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,4],\"parameters\":{"
               "\"binary_data_size\":32}}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}",
               x, sizeof x);
    write_seed(dir, 2,
               "{\"inputs\":[{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[3],\"data\":[true,false,true]},{\"name\":"
               "\"i\",\"datatype\":\"INT64\",\"shape\":[1,2],\"data\":[[-5,9007199254740992]]},{\"name\":\"h\","
               "\"datatype\":\"FP16\",\"shape\":[1],\"data\":[0.5]}],\"parameters\":{\"binary_data_output\":true}}",
               0, 0);
    write_seed(dir, 3, "{\"inputs\":[{\"name\":\"u\",\"datatype\":\"UINT8\",\"shape\":[0,3],\"data\":[]}]}", 0, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t json_len = (size_t)data[0] << 8 | data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    if (json_len == 0 || json_len > len)
        json_len = len;
    tt_kserve_req r;
    if (tt_kserve_parse_infer(body, len, json_len, &lim, &r) != TETHER_OK)
        return 0;
    if (r.n_inputs == 0 || r.n_inputs > lim.max_tensors || r.n_outputs > lim.max_tensors)
        abort();
    for (size_t i = 0; i < r.n_inputs; i++) {
        const tether_tensor *t = &r.inputs[i];
        uint64_t numel = 1;
        for (int d = 0; d < t->rank; d++)
            numel *= (uint64_t)t->dims[d];
        if (t->rank > TETHER_MAX_RANK || !t->name || !t->data || numel * tether_dtype_size(t->dtype) != t->size ||
            t->size > lim.max_tensor_bytes)
            abort(); /* the parser accepted a tensor that does not hold its shape */
        volatile uint8_t sink = 0;
        for (size_t k = 0; k < t->size; k++) /* every byte readable (ASan checks) */
            sink ^= ((const uint8_t *)t->data)[k];
        (void)sink;
    }
    tt_kserve_req_free(&r);
    return 0;
}
