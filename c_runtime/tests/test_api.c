/* C-level API tests: status strings, argument checks, arena sizing and
 * alignment, repeated runs, corrupt headers. Usage: test_api ZOO_DIR */
#define _POSIX_C_SOURCE 200809L
#include "nnbrt.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); ++failures; } } while (0)

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 8);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_model(const char *path)
{
    size_t len, need, e;
    uint8_t *img = read_file(path, &len), *copy;
    uint8_t *arena;
    nnbrt_net *net;
    float *first = NULL, *d;
    int i;
    CHECK(img != NULL);
    if (!img) return;
    CHECK(nnbrt_arena_size(img, len, &need) == NNBRT_OK);
    arena = malloc(need + 1);
    CHECK(nnbrt_init(&net, img, len, arena, need - 1) == NNBRT_E_ARENA_TOO_SMALL);
    CHECK(nnbrt_init(&net, img, len, arena + 1, need) == NNBRT_OK); /* misaligned arena */
    CHECK(nnbrt_num_inputs(net) >= 1 && nnbrt_num_outputs(net) >= 1);
    {
        nnbrt_arena_info ai;
        CHECK(nnbrt_get_arena_info(net, &ai) == NNBRT_OK);
        CHECK(ai.total == need && ai.tables + ai.io + ai.tensors + ai.scratch + nnbrt_packed_bytes(net) == need);
        CHECK(nnbrt_packed_bytes(NULL) == 0);
        CHECK(ai.tables > 0 && ai.io > 0);
        CHECK(nnbrt_get_arena_info(NULL, &ai) == NNBRT_E_NULL_ARG);
    }
    CHECK(nnbrt_input(net, nnbrt_num_inputs(net), &d, NULL, NULL) == NNBRT_E_BAD_INDEX);
    CHECK(nnbrt_output(net, -1, &d, NULL, NULL) == NNBRT_E_BAD_INDEX);
    for (i = 0; i < nnbrt_num_inputs(net); ++i) {
        size_t j;
        CHECK(nnbrt_input(net, i, &d, NULL, NULL) == NNBRT_OK);
        nnbrt_input_size(net, i, &e);
        for (j = 0; j < e; ++j) d[j] = (float)((j * 7919u) % 200u) / 100.0f - 1.0f;
    }
    /* Two runs without reloading inputs give identical outputs. */
    CHECK(nnbrt_run(net) == NNBRT_OK);
    nnbrt_output(net, 0, &d, NULL, NULL);
    nnbrt_output_size(net, 0, &e);
    first = malloc(e * sizeof(float));
    memcpy(first, d, e * sizeof(float));
    CHECK(nnbrt_run(net) == NNBRT_OK);
    CHECK(memcmp(first, d, e * sizeof(float)) == 0);
    /* NNBRT_EXTERNAL_INPUTS: the arena without input storage, inputs in the
       caller's buffers (here: the first net's), the same outputs. */
    {
        size_t need_ext, in_bytes = 0;
        nnbrt_net *n2;
        uint8_t *a2;
        float *d2, *x;
        CHECK(nnbrt_arena_size_flags(img, len, NNBRT_EXTERNAL_INPUTS, &need_ext) == NNBRT_OK);
        for (i = 0; i < nnbrt_num_inputs(net); ++i) {
            nnbrt_input_size(net, i, &e);
            in_bytes += e * sizeof(float);
        }
        CHECK(need_ext < need && need_ext + in_bytes <= need && need - need_ext <= in_bytes + 64u * (size_t)nnbrt_num_inputs(net));
        a2 = malloc(need_ext);
        CHECK(nnbrt_init_flags(&n2, img, len, a2, need_ext - 1, NNBRT_EXTERNAL_INPUTS) == NNBRT_E_ARENA_TOO_SMALL);
        CHECK(nnbrt_init_flags(&n2, img, len, a2, need_ext, NNBRT_EXTERNAL_INPUTS) == NNBRT_OK);
        CHECK(nnbrt_run(n2) == NNBRT_E_NULL_ARG); /* inputs not set */
        CHECK(nnbrt_set_input(n2, nnbrt_num_inputs(n2), first) == NNBRT_E_BAD_INDEX);
        CHECK(nnbrt_set_input(n2, 0, NULL) == NNBRT_E_NULL_ARG);
        for (i = 0; i < nnbrt_num_inputs(n2); ++i) {
            CHECK(nnbrt_input(net, i, &x, NULL, NULL) == NNBRT_OK);
            CHECK(nnbrt_set_input(n2, i, x) == NNBRT_OK);
        }
        CHECK(nnbrt_run(n2) == NNBRT_OK);
        nnbrt_output(n2, 0, &d2, NULL, NULL);
        nnbrt_output_size(n2, 0, &e);
        CHECK(memcmp(first, d2, e * sizeof(float)) == 0);
        free(a2);
    }
    /* Library never writes the image. */
    copy = read_file(path, &len);
    CHECK(memcmp(copy, img, len) == 0);
    /* Misaligned image rejected. */
    memmove(copy + 1, copy, len);
    CHECK(nnbrt_arena_size(copy + 1, len, &need) == NNBRT_E_MISALIGNED);
    /* Every truncation fails cleanly. */
    {
        size_t cut;
        for (cut = 0; cut < len && cut < 256; ++cut) {
            uint8_t *t = malloc(cut + 1);
            memcpy(t, img, cut);
            CHECK(nnbrt_arena_size(t, cut, &need) != NNBRT_OK);
            free(t);
        }
    }
    free(copy);
    free(first);
    free(arena);
    free(img);
}

