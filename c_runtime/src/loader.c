/* NNB loader: validation, arena layout, init and run. No allocation. */
#include "internal.h"
#include "kernels/fixed_mac.h"
#include "kernels/fixed_fast.h"
#include <math.h>

#define HDR_BYTES 56u
#define EXT_HDR_BYTES 88u
#define EXT_VERSION 1001u
#define EXT_MAGIC 0x58424E4Eu /* "NNBX" */
#define PLAN_PARAM (-1)
#define PLAN_INPUT (-2)
#define ALIGN 64u

/* Kernel scratch in the plan's free space (extended files): each function's scratch goes at the lowest
   64-aligned plan offset where no tensor alive at its step lies, as the emitted C places it, so only what
   does not fit there is added after the tensors; a table of one word per function holds the offsets.
   On by default on 32-bit Arm (microcontrollers, where the arena is the RAM); -DNNBRT_SCRATCH_IN_PLAN=0/1
   chooses. The search reads the image only (no memory, nnbrt_arena_size gives the same figure): about
   variables^2 x functions steps, so files above NNBRT_SCRATCH_PLACE_MAX of those keep one scratch region. */
#ifndef NNBRT_SCRATCH_IN_PLAN
#if defined(__arm__)
#define NNBRT_SCRATCH_IN_PLAN 1
#else
#define NNBRT_SCRATCH_IN_PLAN 0
#endif
#endif
#ifndef NNBRT_SCRATCH_PLACE_MAX
#define NNBRT_SCRATCH_PLACE_MAX (1u << 20)
#endif

/* Helpers that decode records into stack structs are kept out of their
   callers, so the frames under a kernel call (the loader's check pass,
   nnbrt_run_range) stay small: the stack budget is 1 KB on a Cortex-M4
   including the kernels (tools/stack_usage.py, tests/c/test_stack.py). */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* A variable record decoded from the image (on the stack: the runtime keeps
   no variable table; records are decoded again where needed). */
struct nnbrt_var {
    const int32_t *dims;
    int32_t ndim;
    int32_t data_index;
    int32_t plan;     /* extended: arena offset, PLAN_PARAM or PLAN_INPUT; v2/v3: 0 */
    size_t size;
    float *data;      /* float parameter: its values in the image; else NULL */
    const void *q;    /* fixed-point/SIGN parameter: its integers in the image */
    uint8_t type, fp; /* 0 FLOAT, 1 FIXED16, 2 FIXED8, 3 SIGN, 4 LUT, 5 uniform, 6 int8, 7 int32;
                         fixed: value = integer / 2^fp */
    nnbrt_qw qw;      /* types 4/5 (extended files): the packed weight (qw.kind 0 otherwise) */
    int32_t zero;     /* type 6: zero point */
    uint32_t nscale;  /* type 6: number of float64 scales */
    const uint8_t *scale; /* type 6: the scales (in the image) */
};

/* Bytes per value in storage: float (and fixed point/SIGN held as float) 4, int8 1, int32 4. */
#define ESZ(type) ((type) == NNBRT_TYPE_Q8 ? 1u : 4u)

#define IS_FIXED(type) ((type) == 1 || (type) == 2) /* FIXED16, FIXED8 */

/* The image as validated: header and list pointers into it (read in place). */
typedef struct {
    const uint8_t *img;
    size_t len;
    nnbrt_header_info h;
    uint32_t lists[10]; /* raw {size, chunk} pairs of the header */
    const uint8_t *index;  /* index table */
    const uint8_t *data;   /* data area */
    const int32_t *buf_list;
    const int32_t *var_list, *fn_list, *in_ids, *out_ids;
    const int32_t *plan;   /* extended: per-variable arena offsets */
    const int32_t *qlist;  /* extended: per-variable quant descriptor chunk or -1 (NULL: none) */
    uint32_t qsize;        /* extended header word 76 */
    int32_t qchunk;        /* extended header word 80 */
    size_t hdr;            /* header bytes (56 or 88) */
    int ext;               /* extended format (version 1001) */
    int has_fixed;         /* some variable is FIXED16/FIXED8 */
    int staged;            /* some parameter is FIXED16/FIXED8/SIGN: decoded into float staging */
    unsigned flags;        /* NNBRT_EXTERNAL_INPUTS */
    int32_t plan_chunk;
    uint32_t max_io;       /* largest nin + nout of a function */
    float **vdata;         /* per variable: its float storage (NULL while sizing) */
    nnbrt_diag *diag;
    uint64_t work;
    size_t scratch; /* largest kernel scratch (placed in the plan: the most any goes past the tensors) */
    uint32_t *sofs; /* NNBRT_SCRATCH_IN_PLAN: per function, its scratch's plan offset (NULL while sizing) */
    int place;      /* scratch placed in the plan (NNBRT_SCRATCH_IN_PLAN, extended, small enough) */
#ifdef NNBRT_PREPARE
    size_t persist;    /* load-time regions (each 64-aligned), without their table */
    uint32_t npersist; /* functions with a region */
#endif
} ctx_t;

/* A function record as read from the image. */
typedef struct {
    const nnbrt_kernel *k;
    const char *code;     /* argument code */
    int32_t rec;          /* record chunk */
    uint32_t type, nin, nout;
    const int32_t *ins, *outs;
} fn_t;

/* The network in the caller's arena: the image view, one data pointer per
   variable, and the working set of the function being run (its decoded
   arguments and max_io tensors). Function records, shapes and arguments
   are read from the image (flash on a microcontroller). */
struct nnbrt_net {
    ctx_t c;
    fn_t f;             /* the function being run */
    nnbrt_args args;
    nnbrt_tensor *tens; /* max_io entries */
    nnbrt_qw *qw;       /* the packed weight of the function being run */
    float *scratch;
    uint8_t *plan;      /* the tensor plan (base of the scratch offsets c.sofs) */
    nnbrt_arena_info arena;
#ifdef NNBRT_PREPARE
    const uint32_t *ptab; /* npersist pairs {function index, byte offset from ptab} */
    size_t packed;        /* bytes of table + regions in the arena */
#endif
};

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int32_t rdi32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int add_sz(size_t *acc, size_t n)
{
    if (*acc > SIZE_MAX - n) return 0;
    *acc += n;
    return 1;
}

static int add_aligned(size_t *acc, size_t n)
{
    size_t r;
    if (!add_sz(acc, n)) return 0;
    r = *acc % ALIGN;
    return r == 0 || add_sz(acc, ALIGN - r);
}

static int add_array(size_t *acc, size_t n, size_t elem)
{
    if (n != 0 && elem > SIZE_MAX / n) return 0;
    return add_aligned(acc, n * elem);
}

/* Pointer to `bytes` bytes of chunk `chunk`. */
static nnbrt_status chunk_ptr(const ctx_t *c, int32_t chunk, size_t bytes, const uint8_t **p)
{
    uint32_t off, end;
    if (chunk < 0 || (uint32_t)chunk >= c->h.num_of_data) return NNBRT_E_BAD_CHUNK_INDEX;
    /* offsets are validated non-decreasing: a chunk ends where the next begins */
    off = rd32(c->index + 4u * (uint32_t)chunk);
    end = (uint32_t)chunk + 1u < c->h.num_of_data ? rd32(c->index + 4u * ((uint32_t)chunk + 1u))
                                                  : c->h.data_size;
    if (bytes > (size_t)(end - off)) return NNBRT_E_BAD_LIST_LENGTH;
    *p = c->data + off;
    return NNBRT_OK;
}

/* A {size, chunk} list of int32. size 0 yields NULL without looking at chunk. */
static nnbrt_status list_ptr(const ctx_t *c, uint32_t size, int32_t chunk, const int32_t **p)
{
    const uint8_t *q;
    nnbrt_status st;
    *p = NULL;
    if (size == 0) return NNBRT_OK;
    if (size > 0x3fffffffu) return NNBRT_E_BAD_LIST_LENGTH;
    st = chunk_ptr(c, chunk, (size_t)size * 4u, &q);
    if (st != NNBRT_OK) return st;
    *p = (const int32_t *)(const void *)q; /* 4-aligned: image and offsets are */
    return NNBRT_OK;
}

static nnbrt_status parse_header(ctx_t *c)
{
    uint32_t hv[14], i, n;
    size_t need;
    if ((uintptr_t)c->img % 4u) return NNBRT_E_MISALIGNED;
    if (c->len < HDR_BYTES) return NNBRT_E_TRUNCATED;
    for (i = 0; i < 14; ++i) hv[i] = rd32(c->img + 4u * i);
    c->h.version = hv[0];
    c->h.api_level = hv[1];
    if (hv[0] != 2 && hv[0] != 3 && hv[0] != EXT_VERSION) return NNBRT_E_BAD_VERSION;
    if (hv[1] > NNBRT_MAX_API_LEVEL) return NNBRT_E_API_LEVEL;
    c->hdr = HDR_BYTES;
    if (hv[0] == EXT_VERSION) {
        uint32_t e[8];
        if (c->len < EXT_HDR_BYTES) return NNBRT_E_TRUNCATED;
        for (i = 0; i < 8; ++i) e[i] = rd32(c->img + HDR_BYTES + 4u * i);
        if (e[0] != EXT_MAGIC) return NNBRT_E_BAD_VERSION;
        /* flags: bit 0 (external inputs) must be set; word 84 is reserved (0);
           words 76/80: quant descriptor list (0, 0 when none) */
        if (e[4] != 1u || e[7]) return NNBRT_E_BAD_VERSION;
        if (e[5] == 0 && e[6] != 0) return NNBRT_E_BAD_QUANT;
        c->qsize = e[5];
        c->qchunk = (int32_t)e[6];
        if (e[1] % 4u || e[1] > 0x7fffffffu) return NNBRT_E_BAD_PLAN;
        c->ext = 1;
        c->hdr = EXT_HDR_BYTES;
        c->h.arena_bytes = e[1];
        c->h.plan_size = e[2];
        c->plan_chunk = (int32_t)e[3];
    }
    for (i = 0; i < 10; ++i) c->lists[i] = hv[2 + i];
    c->h.num_buffers = hv[2];
    c->h.num_variables = hv[4];
    c->h.num_functions = hv[6];
    c->h.num_inputs = hv[8];
    c->h.num_outputs = hv[10];
    c->h.num_of_data = n = hv[12];
    c->h.data_size = hv[13];
    if (n > (c->len - c->hdr) / 4u) return NNBRT_E_TRUNCATED;
    need = c->hdr + (size_t)n * 4u;
    if (c->h.data_size > c->len - need) return NNBRT_E_TRUNCATED;
    c->index = c->img + c->hdr;
    c->data = c->img + need;
    for (i = 0; i < n; ++i) {
        uint32_t off = rd32(c->index + 4u * i);
        if (off > c->h.data_size || off % 4u) return NNBRT_E_BAD_OFFSET;
        if (i > 0 && off < rd32(c->index + 4u * (i - 1))) return NNBRT_E_BAD_OFFSET;
    }
    return NNBRT_OK;
}

