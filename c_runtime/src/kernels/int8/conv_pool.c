/* int8 convolution + max pool and Q8QConv (conv_pool.h), so that neither the unpooled convolution output nor the
 * quantized input sample is ever whole in scratch:
 *  - convolution + max pool: on the portable and Cortex-M levels the direct form (conv_direct.c): each pooled
 *    pixel from its window's accumulators, no scratch. On x86-64 with AVX-512 VNNI + VBMI, layers the row-quads
 *    form takes (one input channel or >= 5 kernel columns, group 1) the same idea in registers (conv_x86_pool.c:
 *    sixteen positions x sixteen channels per VPDPBUSD block, the window's extreme by VPMAXSD / VPERMD, only it
 *    requantized; the last channel's weights in scratch). On other x86-64 levels and layers with their own forms
 *    (conv_x86.c, more scratch, faster), blocks of output channels of a sample are computed whole and pooled
 *    (NNBRT_Q8_POOL_SCRATCH bytes of convolution output at most; grouped layers one block);
 *  - Q8QConv with a pool: for each pooled row only the input rows its convolution rows read are quantized
 *    (padding rows as the input's zero point, so the band is an unpadded input of its own) and run through the
 *    direct form or the x86 pooled form (that one keeps the rows the next band shares: each input row quantized
 *    once); other x86-64 levels with their own forms: the whole sample, then the channel blocks; without a pool
 *    the whole sample (padding rows included) is quantized and convolved straight into the output.
 * Every path computes the same integers as nnb_i8_conv2d + nnb_i8_max_pool2d over the whole sample (max
 * pooling never counts taps outside the convolution output; a window with none gives -128). */
#include "conv_pool.h"

#include <string.h>

#include "conv_x86_pool.h"
#include "i8_host.h"

#ifndef NNBRT_Q8_POOL_SCRATCH
#define NNBRT_Q8_POOL_SCRATCH 4608u
#endif

static size_t al4(size_t n) { return (n + 3u) & ~(size_t)3u; }
static size_t al64(size_t n) { return (n + 63u) & ~(size_t)63u; }

/* the pool's geometry over p's output (checked by the callers' record checks; here only what indexing needs) */
static int pool_ok(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp)
{
    return pp && pp->h == p->oh && pp->w == p->ow && pp->oh > 0 && pp->ow > 0 && pp->kh > 0 && pp->kw > 0 &&
           pp->stride_h > 0 && pp->stride_w > 0 && pp->pad_h >= 0 && pp->pad_w >= 0;
}

/* band k's convolution rows [*a, *b): pooled row k's window rows clipped to the output, or every row (no pool:
   bands of a few rows cost a call of the convolution each, its set-up and part-filled quads, 12 % more
   instructions for zoo dscnn on the M4 with two rows, for no smaller scratch there); empty (a >= b) when a
   window lies wholly in the padding */
static void band_rows(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int32_t k, int32_t *a, int32_t *b)
{
    if (!pp) {
        *a = 0;
        *b = p->oh;
        (void)k;
        return;
    }
    *a = k * pp->stride_h - pp->pad_h;
    *b = *a + pp->kh;
    if (*a < 0) *a = 0;
    if (*b > p->oh) *b = p->oh;
}

static int32_t bands(const nnb_i8_pool_params *pp) { return pp ? pp->oh : 1; }

/* the most convolution rows one band holds */
static int32_t band_max(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp)
{
    int32_t k, a, b, m = 0;
    for (k = 0; k < bands(pp); ++k) {
        band_rows(p, pp, k, &a, &b);
        m = b - a > m ? b - a : m;
    }
    return m;
}

/* a pooled row whose windows read no convolution output: -128 in every channel */
static void empty_row(const nnb_i8_pool_params *pp, int32_t o, int8_t *y, size_t ystride)
{
    int32_t ch;
    for (ch = 0; ch < o; ++ch) memset(y + (size_t)ch * ystride, -128, (size_t)pp->ow);
}