/* ---- hostile edits of a real model (lenet) ---- */
static uint32_t g32(const uint8_t *b, size_t o) { uint32_t v; memcpy(&v, b + o, 4); return v; }
static void p32(uint8_t *b, size_t o, uint32_t v) { memcpy(b + o, &v, 4); }
/* byte offset of chunk k */
static size_t chunk_off(const uint8_t *b, uint32_t k) { return 56 + 4 * (size_t)g32(b, 48) + g32(b, 56 + 4 * (size_t)k); }
static size_t var_rec(const uint8_t *b, uint32_t v) { return chunk_off(b, g32(b, chunk_off(b, g32(b, 20)) + 4 * v)); }
static size_t fn_rec(const uint8_t *b, uint32_t f) { return chunk_off(b, g32(b, chunk_off(b, g32(b, 28)) + 4 * f)); }

static nnbrt_status status_of(const uint8_t *img, size_t len, nnbrt_diag *d)
{
    size_t need;
    return nnbrt_arena_size_diag(img, len, &need, d);
}

static void test_hostile(const char *zoo)
{
    char path[4096];
    size_t len, o;
    uint8_t *orig, *b;
    nnbrt_diag d;
    snprintf(path, sizeof path, "%s/lenet.nnb", zoo);
    orig = read_file(path, &len);
    CHECK(orig != NULL);
    if (!orig) return;
    b = malloc(len);
#define RESET() memcpy(b, orig, len)
    RESET();
    CHECK(status_of(b, len, &d) == NNBRT_OK);
    /* function 0 (Convolution) writes into variable 11 (its weight parameter) */
    RESET();
    o = fn_rec(b, 0);
    p32(b, chunk_off(b, g32(b, o + 16)), 11);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_VARIABLE);
    /* unknown function id */
    RESET();
    o = fn_rec(b, 2);
    b[o] = (uint8_t)(300 & 0xff); b[o + 1] = (uint8_t)(300 >> 8);
    CHECK(status_of(b, len, &d) == NNBRT_E_UNSUPPORTED_FUNCTION && d.function_index == 2 && d.function_id == 300);
    /* buffer index out of range and buffer too small */
    RESET();
    o = var_rec(b, 1);
    p32(b, o + 16, (uint32_t)-100);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_BUFFER_REF);
    RESET();
    p32(b, chunk_off(b, g32(b, 12)), 10); /* buffer 0: 10 elements */
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_BUFFER_REF);
    /* zero dimension */
    RESET();
    o = var_rec(b, 1);
    p32(b, chunk_off(b, g32(b, o + 8)) + 4, 0);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_SHAPE);
    /* stride 0 in the first convolution: stride list {count, chunk} at record+32 */
    RESET();
    o = fn_rec(b, 0);
    p32(b, chunk_off(b, g32(b, o + 36)), 0);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_ARGUMENT);
    /* stride 2 gives an output shape inconsistent with the recorded one */
    RESET();
    p32(b, chunk_off(b, g32(b, o + 36)), 2);
    CHECK(status_of(b, len, &d) == NNBRT_E_SHAPE_MISMATCH);
    /* parameter data chunk too small: point weight 11 at the shape chunk of var 0 */
    RESET();
    p32(b, var_rec(b, 11) + 16, g32(b, var_rec(b, 0) + 8));
    {
        nnbrt_status st = status_of(b, len, &d);
        CHECK(st == NNBRT_E_BAD_DATA_SIZE);
    }
    /* wrong input count for ReLU (function 2): 2 inputs */
    RESET();
    p32(b, fn_rec(b, 2) + 4, 2);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_IO_COUNT);
    /* SIGN on a buffer (the input; SIGN parameters are supported), and an unknown type */
    RESET();
    b[var_rec(b, 0) + 12] = 3;
    CHECK(status_of(b, len, &d) == NNBRT_E_UNSUPPORTED_TYPE);
    RESET();
    b[var_rec(b, 12) + 12] = 6;
    CHECK(status_of(b, len, &d) == NNBRT_E_UNSUPPORTED_TYPE);
    /* misaligned index entry; decreasing index entries */
    RESET();
    p32(b, 60, g32(b, 60) + 2);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_OFFSET);
    RESET();
    p32(b, 64, 0);
    CHECK(status_of(b, len, &d) == NNBRT_E_BAD_OFFSET);
    /* version 3: buffer sizes in bytes; outputs identical to version 2 */
    {
        uint8_t *a2 = NULL, *a3 = NULL;
        size_t n2, n3, nb = g32(orig, 8), k, e;
        nnbrt_net *net2, *net3;
        float *i2, *i3, *o2, *o3;
        RESET();
        p32(b, 0, 3);
        for (k = 0; k < nb; ++k) {
            size_t bo = chunk_off(b, g32(b, 12)) + 4 * k;
            p32(b, bo, g32(b, bo) * 4);
        }
        CHECK(nnbrt_arena_size(orig, len, &n2) == NNBRT_OK);
        CHECK(nnbrt_arena_size(b, len, &n3) == NNBRT_OK && n3 == n2);
        a2 = malloc(n2);
        a3 = malloc(n3);
        CHECK(nnbrt_init(&net2, orig, len, a2, n2) == NNBRT_OK);
        CHECK(nnbrt_init(&net3, b, len, a3, n3) == NNBRT_OK);
        nnbrt_input(net2, 0, &i2, NULL, NULL);
        nnbrt_input(net3, 0, &i3, NULL, NULL);
        nnbrt_input_size(net2, 0, &e);
        for (k = 0; k < e; ++k) i2[k] = i3[k] = (float)(k % 17) / 17.0f;
        nnbrt_run(net2);
        nnbrt_run(net3);
        nnbrt_output(net2, 0, &o2, NULL, NULL);
        nnbrt_output(net3, 0, &o3, NULL, NULL);
        nnbrt_output_size(net2, 0, &e);
        CHECK(memcmp(o2, o3, e * sizeof(float)) == 0);
        /* version 3 with element counts is too small */
        p32(b, chunk_off(b, g32(b, 12)), g32(orig, chunk_off(orig, g32(orig, 12))));
        CHECK(status_of(b, len, &d) == NNBRT_E_BAD_BUFFER_REF);
        free(a2);
        free(a3);
    }