/* Quant descriptor (8 words) in chunk `qc` of a type-4/5 parameter of `n`
   codes whose data chunk is `di`: every field checked against the doc. */
static nnbrt_status decode_qdesc(const ctx_t *c, int32_t qc, uint32_t type, size_t n, int32_t di,
                                 nnbrt_qw *q)
{
    const uint8_t *d, *w;
    uint32_t kind, bits, count, kind_s, k;
    int32_t tchunk, shift, mult;
    float step;
    uint64_t nbits, nwords;
    if (chunk_ptr(c, qc, 32, &d) != NNBRT_OK) return NNBRT_E_BAD_QUANT;
    kind = rd32(d);
    bits = rd32(d + 4);
    count = rd32(d + 8);
    tchunk = rdi32(d + 12);
    memcpy(&step, d + 16, 4);
    kind_s = rd32(d + 20);
    shift = rdi32(d + 24);
    mult = rdi32(d + 28);
    if (kind != type) return NNBRT_E_BAD_QUANT;
    q->kind = kind;
    q->bits = bits;
    q->table = NULL;
    q->step = 0.0f;
    q->K = 0;
    if (kind == 4) {
        const uint8_t *t;
        if (bits < 1 || bits > 8 || count < 1 || count > (1u << bits)) return NNBRT_E_BAD_QUANT;
        if (step != 0.0f || kind_s || shift || mult) return NNBRT_E_BAD_QUANT;
        if (chunk_ptr(c, tchunk, (size_t)count * 4u, &t) != NNBRT_OK) return NNBRT_E_BAD_QUANT;
        q->table = (const float *)(const void *)t;
        for (k = 0; k < count; ++k)
            if ((rd32(t + 4u * k) & 0x7f800000u) == 0x7f800000u) return NNBRT_E_BAD_QUANT; /* inf/nan */
        q->K = count;
    } else {
        /* step = M 2^(e-24) with the 24-bit integer mantissa M normalised to
           [2^23, 2^24) (frexp: m = M / 2^24 in [0.5, 1)); from the bits, no libm */
        const uint32_t sb = rd32(d + 16), ef = (sb >> 23) & 0xffu;
        uint32_t mant = sb & 0x7fffffu;
        int32_t e;
        if (bits < 2 || bits > 8 || count != 0 || tchunk != -1) return NNBRT_E_BAD_QUANT;
        if ((sb >> 31) || ef == 0xffu || (ef == 0 && mant == 0)) return NNBRT_E_BAD_QUANT; /* > 0, finite */
        if (ef) {
            mant |= 0x800000u;
            e = (int32_t)ef - 126;
        } else { /* subnormal: value = mant 2^-149 */
            e = -125;
            while (!(mant & 0x800000u)) {
                mant <<= 1;
                --e;
            }
        }
        if (mant == 0x800000u) { /* m = 0.5: a power of two, 2^(e-1) */
            if (kind_s != 1 || shift != e - 1 || mult != 0) return NNBRT_E_BAD_QUANT;
        } else { /* Q31 multiplier m 2^31 = M 2^7 */
            if (kind_s != 2 || shift != e || (uint32_t)mult != mant << 7) return NNBRT_E_BAD_QUANT;
        }
        q->step = step;
    }
    /* data chunk: ceil(n * bits / 32) words, unused high bits of the last word 0 */
    nbits = (uint64_t)n * bits;
    nwords = (nbits + 31u) / 32u;
    if (chunk_ptr(c, di, (size_t)nwords * 4u, &w) != NNBRT_OK) return NNBRT_E_BAD_DATA_SIZE;
    q->words = (const uint32_t *)(const void *)w;
    if (nbits % 32u && (q->words[nwords - 1] >> (nbits % 32u)) != 0) return NNBRT_E_BAD_QUANT;
    return NNBRT_OK;
}

/* Every LUT code < K (checked once, at load). */
static int lut_codes_ok(const nnbrt_qw *q, size_t n)
{
    const uint32_t bits = q->bits, mask = (1u << bits) - 1u;
    size_t i, bit = 0;
    if (q->kind != 4 || q->K >= (1u << bits)) return 1;
    for (i = 0; i < n; ++i, bit += bits) {
        const size_t w = bit >> 5;
        const uint32_t s = (uint32_t)(bit & 31u);
        uint64_t v = q->words[w];
        if (s + bits > 32u) v |= (uint64_t)q->words[w + 1] << 32;
        if (((uint32_t)(v >> s) & mask) >= q->K) return 0;
    }
    return 1;
}

/* Kind-6 descriptor (8 words) in chunk `qc` of an int8 variable of `ndim`
   dims: bits 8, 1 or one scale per channel (finite float64 > 0), zero
   point in -128..127, reserved words 0. */
static nnbrt_status decode_q8desc(const ctx_t *c, int32_t qc, const int32_t *dims, uint32_t ndim, int param,
                                  struct nnbrt_var *v)
{
    const uint8_t *d, *sc;
    uint32_t count, k;
    int32_t axis, zero;
    uint64_t want = 1;
    if (chunk_ptr(c, qc, 32, &d) != NNBRT_OK) return NNBRT_E_BAD_QUANT;
    count = rd32(d + 8);
    zero = rdi32(d + 16);
    axis = rdi32(d + 20);
    if (rd32(d) != NNBRT_TYPE_Q8 || rd32(d + 4) != 8u || rd32(d + 24) || rd32(d + 28)) return NNBRT_E_BAD_QUANT;
    if (zero < -128 || zero > 127 || count < 1 || count > 0x0fffffffu) return NNBRT_E_BAD_QUANT;
    if (axis == -1) {
        want = 1;
    } else if (!param || axis < 0 || (uint32_t)axis >= ndim) {
        return NNBRT_E_BAD_QUANT; /* activations: one scale */
    } else if (axis == 0) {
        want = (uint64_t)dims[0];
    } else {
        for (k = (uint32_t)axis; k < ndim; ++k) want *= (uint64_t)dims[k];
    }
    if (count != want) return NNBRT_E_BAD_QUANT;
    if (chunk_ptr(c, rdi32(d + 12), (size_t)count * 8u, &sc) != NNBRT_OK) return NNBRT_E_BAD_QUANT;
    for (k = 0; k < count; ++k) { /* finite and > 0, from the bits (no double arithmetic on an M4) */
        uint32_t lo, hi;
        memcpy(&lo, sc + 8u * k, 4);
        memcpy(&hi, sc + 8u * k + 4u, 4);
        if ((hi >> 31) || ((hi >> 20) & 0x7ffu) == 0x7ffu || (hi == 0 && lo == 0)) return NNBRT_E_BAD_QUANT;
    }
    v->zero = zero;
    v->nscale = count;
    v->scale = sc;
    return NNBRT_OK;
}

