/* int8 2-d convolution, NCHW, grouped (depthwise: group == channels), any pad/stride/dilation,
 * with an optional residual added in the accumulator domain (FusedConv).
 *
 * Paths, all computing the same integers (docs/int8.md):
 *  - x86-64 hosts: conv_x86.c (AVX-512 VNNI GEMM, AVX2 depthwise, chosen at run time) when it takes the layer;
 *  - depthwise (one input channel per output, no dilation): per channel, the kh input rows it needs
 *    as (x - in_zero) int16 with the padding in place (a ring of kh padded rows, refilled as the
 *    output row moves down), so the inner loops have no bounds checks; on the DSP path two outputs
 *    of a 3x3 stride-1 row at a time from word loads and dual MACs;
 *  - everything else: two im2col columns (two output positions; a 1x1 stride-1 layer is a plain
 *    gather) of (x - in_zero) as int16, then two output channels at a time: a 2x2 register block
 *    (CMSIS-NN's form) of four accumulators, one weight word and four column words giving eight
 *    dual MACs per four input values;
 *  - a plain loop (generic) for what the above do not take (dilated depthwise is in the im2col path).
 * Requantization is prepared once per channel (i8_rq) and applied per output.
 * On the DSP path (Cortex-M4), when every channel takes the fast requantization (rq_fast_layer): a 3x3
 * stride-1 depthwise runs over the raw int8 padded plane with in_zero folded into the bias (dw3_fused), and
 * the im2col/1x1 quads are requantized from the registers, one asm block per quad when klen % 4 == 0
 * (quads_fused). Both give the same integers as the forms above (tests/int8/test_int8_m4_layers.py). */
#include "nnb_int8.h"

#include "i8_dot.h"
#include "i8_host.h"
#include "conv_pool.h"

static int conv_ok(const nnb_i8_conv_params *p)
{
    int32_t ekh, ekw;
    if (!p || p->n <= 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->o <= 0 || p->kh <= 0 || p->kw <= 0)
        return 0;
    if (p->group <= 0 || p->c % p->group || p->o % p->group || p->stride_h <= 0 || p->stride_w <= 0)
        return 0;
    if (p->dil_h <= 0 || p->dil_w <= 0 || p->pad_h < 0 || p->pad_w < 0)
        return 0;
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max)
        return 0;
    if (p->in_zero < -128 || p->in_zero > 127 || p->out_zero < -128 || p->out_zero > 127)
        return 0;
    /* sizes in 32 bits: every index below is formed in size_t from values that fit */
    if ((int64_t)p->c * p->h * p->w > INT32_MAX || (int64_t)p->o * p->kh * p->kw > INT32_MAX ||
        (int64_t)(p->c / p->group) * p->kh * p->kw > (1 << 24) || (int64_t)p->w + 2 * p->pad_w > INT32_MAX / 16)
        return 0;
    ekh = p->dil_h * (p->kh - 1) + 1;
    ekw = p->dil_w * (p->kw - 1) + 1;
    if (p->h + 2 * p->pad_h < ekh || p->w + 2 * p->pad_w < ekw)
        return 0;
    return p->oh == (p->h + 2 * p->pad_h - ekh) / p->stride_h + 1 && p->ow == (p->w + 2 * p->pad_w - ekw) / p->stride_w + 1;
}

/* ---------- depthwise over padded int16 rows ---------- */

#define DW_MAX_TAPS 25 /* kh * kw the row path takes (its row pointers and packed weights live on the stack) */

static int dw_rows_ok(const nnb_i8_conv_params *p)
{
    return p->group == p->c && p->o == p->c && p->dil_h == 1 && p->dil_w == 1 && p->kh * p->kw <= DW_MAX_TAPS;
}

#define DW_PLANE 1024 /* int16 values: a padded channel plane up to this size is kept whole */

static int dw_whole_plane(const nnb_i8_conv_params *p)
{
    return (int64_t)(p->h + 2 * p->pad_h) * (p->w + 2 * p->pad_w) <= DW_PLANE;
}

/* padded row r (0 <= r < h + 2 pad_h) of one channel plane as (x - zin), zeros in the padding */
static void dw_fill_row(int16_t *dst, const int8_t *xc, int32_t r, int32_t h, int32_t w, int32_t ph, int32_t pw,
                        int32_t zin)
{
    int32_t i, pwid = w + 2 * pw, iy = r - ph;
    if (iy < 0 || iy >= h) {
        for (i = 0; i < pwid; ++i)
            dst[i] = 0;
        return;
    }
    xc += (size_t)iy * (size_t)w;
    if (pw == 1) { /* the usual border: two stores, not two memset calls */
        dst[0] = 0;
        dst[w + 1] = 0;
    } else {
        for (i = 0; i < pw; ++i)
            dst[i] = dst[pw + w + i] = 0;
    }
    for (i = 0; i < w; ++i)
        dst[pw + i] = (int16_t)(xc[i] - zin);
}

#if NNB_I8_DSP
static int32_t ld32(const int16_t *s)
{
    int32_t v;
    memcpy(&v, s, sizeof v);
    return v;
}
#endif

/* the layer's constants for the output stage */
typedef struct {
    int32_t zout, lo, hi, zres;
} out_cfg;

/* acc[i] += rrq(res[i] - zres): the residual moved into the accumulator */
static void add_residual(int32_t *acc, int32_t n, const int8_t *res, int32_t zres, int32_t mult, int32_t shift)
{
    i8_rq q;
    int32_t i;
    i8_rq_init(&q, mult, shift);
    for (i = 0; i < n; ++i)
        acc[i] += i8_rq_apply(&q, (int32_t)res[i] - zres);
}

#if NNB_I8_DSP
/* bytes h0..h3 (each in [-128, 127]) in one little-endian word, each raised to lo (lo4: lo in every byte) */
static inline uint32_t pack4_lo(int32_t h0, int32_t h1, int32_t h2, int32_t h3, int32_t lo, uint32_t lo4)
{
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
    uint32_t t, wd = (uint32_t)h0;
    (void)lo;
    __asm__("bfi %[w], %[b], #8, #8\n\tbfi %[w], %[c], #16, #8\n\tbfi %[w], %[d], #24, #8\n\t"
            "ssub8 %[t], %[w], %[l]\n\tsel %[w], %[w], %[l]"
            : [w] "+r"(wd), [t] "=&r"(t)
            : [b] "r"(h1), [c] "r"(h2), [d] "r"(h3), [l] "r"(lo4)
            : "cc");
    (void)t;
    return wd;
#else
    (void)lo4;
    return (uint32_t)(uint8_t)(int8_t)(h0 < lo ? lo : h0) | (uint32_t)(uint8_t)(int8_t)(h1 < lo ? lo : h1) << 8 |
           (uint32_t)(uint8_t)(int8_t)(h2 < lo ? lo : h2) << 16 | (uint32_t)(uint8_t)(int8_t)(h3 < lo ? lo : h3) << 24;
#endif
}
#endif

/* y[i] = clamp(zout + requant(acc[i])) for i < n, one channel. `bound` >= every |acc[i]|: below 2^30 the
 * prepared form needs no per-output range check. Everything in locals: the int8 stores may alias any object
 * as far as the compiler knows. */
