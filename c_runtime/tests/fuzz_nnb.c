/* Seeded mutation fuzzer for the NNB loader and kernels (no libFuzzer).
 *   fuzz_nnb [-n ITERS] [-s SEED] [-m MAX_SEED_BYTES] [-w MAX_WORK] [-a MAX_ARENA] seed.nnb...
 * Each iteration copies a seed into an exactly sized heap block, applies 1-4
 * random mutations (bit flips, byte sets, u32 fields set to boundary values,
 * header fields, index-table entries and chunk-index swaps, truncation),
 * then calls nnbrt_arena_size / nnbrt_init (exactly sized arena) / nnbrt_run.
 * Build it with sanitizers: any out-of-bounds access aborts. Seeds larger
 * than MAX_SEED_BYTES are skipped; mutants whose arena or work estimate
 * exceeds the limits are validated but not run. */
#include "nnbrt.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
#include "fuzz_common.h"

static uint32_t boundary(uint32_t old)
{
    static const uint32_t v[] = {0, 1, 2, 3, 4, 5, 7, 8, 0xffffffffu, 0xfffffffeu, 0x7fffffffu,
                                 0x80000000u, 0x0000ffffu, 0x00010000u, 0x40000000u, 0x3fffffffu,
                                 0x20000000u, 0xfffffff0u, 100, 255, 256, 1000};
    switch (below(4)) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return below(64);
    default: return v[below(sizeof v / sizeof v[0])];
    }
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Mutate buf (len bytes); may shrink *len. */
static void mutate(uint8_t *buf, size_t *len)
{
    size_t n = *len;
    uint32_t nchunks = n >= 56 ? get32(buf + 48) : 0;
    /* start of the data area (after the index table), or 56 if nonsense */
    size_t dstart = (n >= 56 && nchunks < (n - 56) / 4) ? 56 + 4 * (size_t)nchunks : 56;
    /* weights (of 100): bit 14, byte 10, u32 14, truncate 4, header 8,
       index-table swap 2, index value 3, data-area small int 25, float 10,
       chunk-reference retarget 10 */
    static const uint8_t cum[10] = {14, 24, 38, 42, 50, 52, 55, 80, 90, 100};
    uint32_t r = below(100), kind = 0;
    if (n == 0) return;
    while (r >= cum[kind]) ++kind;
    switch (kind) {
    case 0: buf[below((uint32_t)n)] ^= (uint8_t)(1u << below(8)); break;
    case 1: buf[below((uint32_t)n)] = (uint8_t)rnd(); break;
    case 2: if (n >= 4) { size_t o = below((uint32_t)(n / 4)) * 4; put32(buf + o, boundary(get32(buf + o))); } break;
    case 3: *len = below((uint32_t)n); break;
    case 4: if (n >= 56) { size_t o = below(14) * 4; put32(buf + o, boundary(get32(buf + o))); } break;
    case 5: /* swap two index-table entries */
        if (n >= 56 && nchunks > 1 && nchunks < (n - 56) / 4) {
            size_t a = 56 + 4 * (size_t)below(nchunks), b = 56 + 4 * (size_t)below(nchunks);
            uint32_t t = get32(buf + a);
            put32(buf + a, get32(buf + b));
            put32(buf + b, t);
        }
        break;
    case 6: /* index entry to boundary */
        if (n >= 56 && nchunks > 0 && nchunks < (n - 56) / 4) {
            size_t a = 56 + 4 * (size_t)below(nchunks);
            put32(buf + a, boundary(get32(buf + a)));
        }
        break;
    case 7: /* small int inside the data area: chunk numbers, counts, ids, dims */
        if (n >= dstart + 4) { size_t o = dstart + below((uint32_t)((n - dstart) / 4)) * 4; put32(buf + o, below(2) ? below(40) : boundary(get32(buf + o))); }
        break;
    case 8: /* a float argument or parameter */
        if (n >= dstart + 4) {
            static const float fv[] = {-0.0f, 1e30f, -1e30f, 0.5f, 2.0f, 1e-40f};
            size_t o = dstart + below((uint32_t)((n - dstart) / 4)) * 4;
            memcpy(buf + o, &fv[below(6)], 4);
        }
        break;
    default: /* chunk-index swap: retarget a value that looks like a chunk number */
        if (n >= 60 && nchunks > 1 && nchunks < (n - 56) / 4) {
            size_t base = 56 + 4 * (size_t)nchunks, tries;
            for (tries = 0; tries < 16 && base + 4 <= n; ++tries) {
                size_t o = base + 4 * (size_t)below((uint32_t)((n - base) / 4));
                if (get32(buf + o) < nchunks) {
                    put32(buf + o, below(nchunks));
                    break;
                }
            }
        }
        break;
    }
}


typedef struct { uint8_t *data; size_t len; const char *path; } seed_t;