/* ---- convolution + max pool ---- */

/* the direct form (conv_direct.c, no scratch) takes a pooled convolution on the portable and Cortex-M levels;
   x86-64 levels with their own forms keep the channel blocks (faster there, more scratch) */
static int direct_now(void)
{
#if NNB_I8_X86
    return nnb_i8_isa_level(-1) == 0;
#else
    return 1;
#endif
}

/* the direct form's scratch: none, reported as 4 bytes (0 means a refused geometry) */
#define DIRECT_BYTES 4u

/* output channels of one pooled block: as many as NNBRT_Q8_POOL_SCRATCH bytes hold, equal blocks (the kernel
   picks its path by channel count); grouped convolutions one block */
static int32_t pool_block(const nnb_i8_conv_params *p)
{
    const size_t plane = (size_t)p->oh * (size_t)p->ow;
    size_t b = NNBRT_Q8_POOL_SCRATCH / plane;
    if (p->group != 1 || b >= (size_t)p->o) return p->o;
    while (b > 1 && p->o % (int32_t)b) --b;
    return b < 1 ? 1 : (int32_t)b;
}

static size_t conv_need(const nnb_i8_conv_params *p, int now)
{
    return now ? nnb_i8_conv_scratch_run(p) : nnb_i8_conv_scratch(p);
}

/* bytes of one block's convolution output (grouped: every sample and channel at once) */
static size_t block_conv_bytes(const nnb_i8_conv_params *p)
{
    return al4((size_t)(p->group == 1 ? 1 : p->n) * (size_t)pool_block(p) * (size_t)p->oh * (size_t)p->ow);
}

/* pool_block divides the channels, so every block has the same scratch */
static size_t block_bytes(const nnb_i8_conv_params *p, int now)
{
    nnb_i8_conv_params one = *p;
    one.n = p->group == 1 ? 1 : p->n;
    one.o = pool_block(p);
    return block_conv_bytes(p) + 2u * conv_need(&one, now) + 4u;
}

#if NNB_I8_X86
/* x86-64 with VNNI + VBMI: the pooled form in registers (conv_x86_pool.c), when it takes the layer */
static int xpool_now(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp)
{
    return nnb_i8_x86_pool_ok(p, pp);
}
#endif

size_t nnb_i8_conv_pool_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now)
{
    if (!p || !pool_ok(p, pp) || !nnb_i8_conv_ok(p)) return 0;
    if (now && direct_now()) return DIRECT_BYTES;
#if NNB_I8_X86
    if (now && xpool_now(p, pp)) return nnb_i8_x86_pool_scratch(p);
    {
        const size_t blocks = block_bytes(p, now), xp = nnb_i8_x86_pool_scratch(p);
        return now || blocks > xp ? blocks : xp; /* any CPU (now == 0): the larger form */
    }
#else
    return DIRECT_BYTES;
#endif
}

static int run_blocks(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y, uint8_t *s,
                      size_t bytes)
{
    nnb_i8_conv_params one = *p;
    nnb_i8_pool_params po = *pp;
    const int32_t block = pool_block(p);
    const size_t klen = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    const size_t in_plane = (size_t)p->c * (size_t)p->h * (size_t)p->w, pooled = (size_t)pp->oh * (size_t)pp->ow;
    const size_t conv_bytes = block_conv_bytes(p);
    int8_t *conv = (int8_t *)(void *)s;
    int16_t *col = (int16_t *)(void *)(s + conv_bytes);
    const size_t col_len = (bytes - conv_bytes - 4u) / 2u;
    int32_t nn, o0;
    if (p->group != 1) { /* one block: every sample and channel */
        po.n = p->n * p->o;
        if (nnb_i8_conv2d(p, x, w, bias, mult, shift, NULL, NULL, NULL, conv, col, col_len) != NNB_I8_OK)
            return NNB_I8_EINVAL;
        return nnb_i8_max_pool2d(&po, conv, y);
    }
    one.n = 1;
    for (nn = 0; nn < p->n; ++nn)
        for (o0 = 0; o0 < p->o; o0 += block) {
            one.o = block;
            po.n = block;
            if (nnb_i8_conv2d(&one, x + (size_t)nn * in_plane, w + (size_t)o0 * klen, bias ? bias + o0 : NULL,
                              mult + o0, shift + o0, NULL, NULL, NULL, conv, col, col_len) != NNB_I8_OK ||
                nnb_i8_max_pool2d(&po, conv, y + ((size_t)nn * (size_t)p->o + (size_t)o0) * pooled) != NNB_I8_OK)
                return NNB_I8_EINVAL;
        }
    return NNB_I8_OK;
}