static void out_run(const out_cfg *o, int32_t mult, int32_t shift, int64_t bound, const int32_t *acc, int32_t n,
                    int8_t *y)
{
    const int32_t zout = o->zout, lo = o->lo, hi = o->hi;
    int32_t i;
    if (mult != INT32_MIN && shift <= 0 && shift >= -21 && bound < ((int64_t)1 << 30)) {
        /* the fast form of i8_rq_apply inline: h = round(2x * mult / 2^32), then (h + 2^(right-1) - (h < 0))
         * >> right, with zout * 2^right added before the shift (|zout| * 2^21 + 2^30 + 2^29 < 2^31) */
        const int32_t right = -shift, negm = right ? 1 : 0;
        const int32_t nudge = (right ? (int32_t)1 << (right - 1) : 0) + zout * ((int32_t)1 << right);
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) /* arm_acle.h is included (i8_dot.h) */
        if (hi == 127 && right > 0 && mult >= 0) {
            /* four outputs a step, one word store: SMMLAR adds the nudge with the rounding multiply; h < 0 is
             * taken as acc < 0 (the same for mult >= 0 and right > 0: they differ only where h == 0, and
             * (nudge - 1) >> right == nudge >> right there); SSAT clamps the top, BFI packs the bytes into a word,
             * SSUB8 + SEL clamp the bottom of all four at once */
            const uint32_t lo4 = (uint32_t)(uint8_t)(int8_t)lo * 0x01010101u;
            for (i = 0; i + 3 < n; i += 4) {
                const int32_t x0 = acc[i] * 2, x1 = acc[i + 1] * 2, x2 = acc[i + 2] * 2, x3 = acc[i + 3] * 2;
                const int32_t h0 = __ssat((i8_mulhr_add(x0, mult, nudge) + (x0 >> 31)) >> right, 8);
                const int32_t h1 = __ssat((i8_mulhr_add(x1, mult, nudge) + (x1 >> 31)) >> right, 8);
                const int32_t h2 = __ssat((i8_mulhr_add(x2, mult, nudge) + (x2 >> 31)) >> right, 8);
                const int32_t h3 = __ssat((i8_mulhr_add(x3, mult, nudge) + (x3 >> 31)) >> right, 8);
                const uint32_t wd = pack4_lo(h0, h1, h2, h3, lo, lo4);
                memcpy(y + i, &wd, sizeof wd);
            }
            for (; i < n; ++i) {
                int32_t h = i8_mulhr(acc[i] * 2, mult);
                h = __ssat((h + nudge + (h >> 31)) >> right, 8);
                y[i] = (int8_t)(h < lo ? lo : h);
            }
            return;
        }
#endif
        for (i = 0; i < n; ++i) {
            int32_t h = i8_mulhr(acc[i] * 2, mult);
            h = (h + nudge - ((h >> 31) & negm)) >> right;
            y[i] = (int8_t)(h < lo ? lo : h > hi ? hi : h);
        }
        return;
    }
    {
        i8_rq q;
        i8_rq_init(&q, mult, shift);
        for (i = 0; i < n; ++i)
            y[i] = (int8_t)i8_clamp_add(zout, i8_rq_apply(&q, acc[i]), lo, hi);
    }
}

/* a bound on |accumulator| of a channel: |bias| + taps * 255 * 127 (+ the residual's largest term) */
static int64_t acc_bound(int32_t bias, int32_t taps, const int8_t *res, int32_t rmult, int32_t rshift)
{
    int64_t b = (bias < 0 ? -(int64_t)bias : bias) + (int64_t)taps * 255 * 127;
    if (res) {
        int64_t r1 = nnb_i8_requantize(255, rmult, rshift), r2 = nnb_i8_requantize(-255, rmult, rshift);
        r1 = r1 < 0 ? -r1 : r1;
        r2 = r2 < 0 ? -r2 : r2;
        b += r1 > r2 ? r1 : r2;
    }
    return b;
}

#if NNB_I8_DSP
/* ---------- DSP forms with the requantization fused (M4) ---------- */

/* Every channel of the layer takes the fast requantization (out_run's SMMLAR form): mult >= 0, 1 <= -shift <= 21,
 * every accumulator below 2^30 in magnitude, no upper clamp below 127. Then y = max(lo, rq1(acc)) exactly. */
static int rq_fast_layer(const nnb_i8_conv_params *p, const int32_t *mult, const int32_t *shift, int64_t bound)
{
    int32_t c;
    if (p->act_max != 127 || bound >= ((int64_t)1 << 30))
        return 0;
    for (c = 0; c < p->o; ++c)
        if (mult[c] < 0 || shift[c] > -1 || shift[c] < -21)
            return 0;
    return 1;
}

/* the largest accumulator bound of a 3x3 depthwise layer without residual */
static int64_t dw3_bound(const nnb_i8_conv_params *p, const int32_t *bias)
{
    int64_t m = 0, t;
    int32_t c;
    for (c = 0; c < p->c; ++c) {
        t = acc_bound(bias ? bias[c] : 0, 9, NULL, 0, 0);
        m = t > m ? t : m;
    }
    return m;
}

/* the per-channel constants of rq1: nudge = 2^(right-1) + zout * 2^right (see out_run) */
typedef struct {
    int32_t mult, nudge, right;
} rq_ch;

static inline void rq_ch_init(rq_ch *q, int32_t mult, int32_t shift, int32_t zout)
{
    q->mult = mult;
    q->right = -shift;
    q->nudge = ((int32_t)1 << (q->right - 1)) + zout * ((int32_t)1 << q->right);
}

/* saturate(zout + requantize(acc)) to [-128, 127] for |acc| < 2^30 under rq_fast_layer: out_run's fast form */
static inline int32_t rq1(int32_t acc, const rq_ch *q)
{
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
    return __ssat((i8_mulhr_add(acc * 2, q->mult, q->nudge) + (acc >> 31)) >> q->right, 8);
#else
    const int32_t h = (i8_mulhr(acc * 2, q->mult) + q->nudge + (acc >> 31)) >> q->right;
    return h < -128 ? -128 : h > 127 ? 127 : h;
#endif
}


/* 3x3 stride-1 depthwise (any padding, no residual) under rq_fast_layer, on the DSP path. Per channel the padded
 * plane as raw int8 (the padding holds in_zero itself, filled once per layer), and the bias less in_zero * sum(w):
 * the same integers as summing (x - in_zero) * w over the taps inside (integer sums in any order). An output pair
 * (ox, ox + 1) reads one word per row, bytes (p0..p3) from padded column ox: SXTB16 gives (p0, p2) and (p1, p3),
 * and out0 = (p0, p2).(w0, w2) + p1 w1, out1 = (p1, p3).(w0, w2) + p2 w1 (SMLAD and SMLAxy). Whole rows of
 * accumulators go to out_run. An odd last output reads one byte past its row (the plane has 4 bytes of slack);
 * that byte only reaches the dropped partner. */
#define DW3_CHUNK 64 /* outputs accumulated (whole rows) before they are requantized */

static size_t dw3_plane_bytes(const nnb_i8_conv_params *p)
{
    return (size_t)(p->h + 2 * p->pad_h) * (size_t)(p->w + 2 * p->pad_w) + 4;
}

