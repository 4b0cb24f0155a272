#define _POSIX_C_SOURCE 200809L
/* Field-aware NNB mutator for the loader (beside the byte-level fuzz_nnb.c).
 *   fuzz_fields [-n ITERS] [-s SEED] [-w MAX_WORK] [-a MAX_ARENA] [-m MAX_SEED_BYTES] seed.nnb...
 *   fuzz_fields --dump DIR -n N [-s SEED] seed.nnb...   (write N mutants, run nothing)
 *   fuzz_fields --oracle FILE...   (the oracle's verdict on each file; exit 1 if one is bad)
 *
 * Each seed is parsed into its fields (header, extended header, index table,
 * the lists, variable and function records, argument bytes, the plan and the
 * quant descriptors). A mutant changes 1-3 fields by kind: a header or
 * index word, a list length, a variable's ndim/dims/type/data index, a dim,
 * a function's type/io counts/io ids/arguments, the function order (swap or
 * reverse two records), aliasing (an output id set to one of the function's
 * inputs, an extended plan offset set to another tensor's, a v2/v3 buffer
 * shared), a plan entry, a quant descriptor word, a network input/output id.
 * Then nnbrt_arena_size / nnbrt_init / nnbrt_run, under ASan/UBSan.
 *
 * Semantic oracle: for every mutant the loader accepts, an independent
 * reading of the file (this program's own parser) checks the data flow the
 * loader promises: every tensor read was written earlier in file order (or
 * is a parameter or network input), every network output is written, no
 * function writes a parameter or a network input, a function's output
 * shares storage with one of its inputs only as an exact alias of an
 * elementwise/Reshape kernel (FusedConv: its own rules, not re-derived
 * here), and no function writes over a tensor still to be read. An accepted
 * mutant breaking one of these is a "wrong-but-accepted" corruption: exit 1.
 */
#include "../src/internal.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
#include "fuzz_common.h"

static uint32_t get32(const uint8_t *b, size_t len, size_t off)
{
    uint32_t v = 0;
    if (off <= len && len - off >= 4) memcpy(&v, b + off, 4);
    return v;
}
static void put32(uint8_t *b, size_t len, size_t off, uint32_t v)
{
    if (off <= len && len - off >= 4) memcpy(b + off, &v, 4);
}

/* ---- an NNB file read field by field (bounds-checked: mutants too) ---- */
typedef struct {
    const uint8_t *b;
    size_t len, hdr, data;
    uint32_t h[14], e[8];
    int ext;
} nnb_t;

static int nnb_open(nnb_t *f, const uint8_t *b, size_t len)
{
    uint32_t i;
    memset(f, 0, sizeof *f);
    f->b = b;
    f->len = len;
    if (len < 56) return 0;
    for (i = 0; i < 14; ++i) f->h[i] = get32(b, len, 4u * i);
    f->ext = f->h[0] == 1001;
    f->hdr = f->ext ? 88 : 56;
    if (len < f->hdr) return 0;
    for (i = 0; f->ext && i < 8; ++i) f->e[i] = get32(b, len, 56u + 4u * i);
    if (f->h[12] > (len - f->hdr) / 4) return 0;
    f->data = f->hdr + 4u * (size_t)f->h[12];
    return 1;
}

/* Byte offset of chunk c (SIZE_MAX if none). */
static size_t chunk_off(const nnb_t *f, int64_t c)
{
    size_t o;
    if (c < 0 || (uint64_t)c >= f->h[12]) return SIZE_MAX;
    o = f->data + get32(f->b, f->len, f->hdr + 4u * (size_t)c);
    return o < f->len ? o : SIZE_MAX;
}

/* Offset of element k of the {size, chunk} list at header word w (SIZE_MAX if outside). */
static size_t list_elem(const nnb_t *f, int64_t chunk, uint32_t k)
{
    size_t o = chunk_off(f, chunk);
    if (o == SIZE_MAX || (f->len - o) / 4 <= k) return SIZE_MAX;
    return o + 4u * k;
}