int nnb_i8_conv_pool(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y, void *scratch,
                     size_t bytes)
{
    const size_t in_plane = p ? (size_t)p->c * (size_t)p->h * (size_t)p->w : 0;
    nnb_i8_conv_params one;
    int32_t nn;
    if (!p || !pool_ok(p, pp) || !nnb_i8_conv_ok(p) || !x || !w || !mult || !shift || !y || !scratch ||
        bytes < DIRECT_BYTES)
        return NNB_I8_EINVAL;
#if NNB_I8_X86
    if (xpool_now(p, pp) && bytes >= nnb_i8_x86_pool_scratch(p)) {
        nnb_i8_xpool xs;
        nnb_i8_x86_pool_setup(&xs, p, pp, w, bias, mult, shift, scratch);
        for (nn = 0; nn < p->n; ++nn)
            nnb_i8_x86_pool_rows(&xs, p, pp, x + (size_t)nn * in_plane,
                                 y + (size_t)nn * (size_t)p->o * (size_t)pp->oh * (size_t)pp->ow,
                                 (size_t)pp->oh * (size_t)pp->ow, 0, pp->oh);
        return NNB_I8_OK;
    }
#endif
    if (!direct_now() && bytes >= block_bytes(p, 1))
        return run_blocks(p, pp, x, w, bias, mult, shift, y, scratch, bytes);
    one = *p;
    one.n = 1;
    for (nn = 0; nn < p->n; ++nn)
        nnb_i8_conv_pool_direct(&one, pp, x + (size_t)nn * in_plane, w, bias, mult, shift,
                                y + (size_t)nn * (size_t)p->o * (size_t)pp->oh * (size_t)pp->ow,
                                (size_t)pp->oh * (size_t)pp->ow, 0, pp->oh);
    return NNB_I8_OK;
}

/* ---- Q8QConv ---- */

/* the convolution of rows [a, b) of p's output: the input rows they read, padding rows included, as an
   unpadded input of (b - a - 1) * stride + the kernel's extent rows */
static nnb_i8_conv_params sub_of(const nnb_i8_conv_params *p, int32_t a, int32_t b)
{
    nnb_i8_conv_params q = *p;
    q.n = 1;
    q.h = (b - a - 1) * p->stride_h + p->dil_h * (p->kh - 1) + 1;
    q.pad_h = 0;
    q.oh = b - a;
    return q;
}

/* pooled row k's band: rows [a, b) of p's output as sub_of gives them, and *pb the pool of one window over the
   band's rows (every row of the band in one window) */
static nnb_i8_conv_params pooled_band(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int32_t a,
                                      int32_t b, nnb_i8_pool_params *pb)
{
    *pb = *pp;
    pb->h = pb->kh = b - a;
    pb->oh = 1;
    pb->stride_h = 1;
    pb->pad_h = 0;
    return sub_of(p, a, b);
}