static int dw3_ok(const nnb_i8_conv_params *p, const int8_t *residual)
{
    return !residual && p->ow < DW3_CHUNK && p->group == p->c && p->o == p->c && p->kh == 3 && p->kw == 3 &&
           p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1;
}

/* acc[r * ow + i] = b0 + the taps of output i of row r, for nr rows from the padded plane at r0 (rows pwid
 * apart); an odd ow writes one value past each row, which the next row (or the slack of acc) takes */
static void dw3_rows(const int8_t *r0, int32_t pwid, int32_t nr, int32_t ow, const uint32_t *wt, int32_t b0,
                     int32_t *acc)
{
    const uint32_t w0 = wt[0], w1 = wt[1], w2 = wt[2], wm01 = wt[3], wm2 = wt[4];
    const int32_t np = (ow + 1) >> 1;
    for (; nr > 0; --nr, r0 += pwid, acc += ow) {
        const int8_t *q = r0;
        int32_t *a = acc, n;
        for (n = np; n > 0; --n, q += 2, a += 2) {
            uint32_t v, e;
            int32_t a0, a1;
            i8_split4(q, &e, &v);
            a0 = I8_SMLAD(e, w0, b0);
            a1 = I8_SMLAD(v, w0, b0);
            a0 = I8_SMLABB(v, wm01, a0);
            a1 = I8_SMLATB(e, wm01, a1);
            i8_split4(q + pwid, &e, &v);
            a0 = I8_SMLAD(e, w1, a0);
            a1 = I8_SMLAD(v, w1, a1);
            a0 = I8_SMLABT(v, wm01, a0);
            a1 = I8_SMLATT(e, wm01, a1);
            i8_split4(q + 2 * pwid, &e, &v);
            a0 = I8_SMLAD(e, w2, a0);
            a1 = I8_SMLAD(v, w2, a1);
            a[0] = I8_SMLABB(v, wm2, a0);
            a[1] = I8_SMLATB(e, wm2, a1);
        }
    }
}

static void dw3_fused(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, int8_t *y, int8_t *plane8, int64_t bound)
{
    const int32_t h = p->h, wd = p->w, oh = p->oh, ow = p->ow, ph = p->pad_h, pw = p->pad_w;
    const int32_t pwid = wd + 2 * pw, nch = p->c, zin = p->in_zero;
    const uint32_t zb4 = (uint32_t)(uint8_t)(int8_t)zin * 0x01010101u;
    const size_t hw = (size_t)h * (size_t)wd, plane = (size_t)oh * (size_t)ow;
    const int32_t rmax = DW3_CHUNK / ow; /* dw3_ok: ow < DW3_CHUNK */
    size_t i, rb = dw3_plane_bytes(p);
    out_cfg oc;
    int32_t b, c;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = 0;
    for (i = 0; i + 3 < rb; i += 4) /* the padding holds in_zero for good */
        memcpy(plane8 + i, &zb4, 4);
    for (; i < rb; ++i)
        plane8[i] = (int8_t)zin;
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < nch; ++c) {
            const size_t bc = (size_t)b * (size_t)nch + (size_t)c;
            const int8_t *xc = x + bc * hw, *wc = w + (size_t)c * 9;
            int8_t *yc = y + bc * plane;
            int32_t b0 = bias ? bias[c] : 0, k, acc[DW3_CHUNK + 1];
            uint32_t wt[5]; /* (w[k][0], w[k][2]) per row k; w[0][1] | w[1][1] << 16; w[2][1] */
            int32_t oy;
            for (k = 0; k < 3; ++k)
                wt[k] = (uint32_t)(uint16_t)(int16_t)wc[3 * k] | (uint32_t)(uint16_t)(int16_t)wc[3 * k + 2] << 16;
            wt[3] = (uint32_t)(uint16_t)(int16_t)wc[1] | (uint32_t)(uint16_t)(int16_t)wc[4] << 16;
            wt[4] = (uint32_t)(uint16_t)(int16_t)wc[7];
            for (k = 0; k < 9; ++k) /* raw bytes times w, the padding (in_zero) included: less in_zero * sum w */
                b0 -= zin * (int32_t)wc[k];
            if (wd >= 4 && wd <= 8) { /* the data rows as two words, overlapping; the padding keeps in_zero */
                const int8_t *sr = xc;
                int8_t *d = plane8 + (size_t)ph * (size_t)pwid + pw;
                for (oy = 0; oy < h; ++oy, sr += wd, d += pwid) {
                    uint32_t v, u;
                    memcpy(&v, sr, 4);
                    memcpy(&u, sr + wd - 4, 4);
                    memcpy(d, &v, 4);
                    memcpy(d + wd - 4, &u, 4);
                }
            } else if (wd > 8) { /* in words, the last one overlapping */
                const int8_t *sr = xc;
                int8_t *d = plane8 + (size_t)ph * (size_t)pwid + pw;
                for (oy = 0; oy < h; ++oy, sr += wd, d += pwid) {
                    uint32_t v;
                    for (k = 0; k + 4 < wd; k += 4) {
                        memcpy(&v, sr + k, 4);
                        memcpy(d + k, &v, 4);
                    }
                    memcpy(&v, sr + wd - 4, 4);
                    memcpy(d + wd - 4, &v, 4);
                }
            } else {
                for (oy = 0; oy < h; ++oy)
                    for (k = 0; k < wd; ++k)
                        plane8[(size_t)(oy + ph) * (size_t)pwid + (size_t)(pw + k)] = xc[(size_t)oy * (size_t)wd + k];
            }
            for (oy = 0; oy < oh; oy += rmax) { /* rmax rows of accumulators, then requantized */
                const int32_t nr = oh - oy < rmax ? oh - oy : rmax;
                dw3_rows(plane8 + (size_t)oy * (size_t)pwid, pwid, nr, ow, wt, b0, acc);
                out_run(&oc, mult[c], shift[c], bound, acc, nr * ow, yc + (size_t)oy * (size_t)ow);
            }
        }
}
#endif

#define DW_CHUNK 32 /* outputs (of one or several rows) accumulated before they are requantized */