/* Decode variable record `id` (validated against buffers). */
static nnbrt_status decode_var(const ctx_t *c, uint32_t id, struct nnbrt_var *v)
{
    const uint8_t *r;
    const int32_t *dims;
    uint32_t ndim, k;
    int32_t di;
    size_t size = 1, esz;
    nnbrt_status st = chunk_ptr(c, c->var_list[id], 20, &r);
    if (st != NNBRT_OK) return st;
    if (rd32(r) != id) return NNBRT_E_BAD_VARIABLE;
    ndim = rd32(r + 4);
    if (ndim > NNBRT_MAX_NDIM) return NNBRT_E_BAD_SHAPE;
    st = list_ptr(c, ndim, rdi32(r + 8), &dims);
    if (st != NNBRT_OK) return st;
    for (k = 0; k < ndim; ++k) {
        if (dims[k] <= 0) return NNBRT_E_BAD_SHAPE;
        if ((size_t)dims[k] > (size_t)0x7fffffff / size) return NNBRT_E_BAD_SHAPE;
        if ((size_t)dims[k] > (SIZE_MAX / 64u) / size) return NNBRT_E_BAD_SHAPE;
        size *= (size_t)dims[k];
    }
    v->type = (uint8_t)(r[12] & 0x0f);
    v->fp = (uint8_t)(r[12] >> 4);
    v->q = NULL;
    memset(&v->qw, 0, sizeof v->qw);
    v->zero = 0;
    v->nscale = 0;
    v->scale = NULL;
    di = rdi32(r + 16);
    /* FLOAT, FIXED16, FIXED8 (v2/v3 only), SIGN parameters (v2/v3 only),
       LUT/uniform packed parameters (extended only); others are refused */
    if (c->ext && (v->type == 4 || v->type == 5 || v->type == NNBRT_TYPE_I32)) {
        if (v->fp || di < 0) return NNBRT_E_UNSUPPORTED_TYPE;
    } else if (c->ext && v->type == NNBRT_TYPE_Q8) {
        if (v->fp) return NNBRT_E_UNSUPPORTED_TYPE;
    } else if (v->type == 3) {
        if (c->ext || di < 0) return NNBRT_E_UNSUPPORTED_TYPE; /* +-1 weights, not activations */
    } else if (v->type > 2 || (v->type != 0 && c->ext)) {
        return NNBRT_E_UNSUPPORTED_TYPE;
    }
    if (c->qlist) {
        /* a variable has a descriptor if and only if it is quantized */
        if ((c->qlist[id] != -1) != (v->type >= 4 && v->type <= NNBRT_TYPE_Q8)) return NNBRT_E_BAD_QUANT;
    } else if (v->type >= 4 && v->type <= NNBRT_TYPE_Q8) {
        return NNBRT_E_BAD_QUANT;
    }
    if (v->type == NNBRT_TYPE_Q8) {
        st = decode_q8desc(c, c->qlist[id], dims, ndim, di >= 0, v);
        if (st != NNBRT_OK) return st;
    }
    esz = v->type == 0 || v->type == NNBRT_TYPE_I32 ? 4u : v->type == 1 ? 2u : 1u;
    v->plan = 0;
    if (c->ext) {
        const int32_t p = c->plan[id];
        v->plan = p;
        if (di >= 0) {
            if (p != PLAN_PARAM) return NNBRT_E_BAD_PLAN;
        } else if (di != -1) {
            return NNBRT_E_BAD_BUFFER_REF; /* no buffer list in extended files */
        } else if (p == PLAN_INPUT) {
            /* network input: private storage */
        } else if (p < 0 || p % 4 || (uint64_t)(uint32_t)p + (uint64_t)size * ESZ(v->type) > c->h.arena_bytes) {
            return NNBRT_E_BAD_PLAN;
        }
    }
    if (di >= 0 && (v->type == 4 || v->type == 5)) {
        st = decode_qdesc(c, c->qlist[id], v->type, size, di, &v->qw);
        if (st != NNBRT_OK) return st;
        v->data = NULL; /* kernels decode v->qw block by block */
    } else if (di >= 0) {
        const uint8_t *d;
        /* SIGN: one bit per value in little-endian 32-bit words */
        st = chunk_ptr(c, di, v->type == 3 ? (size + 31u) / 32u * 4u : size * esz, &d);
        if (st == NNBRT_E_BAD_LIST_LENGTH) return NNBRT_E_BAD_DATA_SIZE;
        if (st != NNBRT_OK) return st;
        if (v->type == 0 || v->type >= NNBRT_TYPE_Q8) {
            v->data = (float *)(uintptr_t)d; /* parameters are never written; int8/int32 read in place */
        } else {
            v->q = d;       /* dequantised into arena staging by nnbrt_init */
            v->data = NULL;
        }
    } else if (c->ext) {
        v->data = NULL;
    } else {
        uint32_t b = (uint32_t)(-(di + 1));
        uint64_t bytes;
        if (b >= c->h.num_buffers) return NNBRT_E_BAD_BUFFER_REF;
        /* v2: sizes in elements; v3: bytes of the variable's own type */
        bytes = (uint64_t)(uint32_t)c->buf_list[b] * (c->h.version == 2 ? 4u : 1u);
        if ((uint64_t)size * (c->h.version == 2 ? 4u : esz) > bytes) return NNBRT_E_BAD_BUFFER_REF;
        v->data = NULL;
    }
    v->dims = dims;
    v->ndim = (int32_t)ndim;
    v->data_index = di;
    v->size = size;
    return NNBRT_OK;
}

static size_t buffer_bytes(const ctx_t *c, uint32_t b)
{
    /* fixed-point variables are held as floats: v3 byte sizes may be 4x short */
    uint64_t n = (uint64_t)(uint32_t)c->buf_list[b] * (c->h.version == 2 || c->has_fixed ? 4u : 1u);
    return n > (uint64_t)(SIZE_MAX / 4u) ? SIZE_MAX / 4u : (size_t)n; /* huge: add_aligned overflows */
}

/* Tensor view of variable id (decoded into *v); a packed weight's
   descriptor goes to *qbuf. */
static nnbrt_status get_tensor(const ctx_t *c, int32_t id, nnbrt_tensor *t, nnbrt_qw *qbuf,
                               struct nnbrt_var *v)
{
    nnbrt_status st;
    if (id < 0 || (uint32_t)id >= c->h.num_variables) return NNBRT_E_BAD_VARIABLE;
    if ((st = decode_var(c, (uint32_t)id, v)) != NNBRT_OK) return st;
    t->ndim = v->ndim;
    t->dims = v->dims;
    t->size = v->size;
    t->data = c->vdata ? c->vdata[id] : v->data;
    t->q = NULL;
    t->type = v->type;
    t->zero = v->zero;
    t->nscale = v->nscale;
    t->scale = v->scale;
#ifdef NNBRT_PREPARE
    t->prep = NULL;
#endif
    if (v->qw.kind) {
        *qbuf = v->qw;
        t->q = qbuf;
    }
    return NNBRT_OK;
}

/* May input `idx` of kernel k be a packed weight? Only the weight (input 1)
   of Affine, Convolution, DepthwiseConvolution and FusedConv. */
static int name_is(const char *a, const char *b)
{
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}

static int packed_ok(const nnbrt_kernel *k, uint32_t idx)
{
    return idx == 1 && (name_is(k->name, "Affine") || name_is(k->name, "Convolution") ||
                        name_is(k->name, "DepthwiseConvolution") || name_is(k->name, "FusedConv"));
}

static NOINLINE nnbrt_status read_args(const ctx_t *c, const uint8_t *r, const char *code, nnbrt_args *a);

/* Decode arguments of a function record per argcode. */
static NOINLINE nnbrt_status decode_args(const ctx_t *c, int32_t rec_chunk, const char *code, nnbrt_args *a)
{
    size_t need = 20;
    const char *p;
    const uint8_t *r;
    nnbrt_status st;
    /* pass 1: size */
    for (p = code; *p; ++p) {
        if (*p == 'B') { need += 1; continue; }
        need = (need + 3u) & ~(size_t)3u;
        need += (p[1] == 'I') ? 8u : 4u;
        if (p[1] == 'I') ++p;
    }
    st = chunk_ptr(c, rec_chunk, need, &r);
    if (st == NNBRT_E_BAD_LIST_LENGTH) return NNBRT_E_BAD_ARGUMENT;
    if (st != NNBRT_OK) return st;
    return read_args(c, r, code, a);
}

/* Arguments of a validated record r (decode_args did the checks; nnbrt_run_range reads them again). */
static NOINLINE nnbrt_status read_args(const ctx_t *c, const uint8_t *r, const char *code, nnbrt_args *a)
{
    size_t off = 20;
    const char *p;
    nnbrt_status st;
    memset(a, 0, sizeof *a); /* arguments missing from legacy codes read as 0 */
    for (p = code; *p; ++p) {
        nnbrt_arg *g;
        if (a->n >= NNBRT_MAX_ARGS) return NNBRT_E_BAD_ARGUMENT;
        g = &a->a[a->n++];
        if (*p == 'B') {
            g->i = r[off];
            off += 1;
            continue;
        }
        off = (off + 3u) & ~(size_t)3u;
        if (*p == 'f') {
            memcpy(&g->f, r + off, 4);
            off += 4;
        } else if (p[1] == 'I') {
            int32_t cnt = rdi32(r + off);
            if (cnt < 0) return NNBRT_E_BAD_LIST_LENGTH;
            st = list_ptr(c, (uint32_t)cnt, rdi32(r + off + 4), &g->list);
            if (st != NNBRT_OK) return st;
            g->count = cnt;
            off += 8;
            ++p;
        } else {
            g->i = rdi32(r + off);
            off += 4;
        }
    }
    return NNBRT_OK;
}

/* Extended plan: may output storage overlap input `k`? Only exact aliasing
   (same offset, same size) where the kernel reads each element before
   writing it: pointwise unary/binary kernels (any input of the output's
   size), Reshape (a view) and FusedConv's residual (its last input). */
static int inplace_ok(uint32_t type, const nnbrt_kernel *k, const nnbrt_args *a, uint32_t nin,
                      uint32_t idx)
{
    if (k->check == nnbrt_check_unary || k->check == nnbrt_check_binary) return 1;
    if (type == 126 || type == 83) return 1; /* Reshape */
    if (type == NNBRT_EXT_FIRST_ID) return a->a[13].i && idx == nin - 1; /* FusedConv residual */
    return 0;
}

/* FusedConv's in-place depthwise form (kernels/dw_inplace.c): the output
   over input 0 of a depthwise convolution (float weight [C, 1, K...], group
   C) without pooling or residual whose output is no bigger than its input. */
static int dw_inplace_ok(const ctx_t *c, const nnbrt_args *a, const int32_t *ins, const struct nnbrt_var *vi,
                         const struct nnbrt_var *vo)
{
    struct nnbrt_var w;
    const int b = a->a[0].i;
    if (a->a[6].i || a->a[13].i || vo->size > vi->size || b < 0 || b >= vi->ndim || vo->ndim != vi->ndim) return 0;
    if (decode_var(c, (uint32_t)ins[1], &w) != NNBRT_OK || w.type != 0 || w.ndim < 3) return 0;
    return w.dims[1] == 1 && w.dims[0] == vi->dims[b] && vo->dims[b] == vi->dims[b] && a->a[4].i == vi->dims[b];
}

static int own_storage(const ctx_t *c, uint32_t i, const struct nnbrt_var *v);

/* Where a variable's values live, for overlap tests: space 0 for storage no
   function shares (a parameter in the image, private input/output or
   staging storage); extended files: space 1, plan bytes [lo, lo + 4 size);
   v2/v3 files: space 2 + buffer index, bytes [0, 4 size) of the buffer. */
typedef struct {
    uint32_t space, lo, size; /* size: bytes in extended files (space 1), values (4 bytes each) otherwise */
} span_t;

static span_t span_of(const ctx_t *c, uint32_t id, const struct nnbrt_var *v)
{
    span_t s = {0, 0, 0};
    if (own_storage(c, id, v)) return s;
    s.size = (uint32_t)v->size; /* <= 0x7fffffff (decode_var) */
    if (c->ext) {
        s.space = 1;
        s.lo = (uint32_t)v->plan;
        s.size = (uint32_t)(v->size * ESZ(v->type)); /* <= arena_bytes (decode_var) */
    } else {
        s.space = 2u + (uint32_t)(-(v->data_index + 1));
    }
    return s;
}