/* bytes of the quantized input rows one band reads (every channel) */
static size_t qrows_bytes(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp)
{
    const int32_t r = band_max(p, pp);
    const nnb_i8_conv_params q = sub_of(p, 0, r > 0 ? r : 1);
    return (size_t)p->c * (size_t)q.h * (size_t)p->w;
}

/* x86-64 levels with their own forms: a pooled Q8QConv quantizes the whole sample and runs
   nnb_i8_conv_pool's channel blocks on it (twelve band calls into those forms took twice the time for lenet) */
static size_t qwhole_bytes(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now)
{
    nnb_i8_conv_params one = *p;
    size_t rest;
    one.n = 1;
    rest = nnb_i8_conv_pool_scratch(&one, pp, now);
    return rest ? al64((size_t)p->c * (size_t)p->h * (size_t)p->w) + rest : 0;
}

/* without a pool (x86-64 levels with their own forms, depthwise): the whole sample (padding rows included)
   quantized, convolved straight into the output */
static size_t qwhole_plain_bytes(const nnb_i8_conv_params *p, int now)
{
    const nnb_i8_conv_params q = sub_of(p, 0, p->oh);
    const size_t col = conv_need(&q, now);
    return col ? al64(qrows_bytes(p, NULL)) + 2u * col + 4u : 0;
}

/* bytes of the input rows output rows [0, r) read, every channel */
static size_t band_in_bytes(const nnb_i8_conv_params *p, int32_t r)
{
    return (size_t)p->c * (size_t)sub_of(p, 0, r).h * (size_t)p->w;
}

/* without a pool, portable / Cortex-M levels: output rows a band (0: not this form, depthwise), the most whose
   input rows take no more bytes than the im2col columns (at least one row); *bytes its scratch: the rows, then
   the columns */
static int32_t qband_rows(const nnb_i8_conv_params *p, size_t *bytes)
{
    const nnb_i8_conv_params q1 = sub_of(p, 0, 1);
    const size_t col = 2u * nnb_i8_conv_band_scratch(&q1);
    int32_t r = 1;
    if (!col) return 0;
    while (r < p->oh && band_in_bytes(p, r + 1) <= col)
        ++r;
    *bytes = al4(band_in_bytes(p, r)) + col + 4u;
    return r;
}

static size_t qplain_bytes(const nnb_i8_conv_params *p, int now)
{
    size_t band = 0;
    if (!qband_rows(p, &band)) return qwhole_plain_bytes(p, now);
    if (now) return direct_now() ? band : qwhole_plain_bytes(p, now);
#if NNB_I8_X86
    {
        const size_t whole = qwhole_plain_bytes(p, 0);
        return whole > band ? whole : band; /* any CPU: whichever form is larger */
    }
#else
    return band;
#endif
}

size_t nnb_i8_qconv_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now)
{
    size_t rows;
    if (!p || (pp && !pool_ok(p, pp)) || p->n < 1 || !nnb_i8_conv_ok(p)) return 0;
    if (!pp) return qplain_bytes(p, now);
    rows = al4(qrows_bytes(p, pp)); /* the direct form's: the band's quantized rows, nothing else */
    if (now && direct_now()) return rows;
#if NNB_I8_X86
    {
        /* the x86 pooled form: the band's rows, then the last channel's weights */
        const size_t xp = al64(rows) + nnb_i8_x86_pool_scratch(p);
        const size_t whole = qwhole_bytes(p, pp, now), most = whole > rows ? whole : rows;
        if (now) return xpool_now(p, pp) ? xp : whole;
        return most > xp ? most : xp; /* any CPU (now == 0): whichever form is larger */
    }
#else
    return rows;
#endif
}

/* n floats of x on the grid of the 255 thresholds t */
static void quantize_run(const float *x, const float *t, float inv, int8_t *y, size_t n)
{
    size_t k;
#if NNB_I8_X86
    if (nnb_i8_x86_quantize(n, x, t, y)) return;
#endif
    for (k = 0; k < n; ++k)
        y[k] = nnb_i8_quantize1(x[k], t, inv);
}