/* acc[i] = b0 + sum over the taps of output ox0 + i (i < n) from the padded rows */
static void dw_macs(const int16_t *const *rows, int32_t kh, int32_t kw, int32_t sw, const int8_t *wc,
                    const uint32_t *wp, int32_t b0, int32_t ox0, int32_t n, int32_t *acc)
{
    int32_t i = 0, ky, kx;
#if NNB_I8_DSP
    if (kh == 3 && kw == 3 && sw == 1) {
        const int16_t *r0 = rows[0] + ox0, *r1 = rows[1] + ox0, *r2 = rows[2] + ox0;
        const uint32_t w00 = wp[0], w10 = wp[2], w20 = wp[4];
        /* the third taps: w02 and w12 in one word's halves, w22 alone (SMLAxy picks the halves) */
        const uint32_t w0212 = (wp[1] & 0xFFFFu) | wp[3] << 16, w22 = wp[5];
        for (; i + 1 < n; i += 2) { /* two outputs: words (x0,x1), (x1,x2) and (x2,x3) of each row */
            uint32_t t;
            int32_t a0, a1;
            t = ld32(r0 + i + 2);
            a0 = I8_SMLAD((uint32_t)ld32(r0 + i), w00, b0);
            a1 = I8_SMLAD((uint32_t)ld32(r0 + i + 1), w00, b0);
            a0 = I8_SMLABB(t, w0212, a0);
            a1 = I8_SMLATB(t, w0212, a1);
            t = ld32(r1 + i + 2);
            a0 = I8_SMLAD((uint32_t)ld32(r1 + i), w10, a0);
            a1 = I8_SMLAD((uint32_t)ld32(r1 + i + 1), w10, a1);
            a0 = I8_SMLABT(t, w0212, a0);
            a1 = I8_SMLATT(t, w0212, a1);
            t = ld32(r2 + i + 2);
            a0 = I8_SMLAD((uint32_t)ld32(r2 + i), w20, a0);
            a1 = I8_SMLAD((uint32_t)ld32(r2 + i + 1), w20, a1);
            a0 = I8_SMLABB(t, w22, a0);
            a1 = I8_SMLATB(t, w22, a1);
            acc[i] = a0;
            acc[i + 1] = a1;
        }
        if (i < n) {
            int32_t a0 = b0;
            a0 = I8_SMLAD((uint32_t)ld32(r0 + i), w00, a0);
            a0 = I8_SMLAD((uint32_t)ld32(r1 + i), w10, a0);
            a0 = I8_SMLAD((uint32_t)ld32(r2 + i), w20, a0);
            acc[i] = a0 + r0[i + 2] * (int32_t)(int16_t)(uint16_t)w0212 + r1[i + 2] * (int32_t)(int16_t)(w0212 >> 16) +
                     r2[i + 2] * (int32_t)(int16_t)(uint16_t)w22;
        }
        return;
    }
#endif
    for (; i < n; ++i) {
        int32_t a = b0;
        for (ky = 0; ky < kh; ++ky) {
            const int16_t *r = rows[ky] + (ox0 + i) * sw;
#if NNB_I8_DSP
            const uint32_t *wr = wp + ky * ((kw + 1) / 2);
            for (kx = 0; kx + 1 < kw; kx += 2)
                a = I8_SMLAD((uint32_t)ld32(r + kx), wr[kx / 2], a);
            if (kx < kw)
                a += (int32_t)r[kx] * (int32_t)wc[ky * kw + kx];
#else
            const int8_t *wr = wc + ky * kw;
            (void)wp;
            for (kx = 0; kx < kw; ++kx)
                a += (int32_t)r[kx] * (int32_t)wr[kx];
#endif
        }
        acc[i] = a;
    }
}

static void depthwise_rows(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                           const int32_t *res_shift, int8_t *y, int16_t *ring)
{
    const int32_t h = p->h, wd = p->w, kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow;
    const int32_t sh = p->stride_h, ph = p->pad_h, pw = p->pad_w, zin = p->in_zero;
    const int32_t nch = p->c, klen = kh * kw, pwid = wd + 2 * pw;
    const size_t plane = (size_t)oh * (size_t)ow;
    const int whole = dw_whole_plane(p); /* every padded row kept: no ring indexing */
    out_cfg oc;
    int32_t b, c;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    if (whole) {
        int32_t i;
        for (i = 0; i < (h + 2 * ph) * pwid; ++i)
            ring[i] = 0;
    }
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < nch; ++c) {
            const size_t bc = (size_t)b * (size_t)nch + (size_t)c;
            const int8_t *xc = x + bc * (size_t)h * (size_t)wd;
            const int8_t *wc = w + (size_t)c * (size_t)klen;
            const int32_t b0 = bias ? bias[c] : 0;
            const int16_t *rows[DW_MAX_TAPS];
            const int8_t *rc = residual ? residual + bc * plane : NULL;
            int8_t *yc = y + bc * plane;
            uint32_t wp[DW_MAX_TAPS]; /* DSP path: (w[ky][kx], w[ky][kx+1]) pairs, an odd last tap alone */
            int32_t acc[DW_CHUNK];
            const int64_t bound = acc_bound(b0, klen, rc, rc ? res_mult[c] : 0, rc ? res_shift[c] : 0);
            int32_t oy, ox, ky, kx, next = 0, np = 0, filled = 0;
            size_t at0 = 0;
            for (ky = 0; ky < kh; ++ky)
                for (kx = 0; kx < kw; kx += 2) {
                    uint32_t lo16 = (uint32_t)(uint16_t)(int16_t)wc[ky * kw + kx];
                    uint32_t hi16 = kx + 1 < kw ? (uint32_t)(uint16_t)(int16_t)wc[ky * kw + kx + 1] : 0u;
                    wp[np++] = lo16 | hi16 << 16;
                }
            if (whole) { /* the data rows only: the padding was zeroed once for the layer and stays zero */
                int32_t r, i;
                for (r = 0; r < h; ++r) {
                    int16_t *d = ring + (size_t)(r + ph) * (size_t)pwid + pw;
                    const int8_t *sx = xc + (size_t)r * (size_t)wd;
                    i = 0;
#if NNB_I8_DSP
                    for (; i + 3 < wd; i += 4) { /* four values from one word: SXTAB16 (x - zin) pairs */
                        const uint32_t nz = (uint32_t)(uint16_t)(int16_t)(-zin) * 0x10001u;
                        uint32_t v, e, o, t;
                        memcpy(&v, sx + i, sizeof v);
                        e = I8_SXTAB16(nz, v);      /* (x0, x2) */
                        o = I8_SXTAB16_ROR8(nz, v); /* (x1, x3) */
                        t = (e & 0xFFFFu) | o << 16;
                        memcpy(d + i, &t, sizeof t);
                        t = (o & 0xFFFF0000u) | e >> 16;
                        memcpy(d + i + 2, &t, sizeof t);
                    }
#endif
                    for (; i + 1 < wd; i += 2) { /* two values per store */
                        const uint32_t v = (uint32_t)(uint16_t)(int16_t)(sx[i] - zin) |
                                           (uint32_t)(uint16_t)(int16_t)(sx[i + 1] - zin) << 16;
                        memcpy(d + i, &v, sizeof v);
                    }
                    if (i < wd)
                        d[i] = (int16_t)(sx[i] - zin);
                }
                next = h + 2 * ph;
            }
#if NNB_I8_DSP
            if (whole && kh == 3 && kw == 3 && sh == 1 && p->stride_w == 1 && pw >= 1 && 2 * pwid <= DW_CHUNK) {
                /* several output rows as one run over the padded plane (the outputs of the padding columns
                 * computed and dropped): no per-row set-up; the reads end inside the plane since pw >= 1 */
                const int32_t rmax = DW_CHUNK / pwid;
                for (oy = 0; oy < oh; oy += rmax) {
                    const int32_t nr = oh - oy < rmax ? oh - oy : rmax, n = (nr - 1) * pwid + ow;
                    const int16_t *rw[3];
                    int32_t r, i;
                    rw[0] = ring + (size_t)oy * (size_t)pwid;
                    rw[1] = rw[0] + pwid;
                    rw[2] = rw[1] + pwid;
                    dw_macs(rw, 3, 3, 1, wc, wp, b0, 0, n, acc);
                    for (r = 1; r < nr; ++r)
                        for (i = 0; i < ow; ++i)
                            acc[r * ow + i] = acc[r * pwid + i];
                    at0 = (size_t)oy * (size_t)ow;
                    if (rc)
                        add_residual(acc, nr * ow, rc + at0, oc.zres, res_mult[c], res_shift[c]);
                    out_run(&oc, mult[c], shift[c], bound, acc, nr * ow, yc + at0);
                }
                continue;
            }
#endif
            for (oy = 0; oy < oh; ++oy) {
                const int32_t r0 = oy * sh;
                if (whole) {
                    const int16_t *r = ring + (size_t)r0 * (size_t)pwid;
                    for (ky = 0; ky < kh; ++ky, r += pwid)
                        rows[ky] = r;
                } else {
                    if (next < r0)
                        next = r0;
                    for (; next < r0 + kh; ++next)
                        dw_fill_row(ring + (size_t)(next % kh) * (size_t)pwid, xc, next, h, wd, ph, pw, zin);
                    for (ky = 0; ky < kh; ++ky)
                        rows[ky] = ring + (size_t)((r0 + ky) % kh) * (size_t)pwid;
                }
                for (ox = 0; ox < ow; ox += DW_CHUNK) {
                    const int32_t n = ow - ox < DW_CHUNK ? ow - ox : DW_CHUNK;
                    if (filled + n > DW_CHUNK) { /* requantize what is pending: consecutive outputs of the plane */
                        if (rc)
                            add_residual(acc, filled, rc + at0, oc.zres, res_mult[c], res_shift[c]);
                        out_run(&oc, mult[c], shift[c], bound, acc, filled, yc + at0);
                        at0 += (size_t)filled;
                        filled = 0;
                    }
                    dw_macs(rows, kh, kw, p->stride_w, wc, wp, b0, ox, n, acc + filled);
                    filled += n;
                }
            }
            if (rc)
                add_residual(acc, filled, rc + at0, oc.zres, res_mult[c], res_shift[c]);
            out_run(&oc, mult[c], shift[c], bound, acc, filled, yc + at0);
        }
}

