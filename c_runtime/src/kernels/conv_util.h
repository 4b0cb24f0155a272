/* Geometry shared by convolution-like and pooling kernels (2-D; 1-D as H=1). */
#ifndef NNBRT_CONV_UTIL_H
#define NNBRT_CONV_UTIL_H
#include <math.h>

#include "../internal.h"

/* Run-time instruction-set dispatch (Makefile DISPATCH=1, x86-64 gcc/clang):
   conv_engine.c, conv_gemm.c and conv_dwflat.c are compiled once per
   instruction set with NNBRT_ISA_SUFFIX set (_base, _avx2, _avx512), which
   renames every function they define; conv_dispatch.c defines the plain
   names and calls the variant this CPU runs. */
#ifdef NNBRT_ISA_SUFFIX
#define NNBRT_CAT2(a, b) a##b
#define NNBRT_CAT(a, b) NNBRT_CAT2(a, b)
#define nnbrt_conv_engine_scratch NNBRT_CAT(nnbrt_conv_engine_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_conv_engine NNBRT_CAT(nnbrt_conv_engine, NNBRT_ISA_SUFFIX)
#define nnbrt_conv_scratch NNBRT_CAT(nnbrt_conv_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_conv_forward NNBRT_CAT(nnbrt_conv_forward, NNBRT_ISA_SUFFIX)
#define nnbrt_qconv_scratch NNBRT_CAT(nnbrt_qconv_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_qconv NNBRT_CAT(nnbrt_qconv, NNBRT_ISA_SUFFIX)
#define nnbrt_gemm_scratch NNBRT_CAT(nnbrt_gemm_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_gemm_conv NNBRT_CAT(nnbrt_gemm_conv, NNBRT_ISA_SUFFIX)
#define nnbrt_dwflat_scratch NNBRT_CAT(nnbrt_dwflat_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_dwflat_conv NNBRT_CAT(nnbrt_dwflat_conv, NNBRT_ISA_SUFFIX)
#define nnbrt_sgemm NNBRT_CAT(nnbrt_sgemm, NNBRT_ISA_SUFFIX)
#define nnbrt_pack_bytes NNBRT_CAT(nnbrt_pack_bytes, NNBRT_ISA_SUFFIX)
#define nnbrt_pack_fill NNBRT_CAT(nnbrt_pack_fill, NNBRT_ISA_SUFFIX)
#define nnbrt_pack_conv NNBRT_CAT(nnbrt_pack_conv, NNBRT_ISA_SUFFIX)
#define nnbrt_pack_scratch NNBRT_CAT(nnbrt_pack_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_big_pack_bytes NNBRT_CAT(nnbrt_big_pack_bytes, NNBRT_ISA_SUFFIX)
#define nnbrt_big_pack_fill NNBRT_CAT(nnbrt_big_pack_fill, NNBRT_ISA_SUFFIX)
#define nnbrt_big_pack_conv NNBRT_CAT(nnbrt_big_pack_conv, NNBRT_ISA_SUFFIX)
#endif

/* The lane shuffle of two GNU vectors by a constant index list (ivec: the
   index vector type gcc's __builtin_shuffle wants; clang takes the list). */
#if defined(__clang__)
#define NNBRT_VSHUF(ivec, a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
#else
#define NNBRT_VSHUF(ivec, a, b, ...) __builtin_shuffle((a), (b), (ivec){__VA_ARGS__})
#endif

typedef struct {
    size_t outer;          /* product of dims before the channel axis */
    int C, OC;             /* input / output channels */
    int IH, IW, OH, OW;    /* spatial sizes */
    int KH, KW, PH, PW, SH, SW, DH, DW;
} nnbrt_geom;

/* Reads nsp (1 or 2) spatial values of a list argument (count must be nsp),
   storing into h/w (1-D: h = dflt). Returns 0 on failure. */
int nnbrt_geom_list(const nnbrt_arg *g, int nsp, int dflt, int *h, int *w);

/* Validate a convolution-like call and fill geometry. deconv: x/y roles of
   the spatial formula are swapped. Returns status. */