static int spans_overlap(span_t a, span_t b)
{
    const uint64_t unit = a.space == 1 ? 1u : 4u;
    const uint64_t a1 = (uint64_t)a.lo + unit * (uint64_t)a.size, b1 = (uint64_t)b.lo + unit * (uint64_t)b.size;
    return a.space && a.space == b.space && a.lo < b1 && b.lo < a1;
}

static int spans_equal(span_t a, span_t b) { return a.space == b.space && a.lo == b.lo && a.size == b.size; }

/* A function's output may share storage with one of its inputs only as an
   exact alias the kernel is declared safe for (inplace_ok, dw_inplace_ok),
   and never with another of its outputs. */
static NOINLINE nnbrt_status check_aliasing(const ctx_t *c, uint32_t type, const nnbrt_kernel *k,
                                   const nnbrt_args *a, uint32_t nin, const int32_t *ins,
                                   uint32_t nout, const int32_t *outs)
{
    uint32_t o, j;
    for (o = 0; o < nout; ++o) {
        struct nnbrt_var vo, vi;
        span_t so;
        if (decode_var(c, (uint32_t)outs[o], &vo) != NNBRT_OK) return NNBRT_E_BAD_VARIABLE;
        so = span_of(c, (uint32_t)outs[o], &vo);
        if (!so.space) continue;
        for (j = 0; j < nin + nout; ++j) {
            const int32_t id = j < nin ? ins[j] : outs[j - nin];
            span_t si;
            if (j == nin + o) continue;
            if (decode_var(c, (uint32_t)id, &vi) != NNBRT_OK) return NNBRT_E_BAD_VARIABLE;
            si = span_of(c, (uint32_t)id, &vi);
            if (!spans_overlap(so, si)) continue;
            if (j < nin && spans_equal(so, si) && inplace_ok(type, k, a, nin, j)) continue;
            if (j == 0 && c->ext && si.lo == so.lo && type == NNBRT_EXT_FIRST_ID &&
                dw_inplace_ok(c, a, ins, &vi, &vo))
                continue;
            if (c->diag) c->diag->variable_index = id;
            return NNBRT_E_BAD_ALIAS;
        }
    }
    return NNBRT_OK;
}

/* ---- validation and layout, one function per part of the file ---- */

/* The header's lists (buffers, variables, functions, inputs, outputs) and,
   in extended files, the plan and the quant descriptor list. */
static nnbrt_status open_lists(ctx_t *c)
{
    nnbrt_status st;
    uint32_t i;
    if ((st = list_ptr(c, c->lists[0], (int32_t)c->lists[1], &c->buf_list)) != NNBRT_OK) return st;
    if ((st = list_ptr(c, c->lists[2], (int32_t)c->lists[3], &c->var_list)) != NNBRT_OK) return st;
    if ((st = list_ptr(c, c->lists[4], (int32_t)c->lists[5], &c->fn_list)) != NNBRT_OK) return st;
    if ((st = list_ptr(c, c->lists[6], (int32_t)c->lists[7], &c->in_ids)) != NNBRT_OK) return st;
    if ((st = list_ptr(c, c->lists[8], (int32_t)c->lists[9], &c->out_ids)) != NNBRT_OK) return st;
    for (i = 0; i < c->h.num_buffers; ++i)
        if (c->buf_list[i] < 0) return NNBRT_E_BAD_BUFFER_REF;
    if (c->ext) {
        if (c->h.num_buffers != 0) return NNBRT_E_BAD_BUFFER_REF;
        if (c->h.plan_size != c->h.num_variables) return NNBRT_E_BAD_PLAN;
        if ((st = list_ptr(c, c->h.plan_size, c->plan_chunk, &c->plan)) != NNBRT_OK) return st;
        if (c->qsize) {
            if (c->qsize != c->h.num_variables) return NNBRT_E_BAD_QUANT;
            if (list_ptr(c, c->qsize, c->qchunk, &c->qlist) != NNBRT_OK) return NNBRT_E_BAD_QUANT;
        }
    }
    return NNBRT_OK;
}

/* Network input and output ids. */
static nnbrt_status check_io_ids(const ctx_t *c)
{
    uint32_t i;
    for (i = 0; i < c->h.num_inputs; ++i) {
        if (c->in_ids[i] < 0 || (uint32_t)c->in_ids[i] >= c->h.num_variables) {
            if (c->diag) c->diag->variable_index = c->in_ids[i];
            return NNBRT_E_BAD_VARIABLE;
        }
        if (c->ext && c->plan[c->in_ids[i]] != PLAN_INPUT) {
            if (c->diag) c->diag->variable_index = c->in_ids[i];
            return NNBRT_E_BAD_PLAN;
        }
    }
    for (i = 0; i < c->h.num_outputs; ++i)
        if (c->out_ids[i] < 0 || (uint32_t)c->out_ids[i] >= c->h.num_variables ||
            (c->qlist && c->qlist[c->out_ids[i]] != -1)) { /* a packed weight is no output */
            if (c->diag) c->diag->variable_index = c->out_ids[i];
            return NNBRT_E_BAD_VARIABLE;
        }
    return NNBRT_OK;
}

static int is_net_input(const ctx_t *c, int32_t id);
static int is_net_output(const ctx_t *c, uint32_t i);

/* Every variable record; notes fixed-point and staged parameters. */
static nnbrt_status scan_variables(ctx_t *c)
{
    uint32_t i;
    for (i = 0; i < c->h.num_variables; ++i) {
        struct nnbrt_var v;
        nnbrt_status st = decode_var(c, i, &v);
        /* packed LUT weights: every code < K */
        if (st == NNBRT_OK && !lut_codes_ok(&v.qw, v.size)) st = NNBRT_E_BAD_QUANT;
        if (st != NNBRT_OK) {
            if (c->diag) c->diag->variable_index = (int32_t)i;
            return st;
        }
        if (v.type >= NNBRT_TYPE_Q8 && (is_net_input(c, (int32_t)i) || is_net_output(c, i))) {
            if (c->diag) c->diag->variable_index = (int32_t)i;
            return NNBRT_E_UNSUPPORTED_TYPE; /* network inputs and outputs are float */
        }
        if (IS_FIXED(v.type)) {
            if (!nnbrt_fixed_supported) { /* a kernel table without the fixed-point kernels */
                if (c->diag) c->diag->variable_index = (int32_t)i;
                return NNBRT_E_UNSUPPORTED_TYPE;
            }
            c->has_fixed = 1;
        }
        if (IS_FIXED(v.type) || v.type == 3) c->staged = 1;
    }
    return NNBRT_OK;
}

/* Function record i: kernel, input/output counts and lists. */
static NOINLINE nnbrt_status decode_fn(const ctx_t *c, uint32_t i, fn_t *f)
{
    const uint8_t *r;
    const nnbrt_entry *ent;
    nnbrt_status st;
    memset(f, 0, sizeof *f);
    f->rec = c->fn_list[i];
    if ((st = chunk_ptr(c, f->rec, 20, &r)) != NNBRT_OK) return st;
    f->type = (uint32_t)r[0] | ((uint32_t)r[1] << 8);
    if (c->diag) c->diag->function_id = (int32_t)f->type;
    ent = (f->type < NNBRT_EXT_FIRST_ID || c->ext) ? nnbrt_find_kernel(f->type) : NULL;
    f->k = ent ? ent->k : NULL;
    if (!f->k) return NNBRT_E_UNSUPPORTED_FUNCTION;
    f->code = ent->argcode ? ent->argcode : f->k->argcode;
    /* extended files store NNP arguments where the upstream code disagrees */
    if (c->ext && f->type == 259) f->code = ""; /* HardSigmoid: no arguments in nnabla */
    f->nin = rd32(r + 4);
    f->nout = rd32(r + 12);
    if (f->nin < (uint32_t)f->k->min_in || f->nin > (uint32_t)f->k->max_in ||
        f->nin > NNBRT_MAX_FN_IO || f->nout < (uint32_t)f->k->min_out ||
        f->nout > (uint32_t)f->k->max_out || f->nout > NNBRT_MAX_FN_IO)
        return NNBRT_E_BAD_IO_COUNT;
    if ((st = list_ptr(c, f->nin, rdi32(r + 8), &f->ins)) != NNBRT_OK) return st;
    return list_ptr(c, f->nout, rdi32(r + 16), &f->outs);
}

static void diag_fn(const ctx_t *c, uint32_t i)
{
    if (c->diag) {
        c->diag->function_index = (int32_t)i;
        c->diag->function_id = -1;
    }
}

/* Every function record's structure; sets c->max_io. */
static nnbrt_status scan_functions(ctx_t *c)
{
    uint32_t i;
    for (i = 0; i < c->h.num_functions; ++i) {
        fn_t f;
        nnbrt_status st;
        diag_fn(c, i);
        if ((st = decode_fn(c, i, &f)) != NNBRT_OK) return st;
        if (f.nin + f.nout > c->max_io) c->max_io = f.nin + f.nout;
    }
    if (c->diag) c->diag->function_index = c->diag->function_id = -1;
    return NNBRT_OK;
}

static int is_net_input(const ctx_t *c, int32_t id)
{
    uint32_t k;
    if (c->ext) return c->plan[id] == PLAN_INPUT;
    for (k = 0; k < c->h.num_inputs; ++k)
        if (c->in_ids[k] == id) return 1;
    return 0;
}

/* Inputs then outputs of f into t[0 .. nin+nout) (the one packed weight a
   function may take goes to *qbuf); outputs never write the image or a
   network input. t NULL: validate only. */