/* ---------- im2col, two positions x two channels ---------- */

/* im2col in quads: the columns of four output positions in one buffer. For each full block of four k,
 * 16 values; on the DSP path word j (0..3) holds (k0, k2) of position j and word 4 + j its (k1, k3), so one
 * LDM of four words pairs with the weights' (w0, w2) that SXTB16 extracts and the next with (w1, w3);
 * elsewhere position j's four values are at 4j. After the blocks, each position's klen % 4 tail values. */
#if NNB_I8_DSP
#define QIDX(j, q) ((((q) & 1) << 3) + 2 * (j) + ((q) >> 1))
#else
#define QIDX(j, q) (4 * (j) + (q))
#endif

/* the column of output position pos (flat oy * ow + ox) as slot j of the quad at col */
static void im2col_slot(const nnb_i8_conv_params *p, const int8_t *xg, int32_t pos, int32_t j, int16_t *col)
{
    const int32_t cg = p->c / p->group, kh = p->kh, kw = p->kw, h = p->h, wd = p->w, zin = p->in_zero;
    const int32_t klen = cg * kh * kw, k4 = klen & ~3, tail = klen - k4;
    const size_t hw = (size_t)h * (size_t)wd;
    int16_t *blk = col, *tl = col + 4 * k4 + j * tail;
    int32_t ci, ky, kx, k = 0, q = 0;
    if (kh == 1 && kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        const int8_t *xp = xg + pos;
        size_t off = 0;
        for (; k < k4; k += 4, blk += 16, off += 4 * hw) {
            blk[QIDX(j, 0)] = (int16_t)(xp[off] - zin);
            blk[QIDX(j, 1)] = (int16_t)(xp[off + hw] - zin);
            blk[QIDX(j, 2)] = (int16_t)(xp[off + 2 * hw] - zin);
            blk[QIDX(j, 3)] = (int16_t)(xp[off + 3 * hw] - zin);
        }
        for (q = 0; k < klen; ++k, ++q, off += hw)
            tl[q] = (int16_t)(xp[off] - zin);
        return;
    }
    {
        /* the column in order straight into its slot of the quad (rows wholly inside the input without
         * checks): no linear copy of it, which took klen more int16 of scratch */
        const int32_t y0 = (pos / p->ow) * p->stride_h - p->pad_h, x0 = (pos % p->ow) * p->stride_w - p->pad_w;
        const int32_t dw = p->dil_w, xin = x0 >= 0 && x0 + (kw - 1) * dw < wd;
#define I8_PUT(v)                                                                                                \
    do {                                                                                                         \
        const int16_t v_ = (int16_t)(v);                                                                         \
        if (k < k4) {                                                                                            \
            blk[QIDX(j, q)] = v_;                                                                                \
            if (++q == 4) {                                                                                      \
                q = 0;                                                                                           \
                blk += 16;                                                                                       \
            }                                                                                                    \
        } else {                                                                                                 \
            *tl++ = v_;                                                                                          \
        }                                                                                                        \
        ++k;                                                                                                     \
    } while (0)
        for (ci = 0; ci < cg; ++ci) {
            const int8_t *xc = xg + (size_t)ci * hw;
            for (ky = 0; ky < kh; ++ky) {
                const int32_t iy = y0 + ky * p->dil_h;
                const int8_t *r = xc + (size_t)(iy >= 0 && iy < h ? iy : 0) * (size_t)wd;
                if (iy < 0 || iy >= h) {
                    for (kx = 0; kx < kw; ++kx)
                        I8_PUT(0);
                } else if (xin) {
                    r += x0;
                    for (kx = 0; kx < kw; ++kx)
                        I8_PUT(r[kx * dw] - zin);
                } else {
                    for (kx = 0; kx < kw; ++kx) {
                        const int32_t ix = x0 + kx * dw;
                        I8_PUT(ix >= 0 && ix < wd ? r[ix] - zin : 0);
                    }
                }
            }
        }
#undef I8_PUT
    }
}

#if NNB_I8_DSP
/* a 1x1 stride-1 unpadded layer's quad of positions pos..pos+3 (all inside the plane), DSP layout: per
 * channel one word of the four positions' bytes, SXTAB16 adds (-zin) to bytes 0/2 (and 1/3 with ROR #8) as
 * int16 pairs (p0, p2) and (p1, p3); PKHBT/PKHTB regroup two channels' pairs into (k0, k2) / (k1, k3) words */