#undef RESET
    free(b);
    free(orig);
}

int main(int argc, char **argv)
{
    int i, n = 0;
    size_t need;
    nnbrt_net *net;
    uint32_t hdr[14] = {2, 44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (i = 0; i < NNBRT_STATUS_COUNT; ++i) {
        int j;
        CHECK(nnbrt_status_str((nnbrt_status)i) != NULL);
        for (j = 0; j < i; ++j)
            CHECK(strcmp(nnbrt_status_str((nnbrt_status)i), nnbrt_status_str((nnbrt_status)j)) != 0);
    }
    CHECK(nnbrt_arena_size(NULL, 0, &need) == NNBRT_E_NULL_ARG);
    CHECK(nnbrt_init(NULL, hdr, sizeof hdr, hdr, 0) == NNBRT_E_NULL_ARG);
    CHECK(nnbrt_run(NULL) == NNBRT_E_NULL_ARG);
    CHECK(nnbrt_num_inputs(NULL) == 0);
    /* Empty network: valid. */
    CHECK(nnbrt_arena_size(hdr, sizeof hdr, &need) == NNBRT_OK);
    {
        void *arena = malloc(need);
        CHECK(nnbrt_init(&net, hdr, sizeof hdr, arena, need) == NNBRT_OK);
        CHECK(nnbrt_run(net) == NNBRT_OK);
        free(arena);
    }
    hdr[0] = 4;
    CHECK(nnbrt_arena_size(hdr, sizeof hdr, &need) == NNBRT_E_BAD_VERSION);
    hdr[0] = 3;
    hdr[1] = 45;
    CHECK(nnbrt_arena_size(hdr, sizeof hdr, &need) == NNBRT_E_API_LEVEL);
    hdr[1] = 44;
    hdr[12] = 1; /* one chunk but no index table */
    CHECK(nnbrt_arena_size(hdr, sizeof hdr, &need) == NNBRT_E_TRUNCATED);
    hdr[12] = 0;
    hdr[4] = 1; /* one variable, list in chunk 0 that does not exist */
    CHECK(nnbrt_arena_size(hdr, sizeof hdr, &need) == NNBRT_E_BAD_CHUNK_INDEX);

    if (argc > 1) test_hostile(argv[1]);
    if (argc > 1) {
        DIR *dir = opendir(argv[1]);
        struct dirent *de;
        CHECK(dir != NULL);
        while (dir && (de = readdir(dir)) != NULL) {
            size_t l = strlen(de->d_name);
            char path[4096];
            if (l < 5 || strcmp(de->d_name + l - 4, ".nnb")) continue;
            snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
            test_model(path);
            ++n;
        }
        if (dir) closedir(dir);
    }
    printf("test_api: %d models, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