static NOINLINE nnbrt_status fn_tensors(const ctx_t *c, const fn_t *f, nnbrt_tensor *t, nnbrt_qw *qbuf)
{
    uint32_t j;
    for (j = 0; j < f->nin + f->nout; ++j) {
        const int32_t id = j < f->nin ? f->ins[j] : f->outs[j - f->nin];
        struct nnbrt_var v;
        nnbrt_tensor one;
        nnbrt_qw qone;
        nnbrt_tensor *tj = t ? &t[j] : &one;
        nnbrt_status st = get_tensor(c, id, tj, j < f->nin && t ? qbuf : &qone, &v);
        if (st == NNBRT_OK && j < f->nin && tj->q && !packed_ok(f->k, j)) st = NNBRT_E_BAD_QUANT;
        /* int8/int32 tensors only for the int8 records, which check every type themselves */
        if (st == NNBRT_OK && v.type >= NNBRT_TYPE_Q8 && (f->type < NNBRT_Q8_FIRST_ID || f->type > NNBRT_Q8_LAST_ID))
            st = NNBRT_E_UNSUPPORTED_TYPE;
        if (st == NNBRT_OK && j >= f->nin && (v.data_index >= 0 || is_net_input(c, id)))
            st = NNBRT_E_BAD_VARIABLE;
        if (st != NNBRT_OK) {
            if (c->diag) c->diag->variable_index = id;
            return st;
        }
    }
    return NNBRT_OK;
}

/* Run-time form of fn_tensors: the image is validated, so a variable's
   record, dims, size and int8 descriptor are read without the checks
   (packed weights take the full decode for their descriptor). */
static NOINLINE void run_tensors(const ctx_t *c, const fn_t *f, nnbrt_tensor *t, nnbrt_qw *qbuf)
{
    uint32_t j, k;
    for (j = 0; j < f->nin + f->nout; ++j) {
        const int32_t id = j < f->nin ? f->ins[j] : f->outs[j - f->nin];
        const uint8_t *r = c->data + rd32(c->index + 4u * (uint32_t)c->var_list[id]);
        const uint32_t ndim = rd32(r + 4);
        const int32_t *dims;
        size_t size = 1;
        const uint32_t type = r[12] & 0x0fu;
        if (type == 4 || type == 5) { /* packed: the full decode, for its descriptor */
            struct nnbrt_var v;
            nnbrt_qw qone;
            (void)get_tensor(c, id, &t[j], j < f->nin ? qbuf : &qone, &v);
            continue;
        }
        dims = ndim ? (const int32_t *)(const void *)(c->data + rd32(c->index + 4u * (uint32_t)rdi32(r + 8)))
                    : NULL;
        for (k = 0; k < ndim; ++k) size *= (size_t)dims[k];
        t[j].ndim = (int)ndim;
        t[j].dims = dims;
        t[j].size = size;
        t[j].data = c->vdata[id];
        t[j].q = NULL;
        t[j].type = type >= NNBRT_TYPE_Q8 ? (int32_t)type : 0; /* 6 int8, 7 int32; else float (fixed point held as float) */
        t[j].zero = 0;
        t[j].nscale = 0;
        t[j].scale = NULL;
        if (type == NNBRT_TYPE_Q8) { /* its descriptor (decode_q8desc checked it): count, scales, zero point */
            const uint8_t *d = c->data + rd32(c->index + 4u * (uint32_t)c->qlist[id]);
            t[j].zero = rdi32(d + 16);
            t[j].nscale = rd32(d + 8);
            t[j].scale = c->data + rd32(c->index + 4u * (uint32_t)rdi32(d + 12));
        }
#ifdef NNBRT_PREPARE
        t[j].prep = NULL;
#endif
    }
}

/* Functions checked by nnbrt_arena_size with tensors on the stack: at most
   this many inputs + outputs (larger ones, Concatenate/Stack/Split of many
   tensors, which need no kernel scratch, get their shape check in
   nnbrt_init, where the tensors live in the arena). */
#ifndef NNBRT_CHECK_IO
#define NNBRT_CHECK_IO 8
#endif

#ifdef NNBRT_PREPARE
/* Does function f (checked, cost w) get a load-time region? Only with
   inputs (the region reaches the kernel as in[0].prep) and at most
   NNBRT_CHECK_IO inputs + outputs (nnbrt_arena_size checks no others). */
static int persist_of(const fn_t *f, const nnbrt_cost *w)
{
    return w->persist && w->prepare && f->nin > 0 && f->nin + f->nout <= NNBRT_CHECK_IO;
}

/* Bytes of the load-time part: the table (8 bytes a function) and the regions. */
static int persist_bytes(const ctx_t *c, size_t *n)
{
    *n = 0;
    if (!c->npersist) return 1;
    return add_array(n, c->npersist, 8u) && add_sz(n, c->persist);
}

/* nnbrt_init, after every check: table and regions filled, in file order
   (the same checks as check_functions, on validated data). */
static NOINLINE void prepare_functions(ctx_t *c, nnbrt_tensor *t, nnbrt_qw *qbuf, nnbrt_args *a, uint32_t *tab)
{
    uint32_t i, k = 0;
    size_t off = 0;
    (void)add_array(&off, c->npersist, 8u); /* regions after the table */
    for (i = 0; i < c->npersist; ++i) tab[2 * i] = 0xffffffffu; /* no function: never matched at run time */
    for (i = 0; i < c->h.num_functions && k < c->npersist; ++i) {
        fn_t f;
        nnbrt_cost work;
        memset(&work, 0, sizeof work);
        (void)decode_fn(c, i, &f);
        if (f.nin + f.nout > NNBRT_CHECK_IO) continue;
        (void)decode_args(c, f.rec, f.code, a);
        a->scratch = NULL;
        run_tensors(c, &f, t, qbuf);
        if (f.k->check(a, (int)f.nin, t, (int)f.nout, t + f.nin, &work) != NNBRT_OK || !persist_of(&f, &work))
            continue;
        tab[2 * k] = i;
        tab[2 * k + 1] = (uint32_t)off;
        work.prepare(a, (int)f.nin, t, (int)f.nout, t + f.nin, (uint8_t *)(void *)tab + off);
        (void)add_aligned(&off, work.persist);
        ++k;
    }
}
#endif

#if NNBRT_SCRATCH_IN_PLAN
/* Does function j list variable v among its inputs (outs 0) or outputs (outs 1)? (validated lists) */
static int fn_lists(const ctx_t *c, uint32_t j, int32_t v, int outs)
{
    const uint8_t *r = c->data + rd32(c->index + 4u * (uint32_t)c->fn_list[j]);
    const uint32_t n = rd32(r + (outs ? 12u : 4u));
    const int32_t *l;
    uint32_t k;
    if (!n) return 0;
    l = (const int32_t *)(const void *)(c->data + rd32(c->index + 4u * (uint32_t)rdi32(r + (outs ? 16u : 8u))));
    for (k = 0; k < n; ++k)
        if (l[k] == v) return 1;
    return 0;
}

/* The plan bytes [*lo, *hi) of variable t if it is alive at function i: written at or before i and read at or
   after it (a network output: to the end), or written by i; else 0. */
static NOINLINE int live_span(const ctx_t *c, uint32_t i, uint32_t t, size_t *lo, size_t *hi)
{
    struct nnbrt_var v;
    uint32_t j;
    int w = 0, r = 0;
    const int32_t p = c->plan[t];
    if (p < 0 || decode_var(c, t, &v) != NNBRT_OK || v.data_index >= 0) return 0;
    for (j = 0; j <= i && !w; ++j) w = fn_lists(c, j, (int32_t)t, 1);
    if (!w) return 0;
    r = is_net_output(c, t) || fn_lists(c, i, (int32_t)t, 1); /* an output of i itself, read or not */
    for (j = i; j < c->h.num_functions && !r; ++j) r = fn_lists(c, j, (int32_t)t, 0);
    *lo = (size_t)(uint32_t)p;
    *hi = *lo + v.size * ESZ(v.type);
    return r;
}

/* The lowest 64-aligned plan offset where `need` bytes meet no tensor alive at function i (first fit: past
   every overlapping span until none overlaps; the offset only grows). */
static NOINLINE size_t place_scratch(const ctx_t *c, uint32_t i, size_t need)
{
    size_t off = 0, lo, hi;
    uint32_t t;
    int moved = 1;
    while (moved) {
        moved = 0;
        for (t = 0; t < c->h.num_variables; ++t)
            if (live_span(c, i, t, &lo, &hi) && lo < off + need && off < hi) {
                off = (hi + ALIGN - 1u) / ALIGN * ALIGN;
                moved = 1;
            }
    }
    return off;
}
#endif

/* Function i's kernel scratch of `need` bytes: the largest need, or (placed in the plan) the most any goes
   past the tensors, and its offset in c->sofs when the arena is there. */
static void note_scratch(ctx_t *c, uint32_t i, size_t need)
{
#if NNBRT_SCRATCH_IN_PLAN
    if (c->place) {
        const size_t top = ((size_t)c->h.arena_bytes + ALIGN - 1u) / ALIGN * ALIGN; /* the plan region's end */
        size_t off = need ? place_scratch(c, i, need) : top;
        if (off + need > top && off + need - top > c->scratch) c->scratch = off + need - top;
        if (c->sofs) c->sofs[i] = (uint32_t)off;
        return;
    }
#endif
    (void)i;
    if (need > c->scratch) c->scratch = need;
}

/* Kernel checks of every function: shapes, arguments, aliasing; the work
   estimate and the largest scratch. t holds cap tensors, a one argument set. */
static nnbrt_status check_functions(ctx_t *c, nnbrt_tensor *t, uint32_t cap, nnbrt_qw *qbuf,
                                    nnbrt_args *a)
{
    uint32_t i;
    for (i = 0; i < c->h.num_functions; ++i) {
        fn_t f;
        nnbrt_cost work;
        nnbrt_status st;
        memset(&work, 0, sizeof work);
        diag_fn(c, i);
        if ((st = decode_fn(c, i, &f)) != NNBRT_OK) return st;
        if ((st = decode_args(c, f.rec, f.code, a)) != NNBRT_OK) return st;
        if ((st = fn_tensors(c, &f, f.nin + f.nout <= cap ? t : NULL, qbuf)) != NNBRT_OK) return st;
        if ((st = check_aliasing(c, f.type, f.k, a, f.nin, f.ins, f.nout, f.outs)) != NNBRT_OK) return st;
        if (f.nin + f.nout > cap) { /* see NNBRT_CHECK_IO */
            note_scratch(c, i, 0);
            continue;
        }
        st = f.k->check(a, (int)f.nin, t, (int)f.nout, t + f.nin, &work);
        if (st != NNBRT_OK) return st;
        c->work += work.work;
        note_scratch(c, i, work.scratch);
#ifdef NNBRT_PREPARE
        if (persist_of(&f, &work)) {
            if (!add_aligned(&c->persist, work.persist)) return NNBRT_E_SIZE_OVERFLOW;
            ++c->npersist;
        }
#endif
    }
    if (c->diag) c->diag->function_index = c->diag->function_id = -1;
    return NNBRT_OK;
}

