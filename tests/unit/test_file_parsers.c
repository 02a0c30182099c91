/* The parsers of files people hand to tether — tetherd's config and keys files, the CLI's
 * .npy/.npz arrays, the advisor's tables and prices, the attachment records, the ONNX test
 * data — run over every seed kept for their fuzz targets (tests/fuzz/seeds/, the inputs that
 * once broke them among them) through the same harnesses, so a regression fails here, in
 * every build, and not only in a fuzzing run; and the fixes those inputs led to, checked by
 * their results. */
#include "check.h"

/* The fuzz targets' harnesses, each under names of its own. */
#define LLVMFuzzerInitialize fuzz_server_files_init
#define LLVMFuzzerTestOneInput fuzz_server_files_one
#include "../fuzz/fuzz_server_files.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_npy_init
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_advise_init
#define LLVMFuzzerTestOneInput fuzz_advise_one
#include "../fuzz/fuzz_advise.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_attach_init
#define LLVMFuzzerTestOneInput fuzz_attach_one
#include "../fuzz/fuzz_attach.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_fleet_init
#define LLVMFuzzerTestOneInput fuzz_fleet_one
#include "../fuzz/fuzz_fleet.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_model_load_init
#define LLVMFuzzerTestOneInput fuzz_model_load_one
#include "../fuzz/fuzz_model_load.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

#include "core/tensor.h"
#include "model/ir.h"

#include <dirent.h>

typedef int (*one_fn)(const uint8_t *data, size_t size);

/* Runs every file of tests/fuzz/seeds/NAME through fn; returns how many there were. */
static int replay(const char *name, one_fn fn)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", FUZZ_SEEDS_DIR, name);
    DIR *d = opendir(dir);
    if (!d)
        CHECK_FAIL("no seeds in %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fn(buf, len); /* the harness aborts on what must not be */
        n++;
    }
    closedir(d);
    return n;
}

TEST(every_kept_seed_passes_its_parser)
{
    int argc = 0;
    char **argv = NULL;
    fuzz_server_files_init(&argc, &argv);
    fuzz_npy_init(&argc, &argv);
    fuzz_advise_init(&argc, &argv);
    fuzz_attach_init(&argc, &argv);
    fuzz_model_load_init(&argc, &argv);
    fuzz_fleet_init(&argc, &argv);
    CHECK(replay("server_files", fuzz_server_files_one) >= 2);
    CHECK(replay("npy", fuzz_npy_one) >= 6);
    CHECK(replay("advise", fuzz_advise_one) >= 5);
    CHECK(replay("attach", fuzz_attach_one) >= 3);
    CHECK(replay("model_load", fuzz_model_load_one) >= 6);
    CHECK(replay("fleet", fuzz_fleet_one) >= 2);
}

/* The fleet's view file, as the last process left it (tests/fuzz/seeds/fleet/, its fleet
 * renamed etcd://fuzz): used only when it is whole, of this fleet and layout, and young;
 * strings, bools and names made safe before anything reads them. */