static void im2col_quad_1x1(const nnb_i8_conv_params *p, const int8_t *xg, int32_t pos, int16_t *col)
{
    const int32_t klen = p->c / p->group, k4 = klen & ~3, tail = klen - k4;
    const size_t hw = (size_t)p->h * (size_t)p->w;
    const uint32_t nz = (uint32_t)(uint16_t)(int16_t)(-p->in_zero) * 0x10001u;
    const int8_t *xp = xg + pos;
    int32_t k, j, q;
    uint32_t *o = (uint32_t *)(void *)col; /* 4-byte aligned (conv_im2col) */
    for (k = 0; k < k4; k += 4, o += 8, xp += 4 * hw) {
        uint32_t v0, v1, v2, v3, a0, b0, a1, b1, a2, b2, a3, b3;
        memcpy(&v0, xp, 4);
        memcpy(&v1, xp + hw, 4);
        memcpy(&v2, xp + 2 * hw, 4);
        memcpy(&v3, xp + 3 * hw, 4);
        a0 = I8_SXTAB16(nz, v0); /* (p0, p2) of k0 */
        b0 = I8_SXTAB16_ROR8(nz, v0); /* (p1, p3) of k0 */
        a2 = I8_SXTAB16(nz, v2);
        b2 = I8_SXTAB16_ROR8(nz, v2);
        a1 = I8_SXTAB16(nz, v1);
        b1 = I8_SXTAB16_ROR8(nz, v1);
        a3 = I8_SXTAB16(nz, v3);
        b3 = I8_SXTAB16_ROR8(nz, v3);
        o[0] = I8_PKHBT16(a0, a2); /* (k0, k2) of p0 */
        o[1] = I8_PKHBT16(b0, b2);
        o[2] = I8_PKHTB16(a2, a0);
        o[3] = I8_PKHTB16(b2, b0);
        o[4] = I8_PKHBT16(a1, a3); /* (k1, k3) of p0 */
        o[5] = I8_PKHBT16(b1, b3);
        o[6] = I8_PKHTB16(a3, a1);
        o[7] = I8_PKHTB16(b3, b1);
    }
    for (j = 0; j < 4; ++j)
        for (q = 0; q < tail; ++q)
            col[4 * k4 + j * tail + q] = (int16_t)(xp[(size_t)q * hw + (size_t)j] - p->in_zero);
}
#endif

/* s[j] = b0 + column j . w for the four columns of a quad (col 4-byte aligned) */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void dot1x4(const int16_t *col, int32_t klen, const int8_t *w, int32_t b0, int32_t s[4])
{
    int32_t n4 = klen >> 2;
    const int32_t tail = klen - 4 * n4;
    int32_t s0 = b0, s1 = b0, s2 = b0, s3 = b0, i;
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) && (defined(__GNUC__) || defined(__clang__))
    if (n4 > 0) { /* 13.5 instructions per 16 MACs: four blocks of four k per turn (the column words in r8-r11
                     for the LDMs), the last n4 % 4 blocks one by one */
#define I8_QUAD_STEP                                                                                            \
    "ldr %[v], [%[w]], #4\n\t"                                                                                   \
    "ldmia %[c]!, {r8, r9, r10, r11}\n\t"                                                                        \
    "sxtb16 %[e], %[v]\n\t"                                                                                      \
    "smlad %[s0], r8, %[e], %[s0]\n\t"                                                                           \
    "smlad %[s1], r9, %[e], %[s1]\n\t"                                                                           \
    "smlad %[s2], r10, %[e], %[s2]\n\t"                                                                          \
    "smlad %[s3], r11, %[e], %[s3]\n\t"                                                                          \
    "ldmia %[c]!, {r8, r9, r10, r11}\n\t"                                                                        \
    "sxtb16 %[e], %[v], ror #8\n\t"                                                                              \
    "smlad %[s0], r8, %[e], %[s0]\n\t"                                                                           \
    "smlad %[s1], r9, %[e], %[s1]\n\t"                                                                           \
    "smlad %[s2], r10, %[e], %[s2]\n\t"                                                                          \
    "smlad %[s3], r11, %[e], %[s3]\n\t"
        uint32_t v, e;
        int32_t n16 = n4 >> 2, rest = n4 & 3;
        if (n16 > 0)
            __asm__ volatile("1:\n\t" I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP
                             "subs %[n], %[n], #1\n\t"
                             "bne 1b\n\t"
                             : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [c] "+r"(col),
                               [w] "+r"(w), [n] "+r"(n16), [v] "=&r"(v), [e] "=&r"(e)
                             :
                             : "r8", "r9", "r10", "r11", "cc", "memory");
        for (; rest > 0; --rest)
            __asm__ volatile(I8_QUAD_STEP
                             : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [c] "+r"(col),
                               [w] "+r"(w), [v] "=&r"(v), [e] "=&r"(e)
                             :
                             : "r8", "r9", "r10", "r11", "memory");
    }
#else
    for (; n4 > 0; --n4, col += 16, w += 4) {
#if NNB_I8_DSP
        uint32_t v, e, c[8];
        memcpy(&v, w, sizeof v);
        memcpy(c, col, sizeof c);
        e = I8_SXTB16(v);
        s0 = I8_SMLAD(c[0], e, s0);
        s1 = I8_SMLAD(c[1], e, s1);
        s2 = I8_SMLAD(c[2], e, s2);
        s3 = I8_SMLAD(c[3], e, s3);
        e = I8_SXTB16_ROR8(v);
        s0 = I8_SMLAD(c[4], e, s0);
        s1 = I8_SMLAD(c[5], e, s1);
        s2 = I8_SMLAD(c[6], e, s2);
        s3 = I8_SMLAD(c[7], e, s3);
#else
        for (i = 0; i < 4; ++i) {
            s0 += (int32_t)col[i] * w[i];
            s1 += (int32_t)col[4 + i] * w[i];
            s2 += (int32_t)col[8 + i] * w[i];
            s3 += (int32_t)col[12 + i] * w[i];
        }
#endif
    }