/* ---- data flow (nnbrt_init, over private storage, tensors and scratch: 5 words per variable) ---- */

#define DF_WORDS 5u /* first write, last read, span space, lo, size */
#define DF_UNSET 0x7fffffff

/* Every tensor is written before it is read, in file order (parameters and
   network inputs are written at the start, network outputs are read at the
   end), and a function never writes over storage of another tensor that is
   still to be read (two tensors live at the same time never share storage;
   exact aliases the kernel is declared safe for are checked by
   check_aliasing; a Reshape writes the bytes already there). */
static NOINLINE nnbrt_status check_dataflow(const ctx_t *c, int32_t *w)
{
    const uint32_t nv = c->h.num_variables, nf = c->h.num_functions;
    uint32_t i, j, t;
    fn_t f;
    for (i = 0; i < nv; ++i) {
        struct nnbrt_var v;
        span_t sp;
        (void)decode_var(c, i, &v);
        sp = span_of(c, i, &v);
        w[DF_WORDS * i] = v.data_index >= 0 ? -1 : DF_UNSET;
        w[DF_WORDS * i + 1] = -1;
        w[DF_WORDS * i + 2] = (int32_t)sp.space;
        w[DF_WORDS * i + 3] = (int32_t)sp.lo;
        w[DF_WORDS * i + 4] = (int32_t)sp.size;
    }
    for (i = 0; i < c->h.num_inputs; ++i) w[DF_WORDS * (uint32_t)c->in_ids[i]] = -1;
    for (i = 0; i < nf; ++i) {
        diag_fn(c, i);
        (void)decode_fn(c, i, &f);
        for (j = 0; j < f.nin; ++j) {
            int32_t *e = &w[DF_WORDS * (uint32_t)f.ins[j]];
            if (e[0] == DF_UNSET) {
                if (c->diag) c->diag->variable_index = f.ins[j];
                return NNBRT_E_READ_BEFORE_WRITE;
            }
            e[1] = (int32_t)i;
        }
        for (j = 0; j < f.nout; ++j)
            if (w[DF_WORDS * (uint32_t)f.outs[j]] == DF_UNSET) w[DF_WORDS * (uint32_t)f.outs[j]] = (int32_t)i;
    }
    if (c->diag) c->diag->function_index = c->diag->function_id = -1;
    for (i = 0; i < c->h.num_outputs; ++i) {
        int32_t *e = &w[DF_WORDS * (uint32_t)c->out_ids[i]];
        if (e[0] == DF_UNSET) { /* no function writes it */
            if (c->diag) c->diag->variable_index = c->out_ids[i];
            return NNBRT_E_READ_BEFORE_WRITE;
        }
        e[1] = (int32_t)nf; /* read by the caller after the run */
    }
    for (i = 0; i < nf; ++i) {
        diag_fn(c, i);
        (void)decode_fn(c, i, &f);
        for (j = 0; j < f.nout; ++j) {
            const int32_t *eo = &w[DF_WORDS * (uint32_t)f.outs[j]];
            const span_t so = {(uint32_t)eo[2], (uint32_t)eo[3], (uint32_t)eo[4]};
            if (!so.space) continue;
            for (t = 0; t < nv; ++t) {
                const int32_t *et = &w[DF_WORDS * t];
                const span_t st = {(uint32_t)et[2], (uint32_t)et[3], (uint32_t)et[4]};
                if (t == (uint32_t)f.outs[j] || !spans_overlap(so, st)) continue;
                if (et[0] >= (int32_t)i || et[1] <= (int32_t)i) continue; /* not live across function i */
                if ((f.type == 126 || f.type == 83) && spans_equal(so, st)) {
                    const int32_t *ei = &w[DF_WORDS * (uint32_t)f.ins[0]];
                    const span_t si = {(uint32_t)ei[2], (uint32_t)ei[3], (uint32_t)ei[4]};
                    if (spans_equal(so, si)) continue; /* a view: the same bytes */
                }
                if (c->diag) c->diag->variable_index = (int32_t)t;
                return NNBRT_E_LIVE_OVERLAP;
            }
        }
    }
    if (c->diag) c->diag->function_index = c->diag->function_id = -1;
    return NNBRT_OK;
}

/* Arena layout (byte offsets from the 64-aligned base). */
typedef struct {
    size_t vdata, bofs, tens, qw, sofs, io, plan, bufs, scratch, persist, total;
} layout_t;

static int is_net_output(const ctx_t *c, uint32_t i)
{
    uint32_t k;
    for (k = 0; k < c->h.num_outputs; ++k)
        if (c->out_ids[k] == (int32_t)i) return 1;
    return 0;
}

/* Storage no function shares: a parameter (image or float staging), a
   network input (private or the caller's), a v2/v3 network output. */
static int own_storage(const ctx_t *c, uint32_t i, const struct nnbrt_var *v)
{
    if (v->data_index >= 0 || is_net_input(c, (int32_t)i)) return 1;
    return !c->ext && is_net_output(c, i);
}

/* Bytes of private storage in the arena for variable i: float staging of a
   fixed-point or SIGN parameter; a network input (none with
   NNBRT_EXTERNAL_INPUTS, except a parameter listed as an input); in v2/v3
   files a network output that is not a parameter. */
static size_t private_bytes(const ctx_t *c, uint32_t i)
{
    struct nnbrt_var v;
    (void)decode_var(c, i, &v); /* validated by scan_variables */
    if (is_net_input(c, (int32_t)i) && (v.data_index >= 0 || !(c->flags & NNBRT_EXTERNAL_INPUTS)))
        return v.size * 4u; /* never written into the image */
    if (v.data_index >= 0) return c->staged && v.type != 0 && v.type < 4 ? v.size * 4u : 0u;
    if (!c->ext && is_net_output(c, i)) return v.size * 4u;
    return 0u;
}

/* Everything but the kernel scratch (known after the checks). */
static NOINLINE nnbrt_status plan_layout(const ctx_t *c, layout_t *L)
{
    size_t lay = 0;
    uint32_t i;
    memset(L, 0, sizeof *L);
    if (!add_aligned(&lay, sizeof(struct nnbrt_net))) return NNBRT_E_SIZE_OVERFLOW;
    L->vdata = lay;
    if (!add_array(&lay, c->h.num_variables, sizeof(float *))) return NNBRT_E_SIZE_OVERFLOW;
    L->bofs = lay; /* byte offset of each working buffer (v2/v3) */
    if (!add_array(&lay, c->h.num_buffers, sizeof(size_t))) return NNBRT_E_SIZE_OVERFLOW;
    L->tens = lay;
    if (!add_array(&lay, c->max_io, sizeof(nnbrt_tensor))) return NNBRT_E_SIZE_OVERFLOW;
    L->qw = lay;
    if (!add_array(&lay, 1, sizeof(nnbrt_qw))) return NNBRT_E_SIZE_OVERFLOW;
    L->sofs = lay; /* NNBRT_SCRATCH_IN_PLAN: each function's scratch offset in the plan */
    if (c->place && !add_array(&lay, c->h.num_functions, sizeof(uint32_t))) return NNBRT_E_SIZE_OVERFLOW;
    L->io = lay;
    for (i = 0; i < c->h.num_variables; ++i) {
        const size_t n = private_bytes(c, i);
        if (n && !add_aligned(&lay, n)) return NNBRT_E_SIZE_OVERFLOW;
    }
    L->plan = lay;
    if (c->ext && !add_aligned(&lay, c->h.arena_bytes)) return NNBRT_E_SIZE_OVERFLOW;
    L->bufs = lay;
    for (i = 0; i < c->h.num_buffers; ++i)
        if (!add_aligned(&lay, buffer_bytes(c, i))) return NNBRT_E_SIZE_OVERFLOW;
    L->scratch = lay;
    return NNBRT_OK;
}

/* Bytes of nnbrt_init's data-flow table (DF_WORDS words a variable); 0 on overflow. */
static size_t dataflow_bytes(const ctx_t *c)
{
    size_t df = 0;
    return add_array(&df, c->h.num_variables, DF_WORDS * 4u) ? df : 0u;
}

/* The kernel scratch region and the total, at most NNBRT_MAX_ARENA.
   nnbrt_init's data-flow table lives during init from L->io on: over the
   private storage and the tensors (unused then; zeroed again after it) and
   on into the scratch only for what they cannot hold, so the scratch is
   what the kernels need unless the table is bigger than all three. */
static nnbrt_status finish_layout(const ctx_t *c, layout_t *L)
{
    size_t lay = L->scratch, scratch = c->scratch, df = dataflow_bytes(c);
    if (c->h.num_variables && !df) return NNBRT_E_SIZE_OVERFLOW;
    if (df > L->scratch - L->io && scratch < df - (L->scratch - L->io)) scratch = df - (L->scratch - L->io);
    if (!add_aligned(&lay, scratch)) return NNBRT_E_SIZE_OVERFLOW;
    L->persist = lay; /* load-time regions (NNBRT_PREPARE builds) after the scratch */
#ifdef NNBRT_PREPARE
    {
        size_t pb;
        if (!persist_bytes(c, &pb) || !add_aligned(&lay, pb)) return NNBRT_E_SIZE_OVERFLOW;
    }
#endif
    if (!add_sz(&lay, ALIGN - 1)) return NNBRT_E_SIZE_OVERFLOW;
    if (lay > (size_t)NNBRT_MAX_ARENA) return NNBRT_E_ARENA_LIMIT;
    L->total = lay;
    return NNBRT_OK;
}