TEST(the_fleet_view_file_is_checked_before_use)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fleet/view-file-one-server", FUZZ_SEEDS_DIR);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static uint8_t file[1 << 16], buf[1 << 16];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    tt_fleet_view v;
    CHECK(tt_fleet_view_file_parse(file, n, "etcd://fuzz", false, &v));
    CHECK_EQ_INT(v.n_servers, 1);
    CHECK(v.n_slots >= 1);
    int n_slots = v.n_slots;
    size_t servers_at = n - sizeof(tt_fleet_server) * (size_t)v.n_servers - sizeof(tt_fleet_slot) * (size_t)v.n_slots;
    size_t slots_at = servers_at + sizeof(tt_fleet_server) * (size_t)v.n_servers;
    tt_fleet_view_free(&v);
    /* written long ago; another fleet's; cut short; one byte too many */
    CHECK(!tt_fleet_view_file_parse(file, n, "etcd://fuzz", true, &v));
    CHECK(!tt_fleet_view_file_parse(file, n, "etcd://other:2379", false, &v));
    CHECK(!tt_fleet_view_file_parse(file, n - 1, "etcd://fuzz", false, &v));
    memcpy(buf, file, n);
    buf[n] = 0;
    CHECK(!tt_fleet_view_file_parse(buf, n + 1, "etcd://fuzz", false, &v));
    /* a bool that is neither 0 nor 1, and a server id with no terminating NUL */
    memcpy(buf, file, n);
    buf[servers_at + offsetof(tt_fleet_server, tls)] = 2;
    buf[slots_at + offsetof(tt_fleet_slot, free)] = 0x80;
    CHECK(tt_fleet_view_file_parse(buf, n, "etcd://fuzz", false, &v));
    unsigned char tls, fr;
    memcpy(&tls, &v.servers[0].tls, 1);
    memcpy(&fr, &v.slots[0].free, 1);
    CHECK_EQ_INT(tls, 1);
    CHECK_EQ_INT(fr, 1);
    tt_fleet_view_free(&v);
    /* the server's id and every slot's server name with no terminating NUL: cut to fit */
    memcpy(buf, file, n);
    memset(buf + servers_at + offsetof(tt_fleet_server, id), 'A', sizeof v.servers[0].id);
    for (int i = 0; i < n_slots; i++)
        memset(buf + slots_at + sizeof(tt_fleet_slot) * (size_t)i + offsetof(tt_fleet_slot, server), 'A',
               sizeof v.slots[0].server);
    CHECK(tt_fleet_view_file_parse(buf, n, "etcd://fuzz", false, &v));
    CHECK_EQ_INT((int)strlen(v.servers[0].id), (int)sizeof v.servers[0].id - 1);
    CHECK(strcmp(v.slots[0].server, v.servers[0].id) == 0);
    tt_fleet_view_free(&v);
    /* counts no server has, and a claim timeout past an hour: refused (placement adds and
     * multiplies them) */
    static const size_t count_fields[] = {offsetof(tt_fleet_server, attached), offsetof(tt_fleet_server, claimed),
                                          offsetof(tt_fleet_server, claim_timeout_s)};
    for (size_t i = 0; i < sizeof count_fields / sizeof count_fields[0]; i++) {
        memcpy(buf, file, n);
        int big = 2000000000;
        memcpy(buf + servers_at + count_fields[i], &big, sizeof big);
        CHECK(!tt_fleet_view_file_parse(buf, n, "etcd://fuzz", false, &v));
    }
    /* a slot naming a server the file does not have */
    memcpy(buf, file, n);
    buf[slots_at + offsetof(tt_fleet_slot, server)] ^= 1;
    CHECK(!tt_fleet_view_file_parse(buf, n, "etcd://fuzz", false, &v));
}

static const char *text_file(const char *text, size_t n) { return fuzz_file((const uint8_t *)text, n); }

TEST(config_and_keys_lines_cut_or_with_a_nul_are_refused)
{
    /* a comment longer than the line buffer: its tail was read as a setting of its own */
    char buf[4096] = "# ";
    memset(buf + 2, 'x', 2500);
    int n = 2502 + snprintf(buf + 2502, sizeof buf - 2502, " slots = evil=1\nwarm-cache = 3\n");
    tt_server_config c;
    tt_config_defaults(&c);
    CHECK_ERR(tt_config_load_file(&c, text_file(buf, (size_t)n)), TETHER_ERR_INVALID_ARGUMENT, ":1: the line is longer");
    tt_config_defaults(&c);
    static const char nul[] = "warm-cache = 3\0 # hidden\nrun-limit = 5\n";
    CHECK_ERR(tt_config_load_file(&c, text_file(nul, sizeof nul - 1)), TETHER_ERR_INVALID_ARGUMENT, ":1: the line holds a NUL");
    tt_config_defaults(&c);
    static const char ok[] = "warm-cache = 3\nwarm-cache-max = 64MiB\nrun-limit = 5";
    CHECK_OK(tt_config_load_file(&c, text_file(ok, sizeof ok - 1)));
    CHECK_EQ_INT(c.warm_cache, 3);
    CHECK_EQ_INT(c.warm_cache_max, 64 << 20);
    CHECK_EQ_INT(c.run_limit_s, 5);

    memset(buf, 0, sizeof buf);
    memset(buf, '#', 700);
    n = 700 + snprintf(buf + 700, sizeof buf - 700,
                       " x 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 9 3600\n");
    tt_keys k;
    CHECK_ERR(tt_keys_load(text_file(buf, (size_t)n), &k), TETHER_ERR_INVALID_ARGUMENT, ":1: the line is longer");
}

/* A zip archive of one deflated member "x.npy" whose directory entry claims usize bytes. */
static size_t npz_claiming(uint8_t *z, uint32_t usize)
{
    static const uint8_t deflated[] = {0x03, 0x00}; /* an empty final block */
    size_t o = 0;
#define U16(v) (z[o++] = (uint8_t)(v), z[o++] = (uint8_t)((v) >> 8))
#define U32(v) (U16((v) & 0xffff), U16((uint32_t)(v) >> 16))
    U32(0x04034b50), U16(20), U16(0), U16(8), U16(0), U16(0), U32(0), U32(sizeof deflated), U32(usize), U16(5), U16(0);
    memcpy(z + o, "x.npy", 5), o += 5;
    memcpy(z + o, deflated, sizeof deflated), o += sizeof deflated;
    size_t cd = o;
    U32(0x02014b50), U16(20), U16(20), U16(0), U16(8), U16(0), U16(0), U32(0), U32(sizeof deflated), U32(usize),
        U16(5), U16(0), U16(0), U16(0), U16(0), U32(0), U32(0);
    memcpy(z + o, "x.npy", 5), o += 5;
    size_t cd_size = o - cd;
    U32(0x06054b50), U16(0), U16(0), U16(1), U16(1), U32(cd_size), U32(cd), U16(0);
#undef U16
#undef U32
    return o;
}