#endif
    for (i = 0; i < tail; ++i) {
        s0 += (int32_t)col[i] * w[i];
        s1 += (int32_t)col[tail + i] * w[i];
        s2 += (int32_t)col[2 * tail + i] * w[i];
        s3 += (int32_t)col[3 * tail + i] * w[i];
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* dot1x4 as a call (the generic output path: keeps the caller's registers) */
static void dot1x4_call(const int16_t *col, int32_t klen, const int8_t *w, int32_t b0, int32_t s[4])
{
    dot1x4(col, klen, w, b0, s);
}

#if NNB_I8_DSP
/* the np outputs of one channel over the quads at col (4 klen values each), requantized from the registers four
 * at a time (rq_fast_layer holds) and stored as one word */
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) && (defined(__GNUC__) || defined(__clang__))
/* what quad_rq4 reads (offsets fixed in its asm: 32-bit pointers) */
typedef struct {
    const int8_t *w, *wend16; /* the weights; the end of their whole blocks of 16 */
    int32_t b0, mult, nudge, right;
    uint32_t lo4;
    const int8_t *wend; /* the end of the weights (klen a multiple of 4) */
} quad_ctx;

/* one quad of a channel whose klen is a multiple of 4, all in registers: the four dot products (dot1x4's
 * blocks, four per turn, then one by one), then rq1 on each and pack4_lo; returns the packed word, *colp moved to
 * the next quad */
#define I8_RQ_STEP(S)                                                                                            \
    "lsl %[v], %[" S "], #1\n\t"                                                                                  \
    "smmlar %[v], %[v], r8, r9\n\t"                                                                               \
    "add %[v], %[v], %[" S "], asr #31\n\t"                                                                       \
    "asr %[v], %[v], r10\n\t"                                                                                     \
    "ssat %[" S "], #8, %[v]\n\t"
#define I8_QUAD_HEAD                                                                                             \
    "ldr %[w], [%[x], #0]\n\t"                                                                                    \
    "ldr %[s0], [%[x], #8]\n\t"                                                                                   \
    "mov %[s1], %[s0]\n\t"                                                                                        \
    "mov %[s2], %[s0]\n\t"                                                                                        \
    "mov %[s3], %[s0]\n\t"
#define I8_QUAD_TAIL                                                                                             \
    "ldr r8, [%[x], #12]\n\t"                                                                                     \
    "ldr r9, [%[x], #16]\n\t"                                                                                     \
    "ldr r10, [%[x], #20]\n\t" I8_RQ_STEP("s0") I8_RQ_STEP("s1") I8_RQ_STEP("s2") I8_RQ_STEP("s3")              \
    "bfi %[s0], %[s1], #8, #8\n\t"                                                                                \
    "bfi %[s0], %[s2], #16, #8\n\t"                                                                               \
    "bfi %[s0], %[s3], #24, #8\n\t"                                                                               \
    "ldr r11, [%[x], #24]\n\t"                                                                                    \
    "ssub8 %[v], %[s0], r11\n\t"                                                                                  \
    "sel %[s0], %[s0], r11\n\t"
#define I8_QUAD_OPS                                                                                              \
    : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [c] "+r"(col), [w] "=&r"(w), [v] "=&r"(v),  \
      [e] "=&r"(e)                                                                                                \
    : [x] "r"(x)                                                                                                  \
    : "r8", "r9", "r10", "r11", "cc", "memory"
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline uint32_t quad_rq4(const int16_t **colp, const quad_ctx *x, const int k16)
{
    const int16_t *col = *colp;
    const int8_t *w;
    int32_t s0, s1, s2, s3;
    uint32_t v, e;
    if (k16) /* klen a multiple of 16: four blocks a turn, nothing else */
        __asm__ volatile(I8_QUAD_HEAD "1:\n\t" I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP
                         "ldr %[e], [%[x], #4]\n\t"
                         "cmp %[w], %[e]\n\t"
                         "bne 1b\n\t" I8_QUAD_TAIL I8_QUAD_OPS);
    else
        __asm__ volatile(I8_QUAD_HEAD "ldr %[e], [%[x], #4]\n\t"
                         "cmp %[w], %[e]\n\t"
                         "beq 2f\n\t"
                         "1:\n\t" I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP I8_QUAD_STEP
                         "ldr %[e], [%[x], #4]\n\t"
                         "cmp %[w], %[e]\n\t"
                         "bne 1b\n\t"
                         "2:\n\t"
                         "ldr %[e], [%[x], #28]\n\t"
                         "cmp %[w], %[e]\n\t"
                         "beq 4f\n\t"
                         "3:\n\t" I8_QUAD_STEP "ldr %[e], [%[x], #28]\n\t"
                         "cmp %[w], %[e]\n\t"
                         "bne 3b\n\t"
                         "4:\n\t" I8_QUAD_TAIL I8_QUAD_OPS);
    *colp = col;
    return (uint32_t)s0;
}
#undef I8_RQ_STEP
#undef I8_QUAD_HEAD
#undef I8_QUAD_TAIL
#undef I8_QUAD_OPS

/* the quads of one channel through quad_rq4 (k16: a constant) */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void quads_asm(const int16_t *col, int32_t np, const quad_ctx *x, int8_t *y, const int k16)
{
    int32_t i;
#if defined(__OPTIMIZE_SIZE__) /* -Os: one copy of the asm (a test per quad) */
    for (i = 0; i < np; i += 4) {
        uint32_t wd = quad_rq4(&col, x, k16);
        if (np - i >= 4) {
            memcpy(y + i, &wd, 4);
        } else {
            int32_t j;
            for (j = i; j < np; ++j, wd >>= 8)
                y[j] = (int8_t)(uint8_t)wd;
        }
    }
#else
    for (i = 0; i + 3 < np; i += 4) {
        const uint32_t wd = quad_rq4(&col, x, k16);
        memcpy(y + i, &wd, 4);
    }
    if (i < np) {
        uint32_t wd = quad_rq4(&col, x, k16);
        for (; i < np; ++i, wd >>= 8)
            y[i] = (int8_t)(uint8_t)wd;
    }
#endif
}
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) && (defined(__GNUC__) || defined(__clang__))
/* the quads of a channel with klen % 4 == 0 through quad_rq4 */
__attribute__((noinline)) static void quads_fused_asm(const int16_t *col, int32_t np, int32_t klen, const int8_t *wc,
                                                      int32_t b0, const rq_ch *q, uint32_t lo4, int8_t *y)
{
    quad_ctx x;
    x.w = wc;
    x.wend16 = wc + (klen & ~15);
    x.wend = wc + klen;
    x.b0 = b0;
    x.mult = q->mult;
    x.nudge = q->nudge;
    x.right = q->right;
    x.lo4 = lo4;
#if defined(__OPTIMIZE_SIZE__) /* -Os: the general form only (three more instructions a quad when klen % 16 == 0) */
    quads_asm(col, np, &x, y, 0);
#else
    if ((klen & 15) == 0)
        quads_asm(col, np, &x, y, 1);
    else
        quads_asm(col, np, &x, y, 0);
#endif
}
#endif

static void quads_fused(const int16_t *col, int32_t np, int32_t klen, const int8_t *wc, int32_t b0, const rq_ch *q,
                        int32_t lo, uint32_t lo4, int8_t *y)
{
    const size_t quad = 4 * (size_t)klen;
    int32_t i, acc[4];
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) && (defined(__GNUC__) || defined(__clang__))
    if ((klen & 3) == 0 && sizeof(void *) == 4) {
        quads_fused_asm(col, np, klen, wc, b0, q, lo4, y);
        return;
    }
#endif
    for (i = 0; i < np; i += 4, col += quad) {
        uint32_t wd;
        dot1x4(col, klen, wc, b0, acc);
        wd = pack4_lo(rq1(acc[0], q), rq1(acc[1], q), rq1(acc[2], q), rq1(acc[3], q), lo, lo4);
        if (np - i >= 4) {
            memcpy(y + i, &wd, 4);
        } else {
            int32_t j;
            for (j = 0; j < np - i; ++j, wd >>= 8)
                y[i + j] = (int8_t)(uint8_t)wd;
        }
    }
}
#endif

#define COLS_MAX 16 /* output positions per im2col block: 16, 8 or 4 as the column is short or long */

/* 16 columns up to 16 taps, 8 up to 128, else 4 (16 up to 64 before: 8 keep the columns of a 32-tap layer within
 * 600 bytes, which Fashion-MNIST dscnn's emitted arena needs to be a quarter of float's; zoo dscnn's 64-tap 1x1
 * layers take 8 % more instructions on the M4 with 8, 25 % with 4). Builds without the x86 paths (Cortex-M, emit-c
 * --kernels mcu) keep 4 from 17 to 32 taps: Fashion-MNIST dscnn's 32-tap pointwise runs where every tensor is
 * live, so its columns are the M4 runtime's scratch past the tensors (518 -> 262 B; that model +6.9 % M4
 * instructions, zoo dscnn has no such layer); x86 hosts keep 8 (their speed). */
static int32_t im2col_cols(int32_t klen)
{
#if NNB_I8_X86
    return klen <= 16 ? 16 : klen <= 128 ? 8 : 4;
#else
    return klen <= 16 ? 16 : klen <= 32 ? 4 : klen <= 128 ? 8 : 4;
#endif
}