/* Header, lists, variables, function structure and layout (no kernel checks). */
static NOINLINE nnbrt_status validate_structure(ctx_t *c, layout_t *L)
{
    nnbrt_status st;
    if ((st = parse_header(c)) != NNBRT_OK) return st;
    if ((st = open_lists(c)) != NNBRT_OK) return st;
    if ((st = check_io_ids(c)) != NNBRT_OK) return st;
    if ((st = scan_variables(c)) != NNBRT_OK) return st;
    if ((st = scan_functions(c)) != NNBRT_OK) return st;
#if NNBRT_SCRATCH_IN_PLAN
    c->place = c->ext && (uint64_t)c->h.num_variables * c->h.num_variables * c->h.num_functions <=
                             (uint64_t)NNBRT_SCRATCH_PLACE_MAX;
#endif
    return plan_layout(c, L);
}

/* Decode fixed-point and SIGN parameters into their float staging. */
static NOINLINE void stage_parameters(const ctx_t *c)
{
    uint32_t j;
    for (j = 0; c->staged && j < c->h.num_variables; ++j) {
        struct nnbrt_var v;
        float *d = c->vdata[j];
        size_t k;
        float s;
        (void)decode_var(c, j, &v);
        if (v.type == 0 || !v.q) continue;
        s = 1.0f / (float)(1u << v.fp);
        for (k = 0; k < v.size; ++k) {
            if (v.type == 3) { /* bit k of little-endian word k / 32: 1 is +1, 0 is -1 */
                const uint8_t byte = ((const uint8_t *)v.q)[k / 8u];
                d[k] = (byte >> (k % 8u)) & 1u ? 1.0f : -1.0f;
            } else if (v.type == 1) {
                int16_t q;
                memcpy(&q, (const uint8_t *)v.q + 2u * k, 2);
                d[k] = (float)q * s;
            } else {
                d[k] = (float)((const int8_t *)v.q)[k] * s;
            }
        }
    }
}

/* Every variable's storage: image (float parameters), private storage,
   plan offset or working buffer. */
static NOINLINE void assign_storage(ctx_t *c, const layout_t *L, uint8_t *base)
{
    size_t lay = L->io, boff = L->bufs, *bofs = (size_t *)(void *)(base + L->bofs);
    uint32_t i;
    for (i = 0; i < c->h.num_buffers; ++i) {
        bofs[i] = boff;
        (void)add_aligned(&boff, buffer_bytes(c, i)); /* no overflow: plan_layout did it */
    }
    for (i = 0; i < c->h.num_variables; ++i) {
        struct nnbrt_var v;
        const size_t n = private_bytes(c, i);
        (void)decode_var(c, i, &v);
        if (n) {
            c->vdata[i] = (float *)(void *)(base + lay);
            (void)add_aligned(&lay, n);
        } else if (is_net_input(c, (int32_t)i)) {
            c->vdata[i] = NULL; /* NNBRT_EXTERNAL_INPUTS: nnbrt_set_input */
        } else if (v.data_index >= 0) {
            c->vdata[i] = v.data; /* float parameter in the image; NULL if packed */
        } else if (c->ext) {
            c->vdata[i] = (float *)(void *)(base + L->plan + (size_t)(uint32_t)v.plan);
        } else {
            c->vdata[i] = (float *)(void *)(base + bofs[(uint32_t)(-(v.data_index + 1))]);
        }
    }
}

static void diag_reset(nnbrt_diag *d)
{
    if (d) d->function_index = d->function_id = d->variable_index = -1;
}

static nnbrt_status arena_size(const void *image, size_t image_len, unsigned flags, size_t *bytes,
                               nnbrt_diag *diag)
{
    ctx_t c;
    layout_t L;
    nnbrt_tensor t[NNBRT_CHECK_IO];
    nnbrt_qw qbuf;
    nnbrt_args a;
    nnbrt_status st;
    diag_reset(diag);
    if (!image || !bytes) return NNBRT_E_NULL_ARG;
    memset(&c, 0, sizeof c);
    c.img = (const uint8_t *)image;
    c.len = image_len;
    c.diag = diag;
    c.flags = flags;
    if ((st = validate_structure(&c, &L)) != NNBRT_OK) return st;
    if ((st = check_functions(&c, t, NNBRT_CHECK_IO, &qbuf, &a)) != NNBRT_OK) return st;
    if ((st = finish_layout(&c, &L)) != NNBRT_OK) return st;
    *bytes = L.total;
    return NNBRT_OK;
}

nnbrt_status nnbrt_arena_size_diag(const void *image, size_t image_len, size_t *bytes,
                                   nnbrt_diag *diag)
{
    return arena_size(image, image_len, 0, bytes, diag);
}

nnbrt_status nnbrt_arena_size(const void *image, size_t image_len, size_t *bytes)
{
    return arena_size(image, image_len, 0, bytes, NULL);
}

nnbrt_status nnbrt_arena_size_flags(const void *image, size_t image_len, unsigned flags, size_t *bytes)
{
    return arena_size(image, image_len, flags, bytes, NULL);
}

static nnbrt_status init(nnbrt_net **netp, const void *image, size_t image_len, void *arena,
                         size_t arena_len, unsigned flags, nnbrt_diag *diag)
{
    layout_t L;
    size_t pad;
    uint8_t *base;
    struct nnbrt_net *net;
    ctx_t *c;
    nnbrt_status st;
    diag_reset(diag);
    if (!netp || !image || !arena) return NNBRT_E_NULL_ARG;
    *netp = NULL;
    pad = (ALIGN - (uintptr_t)arena % ALIGN) % ALIGN;
    /* the network struct (with the image view) goes first in the arena */
    if (arena_len < pad || arena_len - pad < sizeof(struct nnbrt_net)) return NNBRT_E_ARENA_TOO_SMALL;
    base = (uint8_t *)arena + pad;
    net = (struct nnbrt_net *)(void *)base;
    memset(net, 0, sizeof *net);
    c = &net->c;
    c->img = (const uint8_t *)image;
    c->len = image_len;
    c->diag = diag;
    c->flags = flags;
    if ((st = validate_structure(c, &L)) != NNBRT_OK) return st;
    /* the tables, private storage and tensors must fit before anything is
       written; the scratch is known after the kernel checks */
    if (arena_len - pad < L.scratch) return NNBRT_E_ARENA_TOO_SMALL;
    memset(base + L.vdata, 0, L.scratch - L.vdata); /* tables, private storage, tensors */
    c->vdata = (float **)(void *)(base + L.vdata);
    assign_storage(c, &L, base);
    net->tens = (nnbrt_tensor *)(void *)(base + L.tens);
    net->qw = (nnbrt_qw *)(void *)(base + L.qw);
    net->plan = base + L.plan;
    if (c->place) c->sofs = (uint32_t *)(void *)(base + L.sofs);
    if ((st = check_functions(c, net->tens, c->max_io, net->qw, &net->args)) != NNBRT_OK) return st;
    if ((st = finish_layout(c, &L)) != NNBRT_OK) return st;
    if (arena_len < L.total) return NNBRT_E_ARENA_TOO_SMALL;
    /* the data-flow table from L.io on (finish_layout), then those bytes zeroed as before */
    if ((st = check_dataflow(c, (int32_t *)(void *)(base + L.io))) != NNBRT_OK) return st;
    {
        const size_t df = dataflow_bytes(c), held = L.scratch - L.io;
        memset(base + L.io, 0, df < held ? df : held);
    }
    stage_parameters(c);
    net->scratch = (float *)(void *)(base + L.scratch);
    net->arena.tables = L.io;
    net->arena.io = (c->ext ? L.plan : L.bufs) - L.io;
    net->arena.tensors = L.scratch - (c->ext ? L.plan : L.bufs);
#ifdef NNBRT_PREPARE
    if (c->npersist) {
        net->ptab = (const uint32_t *)(void *)(base + L.persist);
        (void)persist_bytes(c, &net->packed);
        prepare_functions(c, net->tens, net->qw, &net->args, (uint32_t *)(void *)(base + L.persist));
    }
    net->arena.scratch = L.total - L.scratch - net->packed; /* slack counted as scratch, as before */
#else
    net->arena.scratch = L.total - L.scratch;
#endif
    net->arena.total = L.total;
    c->diag = NULL;
    *netp = net;
    return NNBRT_OK;
}

nnbrt_status nnbrt_init_diag(nnbrt_net **net, const void *image, size_t image_len,
                             void *arena, size_t arena_len, nnbrt_diag *diag)
{
    return init(net, image, image_len, arena, arena_len, 0, diag);
}

nnbrt_status nnbrt_init(nnbrt_net **net, const void *image, size_t image_len, void *arena,
                        size_t arena_len)
{
    return init(net, image, image_len, arena, arena_len, 0, NULL);
}

nnbrt_status nnbrt_init_flags(nnbrt_net **net, const void *image, size_t image_len, void *arena,
                              size_t arena_len, unsigned flags)
{
    return init(net, image, image_len, arena, arena_len, flags, NULL);
}

nnbrt_status nnbrt_set_input(nnbrt_net *net, int i, float *data)
{
    if (!net || !data) return NNBRT_E_NULL_ARG;
    if (i < 0 || (uint32_t)i >= net->c.h.num_inputs) return NNBRT_E_BAD_INDEX;
    net->c.vdata[net->c.in_ids[i]] = data;
    return NNBRT_OK;
}

nnbrt_status nnbrt_run(nnbrt_net *net)
{
    if (!net) return NNBRT_E_NULL_ARG;
    return nnbrt_run_range(net, 0, (int)(net->c.h.num_functions > 0x7fffffffu
                                             ? 0x7fffffffu : net->c.h.num_functions));
}

/* Round to the fixed-point grid of a FIXED16/FIXED8 variable: half away from zero, saturated
   symmetrically (kernels/fixed_mac.c, the simulation's rule). */
static void quantize(float *d, size_t n, int type, int fp)
{
    nnbrt_fixed_round_n(d, n, fp, type == 1 ? 32767 : 127);
}