static int32_t rd(const nnb_t *f, size_t off) { return (int32_t)get32(f->b, f->len, off); }

/* Variable record offset (SIZE_MAX if none). */
static size_t var_rec(const nnb_t *f, uint32_t v)
{
    size_t e = list_elem(f, (int32_t)f->h[5], v), o;
    if (e == SIZE_MAX) return SIZE_MAX;
    o = chunk_off(f, rd(f, e));
    return o != SIZE_MAX && f->len - o >= 20 ? o : SIZE_MAX;
}
static size_t fn_rec(const nnb_t *f, uint32_t i)
{
    size_t e = list_elem(f, (int32_t)f->h[7], i), o;
    if (e == SIZE_MAX) return SIZE_MAX;
    o = chunk_off(f, rd(f, e));
    return o != SIZE_MAX && f->len - o >= 20 ? o : SIZE_MAX;
}

/* ---- mutations by field ---- */
static uint32_t boundary(uint32_t old)
{
    static const uint32_t v[] = {0, 1, 2, 3, 4, 7, 8, 64, 255, 256, 1000, 0x7fffffffu, 0x80000000u,
                                 0xffffffffu, 0xfffffffeu, 0x10000u, 0x3fffffffu, 0x40000000u, 1000000000u};
    switch (below(4)) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return below(40);
    default: return v[below((uint32_t)(sizeof v / sizeof v[0]))];
    }
}

enum { M_HEADER, M_INDEX, M_COUNT, M_VAR, M_DIM, M_FN, M_IOID, M_ARG, M_ORDER, M_ALIAS, M_PLAN, M_QUANT,
       M_NETIO, M_KINDS };
static const char *const kind_name[M_KINDS] = {"header", "index", "list length", "variable record", "dim",
                                               "function record", "function io id", "argument", "order",
                                               "alias", "plan", "quant descriptor", "network io"};