/* the input rows output rows [a, b) of sample nn read, quantized into xq as q's unpadded input (q = sub_of(p, a,
   b)): padding rows as the input's zero point; only the band's rows [from, q->h) (the others are already there) */
static void quantize_rows(const nnb_i8_conv_params *p, const nnb_i8_conv_params *q, int32_t a, int32_t from,
                          const float *x, const float *t, float inv, int8_t *xq)
{
    const size_t wd = (size_t)p->w, in_plane = (size_t)p->h * (size_t)p->w;
    const int32_t r0 = a * p->stride_h - p->pad_h; /* the band's first input row (< 0: padding) */
    const int32_t f0 = r0 + from, end = r0 + q->h;
    int32_t lo, hi, ci;
    /* rows [f0, lo) and [hi, end) are padding, [lo, hi) inside the input */
    lo = f0 < 0 ? 0 : f0;
    lo = lo > end ? end : lo;
    hi = end > p->h ? p->h : end;
    hi = hi < lo ? lo : hi;
    for (ci = 0; ci < p->c; ++ci) {
        int8_t *dst = xq + (size_t)ci * (size_t)q->h * wd;
        memset(dst + (size_t)from * wd, p->in_zero, (size_t)(lo - f0) * wd);
        if (hi > lo)
            quantize_run(x + (size_t)ci * in_plane + (size_t)lo * wd, t, inv, dst + (size_t)(lo - r0) * wd,
                         (size_t)(hi - lo) * wd);
        memset(dst + (size_t)(hi - r0) * wd, p->in_zero, (size_t)(end - hi) * wd);
    }
}