nnbrt_status nnbrt_conv_check(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                              const nnbrt_tensor *out, int kind, nnbrt_geom *g, nnbrt_cost *work);
enum { NNBRT_CONV = 0, NNBRT_DEPTHWISE = 1, NNBRT_DECONV = 2 };
/* Fill geometry at run time (arguments were validated). */
void nnbrt_conv_geom(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                     int kind, nnbrt_geom *g);

/* y[OH x OW] += w (*) x[IH x IW]  (one input plane into one output plane). */
void nnbrt_conv_plane(const float *x, const float *w, float *y, const nnbrt_geom *g);
/* y[OH x OW] += scatter of x[IH x IW] (transposed convolution, one plane pair). */
void nnbrt_deconv_plane(const float *x, const float *w, float *y, const nnbrt_geom *g);

/* Scratch bytes of the fast convolution path (SIZE_MAX on overflow), and
   the fast convolution itself (conv and depthwise = conv with group = C). */
size_t nnbrt_conv_scratch(size_t group, const nnbrt_geom *g);
void nnbrt_conv_forward(size_t group, float *scratch, int nin, const nnbrt_tensor *in,
                        const nnbrt_tensor *out, const nnbrt_geom *g);

/* FusedConv epilogue: conv -> [pool] -> [+ res] -> [act]. */
typedef struct {
    int pool;                   /* 0 none, 1 max, 2 average */
    int KH, KW, SH, SW, PH, PW; /* pooling window */
    int OH, OW;                 /* pooled output size */
    int including_pad;
    int act;                    /* 0 none, 1 relu, 2 relu6 */
    const float *res;           /* residual, output shape (may alias y), or NULL */
} nnbrt_fuse;
size_t nnbrt_conv_engine_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_conv_engine(size_t group, float *scratch, const float *x, const float *w,
                       const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f);

/* GEMM forms (conv_gemm.c) of unpooled convolutions: large layers (any
   group count) the register-blocked GEMM of conv_gemm_big.h; small
   ungrouped ones: 1x1 stride-1 read the input in place, small strided or
   narrow ones an im2col panel of a few columns. Scratch bytes, or SIZE_MAX when the form does not apply;
   nnbrt_gemm_conv returns 0 (doing nothing) in that case. */
size_t nnbrt_gemm_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
int nnbrt_gemm_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                    float *y, const nnbrt_geom *g, const nnbrt_fuse *f);

/* C[M x N] (row stride ldc) = A[M x K] (row-major) x B[K x N] (row stride
   ldb), with the GEMM micro-kernel (conv_gemm.c). */
void nnbrt_sgemm(size_t M, size_t N, size_t K, const float *A, const float *B, size_t ldb, float *C, size_t ldc);

/* Depthwise form (conv_dwflat.c) for narrow same-size maps: each plane as
   one flat vector, out-of-row taps masked. Same conventions as above. */
size_t nnbrt_dwflat_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
int nnbrt_dwflat_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                      float *y, const nnbrt_geom *g, const nnbrt_fuse *f);

/* Scalar kernels for small in-order cores (conv_mcu.c): on M-profile Arm
   (Cortex-M) unless NNBRT_NO_MCU_KERNELS, nnbrt_conv_engine and its scratch
   rule are these (the vector engine, conv_gemm.c and conv_dwflat.c are not
   linked); -DNNBRT_MCU_KERNELS builds them anywhere (the host tests do).
   Same arguments and results as nnbrt_conv_engine. */
#if !defined(NNBRT_MCU_KERNELS) && !defined(NNBRT_NO_MCU_KERNELS) && defined(__ARM_ARCH_PROFILE)
#if __ARM_ARCH_PROFILE == 'M'
#define NNBRT_MCU_KERNELS 1
#endif
#endif
size_t nnbrt_mcu_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_mcu_conv(size_t group, float *scratch, const float *x, const float *w, const float *bias, float *y,
                    const nnbrt_geom *g, const nnbrt_fuse *f);
/* The same on a block of g (nnbrt_qconv's blocks): outer, C, OC and the
   residual (instead of f->res) from b, the rest of g and f as they are; no
   geometry or fuse copy in the caller's frame. b NULL: nnbrt_mcu_conv. */