/* Mutate b in place (length fixed); returns the kind applied. */
static int mutate(uint8_t *b, size_t len)
{
    nnb_t f;
    const int kind = (int)below(M_KINDS);
    uint32_t nv, nf;
    if (!nnb_open(&f, b, len)) {
        put32(b, len, 4u * below(14), boundary(get32(b, len, 0)));
        return M_HEADER;
    }
    nv = f.h[4];
    nf = f.h[6];
    switch (kind) {
    case M_HEADER:
        if (f.ext && below(2)) {
            const uint32_t w = below(8);
            put32(b, len, 56u + 4u * w, boundary(f.e[w]));
        } else {
            const uint32_t w = below(14);
            put32(b, len, 4u * w, boundary(f.h[w]));
        }
        break;
    case M_INDEX:
        if (f.h[12]) {
            const uint32_t c = below(f.h[12]);
            const uint32_t other = get32(b, len, f.hdr + 4u * below(f.h[12]));
            put32(b, len, f.hdr + 4u * c, below(2) ? other : boundary(get32(b, len, f.hdr + 4u * c)));
        }
        break;
    case M_COUNT: { /* a list's length (buffers, variables, functions, inputs, outputs) */
        const uint32_t w = 2u * below(5);
        put32(b, len, 4u * w, below(2) ? f.h[w] + 1u - 2u * below(2) : boundary(f.h[w]));
        break;
    }
    case M_VAR: {
        size_t r = nv ? var_rec(&f, below(nv)) : SIZE_MAX;
        if (r == SIZE_MAX) break;
        switch (below(5)) {
        case 0: put32(b, len, r + 4, boundary(get32(b, len, r + 4))); break;          /* ndim */
        case 1: put32(b, len, r + 8, below(f.h[12] + 1)); break;                         /* dims chunk */
        case 2: b[r + 12] = (uint8_t)(below(2) ? below(8) : (below(16) << 4) | (b[r + 12] & 15)); break;
        case 3: { /* data index: another variable's, a buffer, -1, a chunk */
            size_t r2 = var_rec(&f, below(nv));
            const int32_t opts[4] = {r2 != SIZE_MAX ? rd(&f, r2 + 16) : -1, -1 - (int32_t)below(f.h[2] + 2),
                                     (int32_t)below(f.h[12] + 1), (int32_t)boundary((uint32_t)rd(&f, r + 16))};
            put32(b, len, r + 16, (uint32_t)opts[below(4)]);
            break;
        }
        default: put32(b, len, r, boundary(get32(b, len, r))); break;                  /* id */
        }
        break;
    }
    case M_DIM: {
        size_t r = nv ? var_rec(&f, below(nv)) : SIZE_MAX, d;
        uint32_t nd;
        if (r == SIZE_MAX) break;
        nd = get32(b, len, r + 4);
        d = nd ? list_elem(&f, rd(&f, r + 8), below(nd > 8 ? 8 : nd)) : SIZE_MAX;
        if (d == SIZE_MAX) break;
        put32(b, len, d, below(3) ? boundary(get32(b, len, d)) : get32(b, len, d) * (2u + below(3)));
        break;
    }
    case M_FN: {
        size_t r = nf ? fn_rec(&f, below(nf)) : SIZE_MAX;
        if (r == SIZE_MAX) break;
        switch (below(4)) {
        case 0: { /* another function's type, or a nearby id */
            size_t r2 = fn_rec(&f, below(nf));
            const uint16_t t = r2 != SIZE_MAX && below(2) ? (uint16_t)get32(b, len, r2)
                                                          : (uint16_t)(get32(b, len, r) + below(5) - 2u);
            memcpy(b + r, &t, 2);
            break;
        }
        case 1: put32(b, len, r + 4, get32(b, len, r + 4) + 1u - 2u * below(2)); break; /* nin */
        case 2: put32(b, len, r + 12, get32(b, len, r + 12) + 1u - 2u * below(2)); break; /* nout */
        default: put32(b, len, r + 4u + 8u * below(2) + 4u, below(f.h[12] + 1)); break;  /* list chunk */
        }
        break;
    }
    case M_IOID: { /* an input or output id of a function -> another variable */
        size_t r = nf ? fn_rec(&f, below(nf)) : SIZE_MAX, e;
        uint32_t which, n;
        if (r == SIZE_MAX) break;
        which = below(2);
        n = get32(b, len, r + 4 + 8 * which);
        e = n ? list_elem(&f, rd(&f, r + 8 + 8 * which), below(n > 64 ? 64 : n)) : SIZE_MAX;
        if (e == SIZE_MAX) break;
        put32(b, len, e, below(8) ? below(nv + 1) : boundary(get32(b, len, e)));
        break;
    }
    case M_ARG: { /* argument bytes after the 20-byte head */
        size_t r = nf ? fn_rec(&f, below(nf)) : SIZE_MAX, o;
        if (r == SIZE_MAX || len - r < 24) break;
        o = r + 20 + 4u * below(8);
        if (below(3)) {
            put32(b, len, o, boundary(get32(b, len, o)));
        } else {
            static const float fv[] = {0.0f, -1.0f, 1e30f, -1e30f, 1e-40f, 0.5f};
            uint32_t u;
            memcpy(&u, &fv[below(6)], 4);
            put32(b, len, o, u);
        }
        break;
    }
    case M_ORDER: { /* swap two function records in the list, or reverse it */
        size_t e0 = list_elem(&f, (int32_t)f.h[7], 0);
        if (nf < 2 || e0 == SIZE_MAX || list_elem(&f, (int32_t)f.h[7], nf - 1) == SIZE_MAX) break;
        if (below(4)) {
            const uint32_t i = below(nf), j = below(nf);
            const uint32_t a = get32(b, len, e0 + 4u * i), c = get32(b, len, e0 + 4u * j);
            put32(b, len, e0 + 4u * i, c);
            put32(b, len, e0 + 4u * j, a);
        } else {
            uint32_t i;
            for (i = 0; i < nf / 2; ++i) {
                const uint32_t a = get32(b, len, e0 + 4u * i), c = get32(b, len, e0 + 4u * (nf - 1 - i));
                put32(b, len, e0 + 4u * i, c);
                put32(b, len, e0 + 4u * (nf - 1 - i), a);
            }
        }
        break;
    }
    case M_ALIAS: { /* a function's output onto one of its inputs' storage */
        size_t r = nf ? fn_rec(&f, below(nf)) : SIZE_MAX, ei, eo;
        uint32_t nin, nout;
        if (r == SIZE_MAX) break;
        nin = get32(b, len, r + 4);
        nout = get32(b, len, r + 12);
        ei = nin ? list_elem(&f, rd(&f, r + 8), below(nin > 64 ? 64 : nin)) : SIZE_MAX;
        eo = nout ? list_elem(&f, rd(&f, r + 16), 0) : SIZE_MAX;
        if (ei == SIZE_MAX || eo == SIZE_MAX) break;
        if (below(2)) {
            put32(b, len, eo, get32(b, len, ei)); /* the same variable */
        } else {
            const uint32_t vi = get32(b, len, ei), vo = get32(b, len, eo);
            if (vi >= nv || vo >= nv) break;
            if (f.ext) { /* plan offset of the output := the input's (+/- a little) */
                size_t pi = list_elem(&f, (int32_t)f.e[3], vi), po = list_elem(&f, (int32_t)f.e[3], vo);
                if (pi != SIZE_MAX && po != SIZE_MAX)
                    put32(b, len, po, get32(b, len, pi) + (below(3) ? 0u : 4u * below(4)));
            } else { /* the output variable in the input's buffer */
                size_t ri = var_rec(&f, vi), ro = var_rec(&f, vo);
                if (ri != SIZE_MAX && ro != SIZE_MAX && rd(&f, ri + 16) < 0) put32(b, len, ro + 16, get32(b, len, ri + 16));
            }
        }
        break;
    }
    case M_PLAN: {
        size_t p, q;
        if (!f.ext || !nv) break;
        p = list_elem(&f, (int32_t)f.e[3], below(nv));
        q = list_elem(&f, (int32_t)f.e[3], below(nv));
        if (p == SIZE_MAX || q == SIZE_MAX) break;
        switch (below(4)) {
        case 0: put32(b, len, p, get32(b, len, q)); break;                      /* share another's offset */
        case 1: put32(b, len, p, get32(b, len, p) + 4u * (below(9) - 4u)); break; /* slide */
        case 2: put32(b, len, p, (uint32_t)-(int32_t)(1 + below(2))); break;     /* -1 param / -2 input */
        default: put32(b, len, p, boundary(get32(b, len, p))); break;
        }
        break;
    }
    case M_QUANT: {
        size_t q, d;
        if (!f.ext || !f.e[5] || !nv) break;
        q = list_elem(&f, (int32_t)f.e[6], below(nv));
        if (q == SIZE_MAX) break;
        d = rd(&f, q) >= 0 ? chunk_off(&f, rd(&f, q)) : SIZE_MAX;
        if (d == SIZE_MAX || below(4) == 0) {
            put32(b, len, q, below(2) ? (uint32_t)-1 : below(f.h[12] + 1));
            break;
        }
        put32(b, len, d + 4u * below(8), boundary(get32(b, len, d + 4u * below(8))));
        break;
    }
    default: { /* network input / output id */
        const uint32_t w = below(2);
        const uint32_t n = f.h[8 + 2 * w];
        size_t e = n ? list_elem(&f, (int32_t)f.h[9 + 2 * w], below(n)) : SIZE_MAX;
        if (e != SIZE_MAX) put32(b, len, e, below(4) ? below(nv + 1) : boundary(get32(b, len, e)));
        break;
    }
    }
    return kind;
}