/* kept out of line: inlined into nnb_i8_conv2d, its one caller, its 424-byte frame (Cortex-M4) sat on every path
   through nnb_i8_conv2d (the depthwise ones too) and zoo dscnn took 1.4 % more M4 instructions */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void conv_im2col(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                        const int32_t *res_shift, int8_t *y, int16_t *col, int32_t pos0, int32_t npos, size_t plane)
{
    /* output positions [pos0, npos) of every channel, position pos of channel ch at y[ch * plane + pos - pos0] */
    const int32_t cg = p->c / p->group, og = p->o / p->group, klen = cg * p->kh * p->kw;
    const int32_t cols = im2col_cols(klen);
    const size_t quad = 4 * (size_t)klen;
    int64_t bound = 0; /* the largest accumulator bound over the channels (see out_run) */
#if NNB_I8_DSP
    const uint32_t lo4 = (uint32_t)(uint8_t)(int8_t)p->act_min * 0x01010101u;
    int fused;
    const int pw1 = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
                    p->pad_w == 0;
#endif
    out_cfg oc;
    int32_t b, g, pa, ch, i;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    for (ch = 0; ch < p->o; ++ch) {
        const int64_t bc = acc_bound(bias ? bias[ch] : 0, klen, residual, residual ? res_mult[ch] : 0,
                                     residual ? res_shift[ch] : 0);
        bound = bc > bound ? bc : bound;
    }
#if NNB_I8_DSP
    fused = !residual && rq_fast_layer(p, mult, shift, bound);
#endif
    for (b = 0; b < p->n; ++b)
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((size_t)b * (size_t)p->c + (size_t)g * (size_t)cg) * (size_t)p->h * (size_t)p->w;
            for (pa = pos0; pa < npos; pa += cols) {
                const int32_t np = npos - pa < cols ? npos - pa : cols;
                i = 0;
#if NNB_I8_DSP
                if (pw1)
                    for (; i + 3 < np; i += 4)
                        im2col_quad_1x1(p, xg, pa + i, col + (size_t)(i >> 2) * quad);
#endif
                for (; i < ((np + 3) & ~3); ++i) /* slots past the end repeat the last position */
                    im2col_slot(p, xg, pa + (i < np ? i : np - 1), i & 3, col + (size_t)(i >> 2) * quad);
                for (ch = g * og; ch < (g + 1) * og; ++ch) {
                    const size_t at = ((size_t)b * (size_t)p->o + (size_t)ch) * plane + (size_t)(pa - pos0);
                    const int8_t *wc = w + (size_t)ch * (size_t)klen;
                    const int32_t b0 = bias ? bias[ch] : 0;
                    int32_t acc[COLS_MAX];
#if NNB_I8_DSP
                    if (fused) { /* four outputs a step, requantized from the registers, one word store */
                        rq_ch q;
                        rq_ch_init(&q, mult[ch], shift[ch], oc.zout);
                        quads_fused(col, np, klen, wc, b0, &q, oc.lo, lo4, y + at);
                        continue;
                    }
#endif
                    for (i = 0; i < np; i += 4) {
                        dot1x4_call(col + (size_t)(i >> 2) * quad, klen, wc, b0, acc + i);
                    }
                    if (residual)
                        add_residual(acc, np, residual + at, oc.zres, res_mult[ch], res_shift[ch]);
                    out_run(&oc, mult[ch], shift[ch], bound, acc, np, y + at);
                }
            }
        }
}

/* the portable paths' scratch (conv_ok(p) checked) */
static size_t portable_scratch(const nnb_i8_conv_params *p)
{
    size_t need, dw;
    need = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    need = need * (size_t)im2col_cols((int32_t)need) + 1; /* the quads, alignment */
    dw = (size_t)(dw_whole_plane(p) ? p->h + 2 * p->pad_h : p->kh) * (size_t)(p->w + 2 * p->pad_w);
    return dw_rows_ok(p) ? dw : need; /* a depthwise layer never takes the im2col path (nnb_i8_conv2d) */
}

/* the portable paths' scratch or, on x86, the x86 forms' if larger: any CPU's (now == 0, the figure emitted code
 * uses) or this CPU's level (now != 0, the runtime's arena) */
static size_t conv_scratch_of(const nnb_i8_conv_params *p, int now)
{
    size_t need;
    if (!conv_ok(p))
        return 0;
    need = portable_scratch(p);
#if NNB_I8_X86
    {
        const size_t x86 = now ? nnb_i8_x86_conv_scratch_now(p) : nnb_i8_x86_conv_scratch(p);
        if (x86 > need)
            need = x86;
    }
#else
    (void)now;
#endif
    return need;
}

size_t nnb_i8_conv_scratch(const nnb_i8_conv_params *p)
{
    return conv_scratch_of(p, 0);
}

size_t nnb_i8_conv_scratch_run(const nnb_i8_conv_params *p)
{
    return conv_scratch_of(p, 1);
}

int nnb_i8_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                  const int32_t *res_shift, int8_t *y, int16_t *scratch, size_t scratch_len)
{
    if (!conv_ok(p) || !x || !w || !mult || !shift || !y || !scratch)
        return NNB_I8_EINVAL;
    if (residual && (!res_mult || !res_shift || p->res_zero < -128 || p->res_zero > 127))
        return NNB_I8_EINVAL;
    if (scratch_len < portable_scratch(p))
        return NNB_I8_EINVAL;
#if NNB_I8_X86
    /* a scratch sized for another level (nnb_i8_conv_scratch_run before a level change) runs the portable path */
    if (scratch_len >= nnb_i8_x86_conv_scratch_now(p) &&
        nnb_i8_x86_conv2d(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch))
        return NNB_I8_OK;
#endif
#if NNB_I8_DSP
    if (dw3_ok(p, residual) && dw3_plane_bytes(p) <= 2 * scratch_len &&
        rq_fast_layer(p, mult, shift, dw3_bound(p, bias)))
        dw3_fused(p, x, w, bias, mult, shift, y, (int8_t *)(void *)scratch, dw3_bound(p, bias));
    else
#endif
    if (dw_rows_ok(p))
        depthwise_rows(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
    else /* the columns start on a 4-byte boundary (word loads on the DSP path) */
        conv_im2col(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y,
                    scratch + (((uintptr_t)scratch & 2u) ? 1 : 0), 0, p->oh * p->ow, (size_t)p->oh * (size_t)p->ow);
    return NNB_I8_OK;
}

size_t nnb_i8_conv_band_scratch(const nnb_i8_conv_params *p)
{
    return conv_ok(p) && !dw_rows_ok(p) && p->n == 1 ? portable_scratch(p) : 0;
}

void nnb_i8_conv2d_band(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, int8_t *y, size_t ystride, int16_t *scratch)
{
    conv_im2col(p, x, w, bias, mult, shift, NULL, NULL, NULL, y, scratch + (((uintptr_t)scratch & 2u) ? 1 : 0), 0,
                p->oh * p->ow, ystride);
}

int nnb_i8_conv_ok(const nnb_i8_conv_params *p)
{
    return conv_ok(p);
}