typedef struct {
    size_t outer;
    int C, OC;
    const float *res;
} nnbrt_mcu_blk;
void nnbrt_mcu_conv_blk(size_t group, float *scratch, const float *x, const float *w, const float *bias, float *y,
                        const nnbrt_geom *g, const nnbrt_fuse *f, const nnbrt_mcu_blk *b);

#ifdef NNBRT_PREPARE
/* Weights packed once at load (conv_engine.c; internal.h NNBRT_PREPARE):
   nnbrt_pack_bytes: bytes this layer's packed weights take, 0 when the
   engine has no packed form for it (or it would not pay, or NNBRT_PACK=0
   in the environment: nnbrt_pack_enabled); nnbrt_pack_fill: writes them
   (w: nnabla's float weight order, bias may be NULL) into dst (64-byte
   aligned, nnbrt_pack_bytes bytes); nnbrt_pack_conv: the convolution from
   them, same results as nnbrt_conv_engine to float reordering (bias, f's
   residual and activation included), with nnbrt_pack_scratch bytes of
   scratch (the kernel's check reserves the larger of it and the engine's);
   returns 0 doing nothing when pk is NULL or the form does not apply. The
   arguments must be those given to nnbrt_pack_bytes (the residual pointer
   aside). */
size_t nnbrt_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                     void *dst);
size_t nnbrt_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
int nnbrt_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                    const nnbrt_fuse *f);
/* The same for the large-layer GEMM (conv_gemm_big.h), which the nnbrt_pack_* functions try first; its
   scratch is nnbrt_gemm_scratch's. */
size_t nnbrt_big_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_big_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                         void *dst);
int nnbrt_big_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                        const nnbrt_fuse *f);
/* 0 when the environment variable NNBRT_PACK is "0" (read once; conv_dispatch.c). */
int nnbrt_pack_enabled(void);
#endif

/* Packed (quantized) weights: the same convolution with w decoded a block
   of output channels at a time (whole groups when a group is small) into
   scratch; each block runs the engine on its channels. */
size_t nnbrt_qconv_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_qconv(size_t group, float *scratch, const float *x, const nnbrt_qw *w,
                 const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f);

/* Pooling: arguments kernel, stride, ignore_border, pad, channel_last. */
nnbrt_status nnbrt_pool_check(const nnbrt_args *a, const nnbrt_tensor *in,
                              const nnbrt_tensor *out, nnbrt_cost *work);
void nnbrt_pool_geom(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                     nnbrt_geom *g);
/* The same from pointers to the arguments (FusedConv's pooling arguments sit
   elsewhere in its list; no nnbrt_args copy on the stack). */
typedef struct {
    const nnbrt_arg *kernel, *stride, *pad;
    int ignore_border, channel_last;
} nnbrt_pool_args;
nnbrt_status nnbrt_pool_check_p(const nnbrt_pool_args *a, const nnbrt_tensor *in,
                                const nnbrt_tensor *out, nnbrt_cost *work);
void nnbrt_pool_geom_p(const nnbrt_pool_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                       nnbrt_geom *g);
/* MaxPooling (op 1) or SumPooling (op 0) of checked arguments: rows folded
   with nnbrt_pool_fold; REF=1 builds the plain cell-by-cell loops. */
void nnbrt_pool_run(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out, int op);

/* One axis of a pooling window, nnabla's rule: window o covers [o*s - p,
   o*s - p + k) cut at in + p (its padded extent, returned), then clipped to
   [0, in) (*s0, *e0; empty when *e0 <= *s0). */
static inline long nnbrt_pool_window(long o, long k, long s, long p, long in, long *s0, long *e0)
{
    long st = o * s - p, en = st + k, padded;
    if (en > in + p) en = in + p;
    padded = en - st;
    if (st < 0) st = 0;
    if (en > in) en = in;
    *s0 = st;
    *e0 = en;
    return padded;
}

/* Pooling along a row: out (ow pooled columns, window kw, stride sw, pad pw)
   accumulates one input row of width iw, max (op 1) or sum (else). The
   windows that lie whole inside the row (interior) run without clipping;
   the common 2-wide stride-2 windows and 3-wide stride-2 max windows in
   loops the compiler vectorises.
   Static inline: each instruction-set variant of the including file gets
   its own copy. */