/* ---- the semantic oracle (on files the loader accepted) ---- */
typedef struct {
    int32_t di, plan; /* data index; extended plan entry */
    uint32_t size;
    uint32_t esz;     /* bytes per value in the arena: 1 for an int8 tensor (type 6), else 4 */
    int priv;         /* private storage (network input/output), or a parameter */
    int32_t first_w, last_r;
} ovar;

#define O_MAX_VARS 4096
static ovar ov[O_MAX_VARS];

static int o_is_in(const nnb_t *f, uint32_t v)
{
    uint32_t k;
    for (k = 0; k < f->h[8]; ++k)
        if ((uint32_t)rd(f, list_elem(f, (int32_t)f->h[9], k)) == v) return 1;
    return 0;
}
static int o_is_out(const nnb_t *f, uint32_t v)
{
    uint32_t k;
    for (k = 0; k < f->h[10]; ++k)
        if ((uint32_t)rd(f, list_elem(f, (int32_t)f->h[11], k)) == v) return 1;
    return 0;
}

/* Storage spans: 0 none; extended 1 + [plan, plan + esz size); v2/v3 2 + buffer, [0, 4 size). */
static int o_overlap(const nnb_t *f, uint32_t a, uint32_t b, int *exact)
{
    const ovar *x = &ov[a], *y = &ov[b];
    *exact = 0;
    if (x->priv || y->priv) return 0;
    if (f->ext) {
        const uint64_t x0 = (uint32_t)x->plan, x1 = x0 + (uint64_t)x->esz * x->size, y0 = (uint32_t)y->plan,
                       y1 = y0 + (uint64_t)y->esz * y->size;
        *exact = x0 == y0 && x->size == y->size && x->esz == y->esz;
        return x0 < y1 && y0 < x1;
    }
    *exact = x->size == y->size;
    return x->di == y->di;
}