TEST(an_npz_member_claiming_more_than_its_bytes_can_hold_is_refused_before_allocating)
{
    uint8_t z[256];
    tt_npz out;
    /* 2 bytes of deflate cannot make 4 GiB: refused from the sizes alone */
    size_t n = npz_claiming(z, 0xfffffff0u);
    CHECK_ERR(tt_npz_parse(z, n, "claims.npz", &out), TETHER_ERR_INVALID_ARGUMENT, "more than its 2 deflated bytes");
    /* a claim deflate could meet is inflated and found short, as before */
    n = npz_claiming(z, 1000);
    CHECK_ERR(tt_npz_parse(z, n, "short.npz", &out), TETHER_ERR_INVALID_ARGUMENT, "does not inflate to its 1000");
}

/* A Fortran-order array with a zero dimension has no elements, however large its other
 * dimensions (their product alone would overflow): it reads as an empty array. */
TEST(a_fortran_array_with_a_zero_dimension_reads_empty)
{
    char h[128];
    int k = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': True, 'shape': (72, 255555555555555555, 0, 2), }");
    while (k % 64 != 64 - 10 - 1)
        h[k++] = ' ';
    h[k++] = '\n';
    uint8_t b[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)k, 0};
    memcpy(b + 10, h, (size_t)k);
    tether_tensor t;
    CHECK_OK(tt_npy_parse(b, 10 + (size_t)k, "empty.npy", &t));
    CHECK_EQ_INT(t.rank, 4);
    CHECK_EQ_INT(t.dims[2], 0);
    CHECK_EQ_INT(t.size, 0);
    free(t.data);
}

TEST(attachment_records_with_numbers_out_of_range_read_as_unknown)
{
    int argc = 0;
    char **argv = NULL;
    fuzz_attach_init(&argc, &argv);
    static const char rec[] =
        "{\"version\":1,\"attachments\":[{\"id\":\"a\",\"type\":\"t\",\"endpoint\":\"tcp://h:1\",\"token\":\"\","
        "\"memory_bytes\":1e30,\"tflops\":-1},{\"id\":\"b\",\"type\":\"t\",\"endpoint\":\"tcp://h:2\","
        "\"token\":\"\",\"memory_bytes\":1048576,\"tflops\":0.5}]}";
    FILE *f = fopen(g_file, "wb");
    CHECK(f && fwrite(rec, 1, sizeof rec - 1, f) == sizeof rec - 1 && fclose(f) == 0);
    tt_attachment *all;
    int count;
    CHECK_OK(tt_attachments_list(&all, &count));
    CHECK_EQ_INT(count, 2);
    CHECK_EQ_INT(all[0].memory_bytes, 0);
    CHECK(all[0].tflops == 0);
    CHECK_EQ_INT(all[1].memory_bytes, 1048576);
    CHECK(all[1].tflops == 0.5);
    tt_free(all);
}

/* An OptionalProto (elem_type 1: a tensor) holding tensor_value twice: a float 1.0, then 2.0. */
TEST(an_optional_given_twice_keeps_the_last_value_and_leaks_nothing)
{
    uint8_t pb[64];
    size_t o = 0;
    pb[o++] = 0x10, pb[o++] = 1; /* elem_type = TENSOR */
    for (int k = 0; k < 2; k++) {
        float v = k ? 2.0f : 1.0f;
        /* TensorProto: data_type 1 (float), raw_data 4 bytes (a scalar) */
        uint8_t t[] = {0x10, 0x01, 0x4a, 0x04, 0, 0, 0, 0};
        memcpy(t + 4, &v, 4);
        pb[o++] = 0x1a, pb[o++] = sizeof t;
        memcpy(pb + o, t, sizeof t), o += sizeof t;
    }
    tt_type ty = {.kind = TT_KIND_OPTIONAL, .elem_kind = TT_KIND_TENSOR, .dtype = TETHER_DTYPE_FLOAT, .rank = -1};
    tt_value v;
    CHECK_OK(tt_value_from_pb(pb, o, &ty, &v));
    CHECK_EQ_INT(v.kind, TT_KIND_TENSOR);
    CHECK(*(const float *)v.t.data == 2.0f);
    tt_value_release(&v);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