int nnb_i8_qconv(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const float *x, const float *t,
                 const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y,
                 void *scratch, size_t bytes)
{
    uint8_t *s = (uint8_t *)scratch;
    size_t in_plane, opl, head;
    float inv;
    int8_t *xq = (int8_t *)(void *)s;
    int32_t nn, k, a, b;
    if (!p || p->n < 1 || !nnb_i8_conv_ok(p) || (pp && !pool_ok(p, pp)) || !x || !t || !w || !mult || !shift ||
        !y || !scratch)
        return NNB_I8_EINVAL;
    in_plane = (size_t)p->c * (size_t)p->h * (size_t)p->w;
    opl = pp ? (size_t)pp->oh * (size_t)pp->ow : (size_t)p->oh * (size_t)p->ow;
    inv = nnb_i8_qinv(t);
    if (!pp && direct_now() && (k = qband_rows(p, &head)) > 0) { /* bands of k output rows */
        if (bytes < head) return NNB_I8_EINVAL;
        head = al4(band_in_bytes(p, k));
        for (nn = 0; nn < p->n; ++nn)
            for (a = 0; a < p->oh; a += k) {
                const nnb_i8_conv_params q = sub_of(p, a, a + k < p->oh ? a + k : p->oh);
                quantize_rows(p, &q, a, 0, x + (size_t)nn * in_plane, t, inv, xq);
                nnb_i8_conv2d_band(&q, xq, w, bias, mult, shift,
                                   y + (size_t)nn * (size_t)p->o * opl + (size_t)a * (size_t)p->ow, opl,
                                   (int16_t *)(void *)(s + head));
            }
        return NNB_I8_OK;
    }
    if (!pp) { /* the whole sample, convolved straight into y */
        const nnb_i8_conv_params q = sub_of(p, 0, p->oh);
        if (bytes < qwhole_plain_bytes(p, 1)) return NNB_I8_EINVAL;
        head = al64(qrows_bytes(p, NULL));
        for (nn = 0; nn < p->n; ++nn) {
            quantize_rows(p, &q, 0, 0, x + (size_t)nn * in_plane, t, inv, xq);
            if (nnb_i8_conv2d(&q, xq, w, bias, mult, shift, NULL, NULL, NULL, y + (size_t)nn * (size_t)p->o * opl,
                              (int16_t *)(void *)(s + head), (bytes - head - 4u) / 2u) != NNB_I8_OK)
                return NNB_I8_EINVAL;
        }
        return NNB_I8_OK;
    }
#if NNB_I8_X86
    if (xpool_now(p, pp) && bytes >= al64(al4(qrows_bytes(p, pp))) + nnb_i8_x86_pool_scratch(p)) {
        nnb_i8_xpool xs;
        head = al64(al4(qrows_bytes(p, pp)));
        nnb_i8_x86_pool_setup(&xs, p, pp, w, bias, mult, shift, s + head);
        for (nn = 0; nn < p->n; ++nn) {
            int8_t *yn = y + (size_t)nn * (size_t)p->o * opl;
            int32_t held = -1, first = 0; /* the band in xq: its rows (-1: none) and first input row */
            for (k = 0; k < pp->oh; ++k) {
                nnb_i8_conv_params q;
                nnb_i8_pool_params pb;
                int32_t r0, keep = 0, ci;
                band_rows(p, pp, k, &a, &b);
                if (a >= b) {
                    empty_row(pp, p->o, yn + (size_t)k * (size_t)pp->ow, opl);
                    continue;
                }
                q = pooled_band(p, pp, a, b, &pb);
                r0 = a * p->stride_h - p->pad_h;
                if (held == q.h && r0 >= first && r0 < first + held) { /* overlapping bands: keep the shared rows */
                    keep = first + held - r0;
                    for (ci = 0; ci < p->c; ++ci)
                        memmove(xq + (size_t)ci * (size_t)q.h * (size_t)p->w,
                                xq + ((size_t)ci * (size_t)q.h + (size_t)(r0 - first)) * (size_t)p->w,
                                (size_t)keep * (size_t)p->w);
                }
                held = q.h;
                first = r0;
                quantize_rows(p, &q, a, keep, x + (size_t)nn * in_plane, t, inv, xq);
                nnb_i8_x86_pool_rows(&xs, &q, &pb, xq, yn + (size_t)k * (size_t)pp->ow, opl, 0, 1);
            }
        }
        return NNB_I8_OK;
    }
#endif
    if (!direct_now() && bytes >= qwhole_bytes(p, pp, 1)) {
        nnb_i8_conv_params one = *p;
        one.n = 1;
        head = al64(in_plane);
        for (nn = 0; nn < p->n; ++nn) {
            quantize_run(x + (size_t)nn * in_plane, t, inv, xq, in_plane);
            if (nnb_i8_conv_pool(&one, pp, xq, w, bias, mult, shift, y + (size_t)nn * (size_t)p->o * opl, s + head,
                                 bytes - head) != NNB_I8_OK)
                return NNB_I8_EINVAL;
        }
        return NNB_I8_OK;
    }
    if (bytes < qrows_bytes(p, pp)) return NNB_I8_EINVAL;
    for (nn = 0; nn < p->n; ++nn) {
        int8_t *yn = y + (size_t)nn * (size_t)p->o * opl;
        for (k = 0; k < pp->oh; ++k) {
            nnb_i8_conv_params q;
            nnb_i8_pool_params pb; /* pooled row k over the band's rows: one window of every row */
            band_rows(p, pp, k, &a, &b);
            if (a >= b) { /* a pool window wholly in the padding */
                empty_row(pp, p->o, yn + (size_t)k * (size_t)pp->ow, opl);
                continue;
            }
            q = pooled_band(p, pp, a, b, &pb);
            quantize_rows(p, &q, a, 0, x + (size_t)nn * in_plane, t, inv, xq);
            nnb_i8_conv_pool_direct(&q, &pb, xq, w, bias, mult, shift, yn + (size_t)k * (size_t)pp->ow, opl, 0, 1);
        }
    }
    return NNB_I8_OK;
}