static int o_inplace_kernel(uint32_t type)
{
    const nnbrt_entry *e = nnbrt_find_kernel(type);
    if (!e) return 0;
    return e->k->check == nnbrt_check_unary || e->k->check == nnbrt_check_binary || type == 126 || type == 83;
}

/* NULL when the accepted file keeps the promises, else what it breaks. */
static const char *oracle(const uint8_t *b, size_t len)
{
    nnb_t f;
    uint32_t v, i, j, k, nv, nf;
    if (!nnb_open(&f, b, len)) return "accepted file unreadable by the oracle";
    nv = f.h[4];
    nf = f.h[6];
    if (nv > O_MAX_VARS) return NULL; /* larger than any seed: not checked */
    for (v = 0; v < nv; ++v) {
        const size_t r = var_rec(&f, v);
        uint32_t nd = get32(b, len, r + 4), d;
        uint64_t size = 1;
        ov[v].di = rd(&f, r + 16);
        ov[v].plan = f.ext ? rd(&f, list_elem(&f, (int32_t)f.e[3], v)) : 0;
        for (d = 0; d < nd; ++d) size *= (uint32_t)rd(&f, list_elem(&f, rd(&f, r + 8), d));
        ov[v].size = (uint32_t)size;
        ov[v].esz = f.ext && (b[r + 12] & 0x0fu) == 6u ? 1u : 4u; /* the loader's type nibble (decode_var) */
        ov[v].priv = ov[v].di >= 0 || (f.ext ? ov[v].plan == -2 : (o_is_in(&f, v) || o_is_out(&f, v)));
        ov[v].first_w = ov[v].di >= 0 || o_is_in(&f, v) ? -1 : 0x7fffffff;
        ov[v].last_r = -1;
    }
    for (i = 0; i < nf; ++i) {
        const size_t r = fn_rec(&f, i);
        const uint32_t type = get32(b, len, r) & 0xffffu, nin = get32(b, len, r + 4), nout = get32(b, len, r + 12);
        for (j = 0; j < nin; ++j) {
            const uint32_t x = (uint32_t)rd(&f, list_elem(&f, rd(&f, r + 8), j));
            if (ov[x].first_w == 0x7fffffff) return "a tensor is read before any function writes it";
            ov[x].last_r = (int32_t)i;
        }
        for (k = 0; k < nout; ++k) {
            const uint32_t o = (uint32_t)rd(&f, list_elem(&f, rd(&f, r + 16), k));
            if (ov[o].di >= 0 || o_is_in(&f, o)) return "a function writes a parameter or a network input";
            if (ov[o].first_w == 0x7fffffff) ov[o].first_w = (int32_t)i;
            for (j = 0; j < nin + nout; ++j) {
                const uint32_t x = (uint32_t)rd(&f, j < nin ? list_elem(&f, rd(&f, r + 8), j)
                                                            : list_elem(&f, rd(&f, r + 16), j - nin));
                int exact;
                if (j == nin + k || !o_overlap(&f, o, x, &exact)) continue;
                if (type == 1000) continue; /* FusedConv: residual / in-place depthwise rules */
                if (j < nin && exact && o_inplace_kernel(type)) continue;
                return "an output shares storage with an input the kernel cannot work in place on";
            }
        }
    }
    for (k = 0; k < f.h[10]; ++k) {
        const uint32_t o = (uint32_t)rd(&f, list_elem(&f, (int32_t)f.h[11], k));
        if (ov[o].first_w == 0x7fffffff) return "a network output is never written";
        ov[o].last_r = (int32_t)nf;
    }
    for (i = 0; i < nf; ++i) {
        const size_t r = fn_rec(&f, i);
        const uint32_t type = get32(b, len, r) & 0xffffu, nout = get32(b, len, r + 12);
        for (k = 0; k < nout; ++k) {
            const uint32_t o = (uint32_t)rd(&f, list_elem(&f, rd(&f, r + 16), k));
            for (v = 0; v < nv; ++v) {
                int exact;
                if (v == o || !o_overlap(&f, o, v, &exact)) continue;
                if (ov[v].first_w >= (int32_t)i || ov[v].last_r <= (int32_t)i) continue;
                if ((type == 126 || type == 83) && exact) continue; /* a view (the loader checks its input too) */
                return "a function writes over a tensor still to be read";
            }
        }
    }
    return NULL;
}