typedef struct {
    int op;
    long kw, sw, pw, ow, iw;
    long lo, hi; /* interior pooled columns */
} nnbrt_pool_row;

static inline nnbrt_pool_row nnbrt_pool_row_plan(int op, long kw, long sw, long pw, long ow, long iw)
{
    nnbrt_pool_row r;
    r.op = op;
    r.kw = kw;
    r.sw = sw;
    r.pw = pw;
    r.ow = ow;
    r.iw = iw;
    r.lo = pw <= 0 ? 0 : (pw + sw - 1) / sw;
    r.hi = iw + pw < kw ? 0 : (iw + pw - kw) / sw + 1;
    if (r.hi > ow) r.hi = ow;
    if (r.lo > r.hi) r.lo = r.hi;
    return r;
}

/* The later cell v wins only if greater (nnabla 1.39's max): a NaN v never,
   a NaN m stays; x86's maxps(v, m) is exactly this, so the loops below
   vectorise to it. */
static inline float nnbrt_max_step(float m, float v)
{
    return v > m ? v : m;
}

/* first: this is the first input row of the out windows (max: each window
   starts from its first cell and takes the later cells one at a time, in
   nnabla's order, so a NaN first cell is the result and a later NaN is
   skipped; sum: ignored, out holds 0 before). */
static inline void nnbrt_pool_fold(const nnbrt_pool_row *r, float *out, const float *row, int first)
{
    long o, q, s0, e0;
    const long n = r->hi - r->lo;
    const int mx = r->op == 1, fm = mx && first;
    /* first interior window (only formed when there is one: lo*sw >= pw then) */
    const float *c = n > 0 ? row + (r->lo * r->sw - r->pw) : row;
    float *a = out + r->lo;
    for (o = 0; o < r->ow; ++o) { /* clipped windows at the borders */
        float m;
        if (o == r->lo && n > 0) {
            o = r->hi - 1; /* the interior, below */
            continue;
        }
        nnbrt_pool_window(o, r->kw, r->sw, r->pw, r->iw, &s0, &e0);
        m = !fm ? out[o] : e0 > s0 ? row[s0] : -INFINITY;
        if (mx) {
            for (q = s0; q < e0; ++q) m = nnbrt_max_step(m, row[q]);
        } else {
            for (q = s0; q < e0; ++q) m += row[q];
        }
        out[o] = m;
    }
    if (r->kw == 2 && r->sw == 2 && fm) {
        for (o = 0; o < n; ++o) a[o] = nnbrt_max_step(c[2 * o], c[2 * o + 1]);
    } else if (r->kw == 2 && r->sw == 2 && mx) {
        for (o = 0; o < n; ++o) a[o] = nnbrt_max_step(nnbrt_max_step(a[o], c[2 * o]), c[2 * o + 1]);
    } else if (r->kw == 2 && r->sw == 2) {
        for (o = 0; o < n; ++o) a[o] += c[2 * o] + c[2 * o + 1];
    } else if (r->kw == 3 && r->sw == 2 && fm) { /* ResNet's stem pooling */
        for (o = 0; o < n; ++o) a[o] = nnbrt_max_step(nnbrt_max_step(c[2 * o], c[2 * o + 1]), c[2 * o + 2]);
    } else if (r->kw == 3 && r->sw == 2 && mx) {
        for (o = 0; o < n; ++o)
            a[o] = nnbrt_max_step(nnbrt_max_step(nnbrt_max_step(a[o], c[2 * o]), c[2 * o + 1]), c[2 * o + 2]);
    } else {
        for (o = 0; o < n; ++o) {
            const float *cw = c + o * r->sw;
            float m = fm ? cw[0] : a[o];
            if (mx) {
                for (q = 0; q < r->kw; ++q) m = nnbrt_max_step(m, cw[q]);
            } else {
                for (q = 0; q < r->kw; ++q) m += cw[q];
            }
            a[o] = m;
        }
    }
}
#endif