int main(int argc, char **argv)
{
    long iters = 1000, i;
    size_t max_seed = 131072, max_arena = 8u << 20;
    uint64_t max_work = 4000000, seed = 1;
    seed_t seeds[256];
    int nseeds = 0, a;
    long n_valid = 0, n_run = 0, n_skipped = 0, hist[NNBRT_STATUS_COUNT] = {0};
    clock_t t0 = clock();
    for (a = 1; a < argc; ++a) {
        if (!strcmp(argv[a], "-n") && a + 1 < argc) iters = atol(argv[++a]);
        else if (!strcmp(argv[a], "-s") && a + 1 < argc) seed = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-m") && a + 1 < argc) max_seed = (size_t)atol(argv[++a]);
        else if (!strcmp(argv[a], "-w") && a + 1 < argc) max_work = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-a") && a + 1 < argc) max_arena = (size_t)atol(argv[++a]);
        else if (nseeds < 256) {
            const int r = read_seed(argv[a], max_seed, &seeds[nseeds].data, &seeds[nseeds].len);
            if (r == -1) { fprintf(stderr, "fuzz_nnb: cannot open %s\n", argv[a]); return 1; }
            if (r == -2) return 1;
            if (r == 1) seeds[nseeds++].path = argv[a];
        }
    }
    if (nseeds == 0) { fprintf(stderr, "fuzz_nnb: no usable seed files\n"); return 1; }
    rng_state ^= seed * 0x9e3779b97f4a7c15ull + 1;
    for (i = 0; i < iters; ++i) {
        const seed_t *s = &seeds[below((uint32_t)nseeds)];
        size_t len = s->len, need = 0;
        uint8_t *img;
        int m, nm = below(2) ? 1 : 1 + (int)below(4); /* half the mutants carry one edit */
        nnbrt_status st;
        img = malloc(len);
        if (!img) return 1;
        memcpy(img, s->data, len);
        for (m = 0; m < nm; ++m) mutate(img, &len);
        if (len < s->len) { /* shrink the block so ASan sees the real end */
            uint8_t *t = malloc(len ? len : 1);
            if (!t) return 1;
            memcpy(t, img, len);
            free(img);
            img = t;
        }
        st = nnbrt_arena_size(img, len, &need);
        if ((int)st >= 0 && st < NNBRT_STATUS_COUNT) ++hist[st];
        if (st == NNBRT_OK) {
            ++n_valid;
            if (need > max_arena) {
                ++n_skipped;
            } else {
                void *arena = malloc(need);
                nnbrt_net *net = NULL;
                nnbrt_diag diag;
                if (!arena) return 1;
                if (nnbrt_init(&net, img, len, arena, need - 1) != NNBRT_E_ARENA_TOO_SMALL) {
                    fprintf(stderr, "fuzz_nnb: arena_len-1 not rejected (iteration %ld)\n", i);
                    return 1;
                }
                st = nnbrt_init_diag(&net, img, len, arena, need, &diag);
                if (st == NNBRT_E_READ_BEFORE_WRITE || st == NNBRT_E_LIVE_OVERLAP ||
                    (st != NNBRT_OK && st != NNBRT_E_ARENA_TOO_SMALL && fn_io(img, len, diag.function_index) > 8)) {
                    /* data-flow checks, and the kernel checks of functions of more than
                       8 inputs + outputs, run in nnbrt_init only (they need the arena) */
                    ++hist[st];
                    --n_valid;
                    free(arena);
                    free(img);
                    continue;
                }
                if (st != NNBRT_OK) {
                    fprintf(stderr, "fuzz_nnb: arena_size ok but init failed: %s (iteration %ld)\n",
                            nnbrt_status_str(st), i);
                    return 1;
                }
                if (nnbrt_work_estimate(net) > max_work) {
                    ++n_skipped;
                } else {
                    int k;
                    fill_inputs(net);
                    if (nnbrt_run(net) != NNBRT_OK) return 1;
                    for (k = 0; k < nnbrt_num_outputs(net); ++k) {
                        float *d;
                        size_t e, j;
                        volatile float sink = 0;
                        nnbrt_output(net, k, &d, NULL, NULL);
                        nnbrt_output_size(net, k, &e);
                        for (j = 0; j < e; ++j) sink += d[j];
                        (void)sink;
                    }
                    ++n_run;
                }
                free(arena);
            }
        }
        free(img);
    }
    for (a = 0; a < nseeds; ++a) free(seeds[a].data);
    for (a = 0; a < NNBRT_STATUS_COUNT; ++a)
        if (hist[a]) printf("  %-48s %ld\n", nnbrt_status_str((nnbrt_status)a), hist[a]);
    printf("fuzz_nnb: %ld iterations over %d seeds: %ld valid mutants, %ld run, %ld skipped (limits), %.1f s\n",
           iters, nseeds, n_valid, n_run, n_skipped, (double)(clock() - t0) / CLOCKS_PER_SEC);
    return 0;
}