/* ---- driver ---- */
typedef struct { uint8_t *data; size_t len; } seed_t;

int main(int argc, char **argv)
{
    long iters = 1000, it, accepted = 0, ran = 0, skipped = 0, hist[NNBRT_STATUS_COUNT] = {0};
    long by_kind[M_KINDS] = {0}, kind_ok[M_KINDS] = {0}, unchanged = 0;
    size_t max_seed = 1u << 20, max_arena = 8u << 20;
    uint64_t max_work = 4000000, seed = 1;
    const char *dump = NULL;
    int oracle_only = 0;
    seed_t seeds[256];
    int nseeds = 0, a;
    clock_t t0 = clock();
    for (a = 1; a < argc; ++a) {
        if (!strcmp(argv[a], "-n") && a + 1 < argc) iters = atol(argv[++a]);
        else if (!strcmp(argv[a], "-s") && a + 1 < argc) seed = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-w") && a + 1 < argc) max_work = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "-a") && a + 1 < argc) max_arena = (size_t)atol(argv[++a]);
        else if (!strcmp(argv[a], "-m") && a + 1 < argc) max_seed = (size_t)atol(argv[++a]);
        else if (!strcmp(argv[a], "--dump") && a + 1 < argc) dump = argv[++a];
        else if (!strcmp(argv[a], "--oracle")) oracle_only = 1;
        else if (nseeds < 256) {
            const int r = read_seed(argv[a], max_seed, &seeds[nseeds].data, &seeds[nseeds].len);
            if (r == -1) { fprintf(stderr, "fuzz_fields: cannot open %s\n", argv[a]); return 2; }
            if (r == -2) return 2;
            nseeds += r == 1;
        }
    }
    if (nseeds == 0) { fprintf(stderr, "fuzz_fields: no usable seed files\n"); return 2; }
    if (oracle_only) { /* --oracle FILE...: the oracle's verdict on each file (self-test) */
        int bad = 0;
        for (a = 0; a < nseeds; ++a) {
            const char *why = oracle(seeds[a].data, seeds[a].len);
            printf("%s\n", why ? why : "ok");
            bad |= why != NULL;
        }
        for (a = 0; a < nseeds; ++a) free(seeds[a].data);
        return bad;
    }
    if (dump && mkdir(dump, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "fuzz_fields: cannot create %s\n", dump); return 2; }
    rng_state ^= seed * 0x9e3779b97f4a7c15ull + 7;
    for (it = 0; it < iters; ++it) {
        const seed_t *s = &seeds[below((uint32_t)nseeds)];
        uint8_t *img = malloc(s->len);
        size_t need = 0;
        int m, nm = 1 + (int)(below(4) == 0) + (int)(below(8) == 0), kind = 0;
        nnbrt_status st;
        if (!img) return 2;
        memcpy(img, s->data, s->len);
        for (m = 0; m < nm; ++m) kind = mutate(img, s->len);
        if (!memcmp(img, s->data, s->len)) { /* the mutation found nothing to change */
            ++unchanged;
            free(img);
            continue;
        }
        ++by_kind[kind];
        if (dump) {
            char path[4096];
            FILE *o;
            snprintf(path, sizeof path, "%s/mutant_%06ld.nnb", dump, it);
            o = fopen(path, "wb");
            if (!o || fwrite(img, 1, s->len, o) != s->len) { fprintf(stderr, "fuzz_fields: cannot write %s\n", path); return 2; }
            fclose(o);
            free(img);
            continue;
        }
        st = nnbrt_arena_size(img, s->len, &need);
        if (st == NNBRT_OK && need <= max_arena) {
            void *arena = malloc(need);
            nnbrt_net *net = NULL;
            nnbrt_diag diag;
            if (!arena) return 2;
            st = nnbrt_init_diag(&net, img, s->len, arena, need, &diag);
            if (st != NNBRT_OK && st != NNBRT_E_READ_BEFORE_WRITE && st != NNBRT_E_LIVE_OVERLAP &&
                fn_io(img, s->len, diag.function_index) <= 8) {
                fprintf(stderr, "fuzz_fields: sizing accepted, init refused: %s (iteration %ld)\n",
                        nnbrt_status_str(st), it);
                return 1;
            }
            if (st == NNBRT_OK) {
                const char *bad = oracle(img, s->len);
                ++accepted;
                ++kind_ok[kind];
                if (bad) {
                    FILE *o = fopen("fuzz_fields_wrong.nnb", "wb");
                    if (o) { fwrite(img, 1, s->len, o); fclose(o); }
                    fprintf(stderr, "fuzz_fields: wrong-but-accepted (iteration %ld, %s mutation): %s "
                            "(written to fuzz_fields_wrong.nnb)\n", it, kind_name[kind], bad);
                    return 1;
                }
                if (nnbrt_work_estimate(net) <= max_work) {
                    fill_inputs(net);
                    if (nnbrt_run(net) != NNBRT_OK) return 1;
                    ++ran;
                } else {
                    ++skipped;
                }
            }
            free(arena);
        } else if (st == NNBRT_OK) {
            ++skipped;
        }
        if ((int)st >= 0 && st < NNBRT_STATUS_COUNT) ++hist[st];
        free(img);
    }
    if (dump) {
        printf("fuzz_fields: %ld mutants written to %s\n", iters, dump);
    } else {
        for (a = 0; a < NNBRT_STATUS_COUNT; ++a)
            if (hist[a]) printf("  %-48s %ld\n", nnbrt_status_str((nnbrt_status)a), hist[a]);
        for (a = 0; a < M_KINDS; ++a)
            printf("  mutation %-20s %7ld tried, %6ld accepted\n", kind_name[a], by_kind[a], kind_ok[a]);
        printf("fuzz_fields: %ld iterations over %d seeds (%ld left the file unchanged): %ld accepted "
               "(semantic oracle: 0 wrong), %ld run, %ld skipped (limits), %.1f s\n", iters, nseeds, unchanged,
               accepted, ran, skipped,
               (double)(clock() - t0) / CLOCKS_PER_SEC);
    }
    for (a = 0; a < nseeds; ++a) free(seeds[a].data);
    return 0;
}