/* Quantize variable id if it is fixed-point (and not a parameter). */
static NOINLINE void quantize_var(const ctx_t *c, int32_t id)
{
    struct nnbrt_var v;
    (void)decode_var(c, (uint32_t)id, &v);
    if (IS_FIXED(v.type) && v.data_index < 0) quantize(c->vdata[id], v.size, v.type, v.fp);
}

/* The type byte of variable id's record (the image was validated: the record exists). */
static uint8_t var_type_byte(const ctx_t *c, int32_t id)
{
    const uint8_t *r = NULL;
    (void)chunk_ptr(c, c->var_list[id], 20, &r);
    return r ? r[12] : 0u;
}

/* A fixed-point file: run the function in integers where it has an integer form and every
   input and its output are fixed point (kernels/fixed_mac.c). Returns 1 if it ran. */
static NOINLINE int run_fixed(const nnbrt_net *net)
{
    const fn_t *f = &net->f;
    int fin[NNBRT_FIXED_MAX_IN];
    uint32_t j;
    uint8_t t;
    if (f->nout != 1 || f->nin < 1 || f->nin > NNBRT_FIXED_MAX_IN) return 0;
    for (j = 0; j < f->nin; ++j) {
        t = var_type_byte(&net->c, f->ins[j]);
        if (!IS_FIXED(t & 0x0f)) return 0;
        fin[j] = t >> 4;
    }
    t = var_type_byte(&net->c, f->outs[0]);
    if (!IS_FIXED(t & 0x0f)) return 0;
    return nnbrt_fixed_dispatch(f->k, &net->args, (int)f->nin, net->tens, fin, net->tens + f->nin, t >> 4,
                           (t & 0x0f) == 1 ? 32767 : 127);
}

nnbrt_status nnbrt_run_range(nnbrt_net *net, int first, int last)
{
    uint32_t i, end, j;
#ifdef NNBRT_PREPARE
    uint32_t pk = 0; /* next entry of the load-time table, in step with i */
#endif
    if (!net) return NNBRT_E_NULL_ARG;
    if (first < 0) first = 0;
    end = last < 0 ? 0u : (uint32_t)last;
    if (end > net->c.h.num_functions) end = net->c.h.num_functions;
    for (i = 0; i < net->c.h.num_inputs; ++i)
        if (!net->c.vdata[net->c.in_ids[i]]) return NNBRT_E_NULL_ARG; /* external input not set */
    if (first == 0 && net->c.has_fixed)
        for (i = 0; i < net->c.h.num_inputs; ++i) quantize_var(&net->c, net->c.in_ids[i]);
    for (i = (uint32_t)first; i < end; ++i) {
        /* the image was validated by nnbrt_init: these decode without error;
           the working set lives in the arena, not on the stack */
        (void)decode_fn(&net->c, i, &net->f);
        (void)read_args(&net->c, net->c.data + rd32(net->c.index + 4u * (uint32_t)net->f.rec), net->f.code,
                        &net->args);
        net->args.scratch = net->c.sofs ? (float *)(void *)(net->plan + net->c.sofs[i]) : net->scratch;
        run_tensors(&net->c, &net->f, net->tens, net->qw);
#ifdef NNBRT_PREPARE
        while (pk < net->c.npersist && net->ptab[2 * pk] < i) ++pk; /* (first > 0: skip earlier entries) */
        if (pk < net->c.npersist && net->ptab[2 * pk] == i) {
            net->tens[0].prep = (uint8_t *)(uintptr_t)net->ptab + net->ptab[2 * pk + 1];
            ++pk;
        }
#endif
        if (!net->c.has_fixed || !run_fixed(net)) {
            net->f.k->run(&net->args, (int)net->f.nin, net->tens, (int)net->f.nout, net->tens + net->f.nin);
            if (net->c.has_fixed) /* a float kernel: its outputs rounded to their grids */
                for (j = 0; j < net->f.nout; ++j) quantize_var(&net->c, net->f.outs[j]);
        }
    }
    return NNBRT_OK;
}

int nnbrt_num_inputs(const nnbrt_net *net) { return net ? (int)net->c.h.num_inputs : 0; }
int nnbrt_num_outputs(const nnbrt_net *net) { return net ? (int)net->c.h.num_outputs : 0; }

static nnbrt_status io_get(const nnbrt_net *net, int out, int i, float **data,
                           const int32_t **shape, int *ndim, size_t *elements)
{
    struct nnbrt_var v;
    int32_t id;
    if (!net) return NNBRT_E_NULL_ARG;
    if (i < 0 || (uint32_t)i >= (out ? net->c.h.num_outputs : net->c.h.num_inputs))
        return NNBRT_E_BAD_INDEX;
    id = out ? net->c.out_ids[i] : net->c.in_ids[i];
    (void)decode_var(&net->c, (uint32_t)id, &v);
    if (data) *data = net->c.vdata[id];
    if (shape) *shape = v.dims;
    if (ndim) *ndim = v.ndim;
    if (elements) *elements = v.size;
    return NNBRT_OK;
}

nnbrt_status nnbrt_input(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim)
{
    return io_get(net, 0, i, data, shape, ndim, NULL);
}

nnbrt_status nnbrt_output(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim)
{
    return io_get(net, 1, i, data, shape, ndim, NULL);
}

nnbrt_status nnbrt_input_size(const nnbrt_net *net, int i, size_t *elements)
{
    return io_get(net, 0, i, NULL, NULL, NULL, elements);
}

nnbrt_status nnbrt_output_size(const nnbrt_net *net, int i, size_t *elements)
{
    return io_get(net, 1, i, NULL, NULL, NULL, elements);
}

nnbrt_status nnbrt_get_arena_info(const nnbrt_net *net, nnbrt_arena_info *info)
{
    if (!net || !info) return NNBRT_E_NULL_ARG;
    *info = net->arena;
    return NNBRT_OK;
}

nnbrt_status nnbrt_get_header(const nnbrt_net *net, nnbrt_header_info *info)
{
    if (!net || !info) return NNBRT_E_NULL_ARG;
    *info = net->c.h;
    return NNBRT_OK;
}

nnbrt_status nnbrt_variable(const nnbrt_net *net, int v, const int32_t **shape, int *ndim,
                            size_t *elements, int32_t *data_index)
{
    struct nnbrt_var p;
    if (!net) return NNBRT_E_NULL_ARG;
    if (v < 0 || (uint32_t)v >= net->c.h.num_variables) return NNBRT_E_BAD_INDEX;
    (void)decode_var(&net->c, (uint32_t)v, &p);
    if (shape) *shape = p.dims;
    if (ndim) *ndim = p.ndim;
    if (elements) *elements = p.size;
    if (data_index) *data_index = p.data_index;
    return NNBRT_OK;
}

nnbrt_status nnbrt_variable_plan(const nnbrt_net *net, int v, int32_t *plan)
{
    if (!net || !plan) return NNBRT_E_NULL_ARG;
    if (v < 0 || (uint32_t)v >= net->c.h.num_variables) return NNBRT_E_BAD_INDEX;
    *plan = net->c.ext ? net->c.plan[v] : 0;
    return NNBRT_OK;
}

nnbrt_status nnbrt_function(const nnbrt_net *net, int f, int *id, const char **name, int *nin,
                            const int32_t **inputs, int *nout, const int32_t **outputs)
{
    fn_t p;
    if (!net) return NNBRT_E_NULL_ARG;
    if (f < 0 || (uint32_t)f >= net->c.h.num_functions) return NNBRT_E_BAD_INDEX;
    (void)decode_fn(&net->c, (uint32_t)f, &p);
    if (id) *id = (int)p.type;
    if (name) *name = p.k->name;
    if (nin) *nin = (int)p.nin;
    if (inputs) *inputs = p.ins;
    if (nout) *nout = (int)p.nout;
    if (outputs) *outputs = p.outs;
    return NNBRT_OK;
}

uint64_t nnbrt_work_estimate(const nnbrt_net *net) { return net ? net->c.work : 0; }

size_t nnbrt_packed_bytes(const nnbrt_net *net)
{
#ifdef NNBRT_PREPARE
    return net ? net->packed : 0;
#else
    (void)net;
    return 0;
#endif
}

const char *nnbrt_status_str(nnbrt_status st)
{
    static const char *const s[NNBRT_STATUS_COUNT] = {
        "ok",
        "null argument",
        "image not 4-byte aligned",
        "truncated file",
        "bad version (not 2, 3 or 1001) or extended header",
        "api_level too new",
        "chunk index out of range",
        "bad chunk offset in index table",
        "bad list length (list does not fit its chunk)",
        "bad shape",
        "bad variable",
        "unsupported variable type (FLOAT, FIXED16, FIXED8, SIGN parameters; extended files: FLOAT, packed LUT/uniform weights, int8/int32 for int8 records)",
        "parameter data too small for shape",
        "bad buffer reference",
        "bad function input/output count",
        "bad function argument",
        "unsupported function argument",
        "variable shapes inconsistent with function",
        "unsupported function",
        "arena too small",
        "index out of range",
        "size overflow",
        "bad arena plan",
        "bad quantized weight or descriptor",
        "tensor read before it is written (file order), or a network output no function writes",
        "output shares storage with an input the kernel cannot work in place on",
        "function writes over a tensor that is still to be read (live tensors overlap)",
        "arena above NNBRT_MAX_ARENA",
    };
    if ((unsigned)st >= (unsigned)NNBRT_STATUS_COUNT) return "unknown status";
    return s[st];
}

/* newlib (arm-none-eabi): libm's float functions (expf, logf, tanhf, ...)
   report range errors through __errno(), which links newlib's 1 KB
   reentrancy struct into .data. The runtime never reads errno, so on newlib
   errno is one int here (the library is built with -fno-math-errno, so
   sqrtf and the like are instructions without errno). Build with
   -DNNBRT_LIBC_ERRNO to keep newlib's. */
#if defined(__NEWLIB__) && !defined(NNBRT_LIBC_ERRNO)
#include <errno.h>
int *__errno(void)
{
    static int e;
    return &e;
}
#endif
