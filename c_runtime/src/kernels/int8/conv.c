/* int8 2-d convolution, NCHW, grouped (depthwise: group == channels), any pad/stride/dilation,
 * with an optional residual added in the accumulator domain (FusedConv).
 *
 * Paths, all computing the same integers (docs/int8.md):
 *  - depthwise (one input channel per output, no dilation): per channel, the kh input rows it needs
 *    as (x - in_zero) int16 with the padding in place (a ring of kh padded rows, refilled as the
 *    output row moves down), so the inner loops have no bounds checks; on the DSP path two outputs
 *    of a 3x3 stride-1 row at a time from word loads and dual MACs;
 *  - everything else: two im2col columns (two output positions; a 1x1 stride-1 layer is a plain
 *    gather) of (x - in_zero) as int16, then two output channels at a time: a 2x2 register block
 *    (CMSIS-NN's form) of four accumulators, one weight word and four column words giving eight
 *    dual MACs per four input values;
 *  - a plain loop (generic) for what the above do not take (dilated depthwise is in the im2col path).
 * Requantization is prepared once per channel (i8_rq) and applied per output. */
#include "nnb_int8.h"

#include "i8_dot.h"

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

/* y[i] = clamp(zout + requant(acc[i])) for i < n, one channel. `bound` >= every |acc[i]|: below 2^30 the
 * prepared form needs no per-output range check. Everything in locals: the int8 stores may alias any object
 * as far as the compiler knows. */
static void out_run(const out_cfg *o, int32_t mult, int32_t shift, int64_t bound, const int32_t *acc, int32_t n,
                    int8_t *y)
{
    const int32_t zout = o->zout, lo = o->lo, hi = o->hi;
    i8_rq q;
    int32_t i;
    i8_rq_init(&q, mult, shift);
    if (q.lim && bound < ((int64_t)1 << 30)) {
        const int32_t nudge = q.nudge, negm = q.negm, right = q.right;
        for (i = 0; i < n; ++i) {
            int32_t h = i8_mulhr(acc[i] * 2, mult);
            h = ((h + nudge - ((h >> 31) & negm)) >> right) + zout;
            y[i] = (int8_t)(h < lo ? lo : h > hi ? hi : h);
        }
        return;
    }
    for (i = 0; i < n; ++i)
        y[i] = (int8_t)i8_clamp_add(zout, i8_rq_apply(&q, acc[i]), lo, hi);
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

#define DW_CHUNK 8 /* outputs of a row accumulated before they are requantized */

/* acc[i] = b0 + sum over the taps of output ox0 + i (i < n) from the padded rows */
static void dw_macs(const int16_t *const *rows, int32_t kh, int32_t kw, int32_t sw, const int8_t *wc,
                    const uint32_t *wp, int32_t b0, int32_t ox0, int32_t n, int32_t *acc)
{
    int32_t i = 0, ky, kx;
#if NNB_I8_DSP
    if (kh == 3 && kw == 3 && sw == 1) {
        const int16_t *r0 = rows[0] + ox0, *r1 = rows[1] + ox0, *r2 = rows[2] + ox0;
        const uint32_t w00 = wp[0], w10 = wp[2], w20 = wp[4];
        const int32_t w02 = (int32_t)(int16_t)(uint16_t)wp[1], w12 = (int32_t)(int16_t)(uint16_t)wp[3];
        const int32_t w22 = (int32_t)(int16_t)(uint16_t)wp[5];
        for (; i + 1 < n; i += 2) { /* two outputs: words (x0,x1) and (x1,x2) of each row, x2 and x3 alone */
            int32_t a0 = b0, a1 = b0;
            a0 = I8_SMLAD((uint32_t)ld32(r0 + i), w00, a0);
            a1 = I8_SMLAD((uint32_t)ld32(r0 + i + 1), w00, a1);
            a0 += r0[i + 2] * w02;
            a1 += r0[i + 3] * w02;
            a0 = I8_SMLAD((uint32_t)ld32(r1 + i), w10, a0);
            a1 = I8_SMLAD((uint32_t)ld32(r1 + i + 1), w10, a1);
            a0 += r1[i + 2] * w12;
            a1 += r1[i + 3] * w12;
            a0 = I8_SMLAD((uint32_t)ld32(r2 + i), w20, a0);
            a1 = I8_SMLAD((uint32_t)ld32(r2 + i + 1), w20, a1);
            a0 += r2[i + 2] * w22;
            a1 += r2[i + 3] * w22;
            acc[i] = a0;
            acc[i + 1] = a1;
        }
        if (i < n) {
            int32_t a0 = b0;
            a0 = I8_SMLAD((uint32_t)ld32(r0 + i), w00, a0);
            a0 = I8_SMLAD((uint32_t)ld32(r1 + i), w10, a0);
            a0 = I8_SMLAD((uint32_t)ld32(r2 + i), w20, a0);
            acc[i] = a0 + r0[i + 2] * w02 + r1[i + 2] * w12 + r2[i + 2] * w22;
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
    out_cfg oc;
    int32_t b, c;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
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
            int32_t oy, ox, ky, kx, next = 0, np = 0;
            for (ky = 0; ky < kh; ++ky)
                for (kx = 0; kx < kw; kx += 2) {
                    uint32_t lo16 = (uint32_t)(uint16_t)(int16_t)wc[ky * kw + kx];
                    uint32_t hi16 = kx + 1 < kw ? (uint32_t)(uint16_t)(int16_t)wc[ky * kw + kx + 1] : 0u;
                    wp[np++] = lo16 | hi16 << 16;
                }
            for (oy = 0; oy < oh; ++oy) {
                const int32_t r0 = oy * sh;
                if (next < r0)
                    next = r0;
                for (; next < r0 + kh; ++next)
                    dw_fill_row(ring + (size_t)(next % kh) * (size_t)pwid, xc, next, h, wd, ph, pw, zin);
                for (ky = 0; ky < kh; ++ky)
                    rows[ky] = ring + (size_t)((r0 + ky) % kh) * (size_t)pwid;
                for (ox = 0; ox < ow; ox += DW_CHUNK) {
                    const int32_t n = ow - ox < DW_CHUNK ? ow - ox : DW_CHUNK;
                    const size_t at = (size_t)oy * (size_t)ow + (size_t)ox;
                    dw_macs(rows, kh, kw, p->stride_w, wc, wp, b0, ox, n, acc);
                    if (rc)
                        add_residual(acc, n, rc + at, oc.zres, res_mult[c], res_shift[c]);
                    out_run(&oc, mult[c], shift[c], bound, acc, n, yc + at);
                }
            }
        }
}

/* ---------- im2col, two positions x two channels ---------- */

/* Two columns A and B of klen values in one buffer: eight values per full block of four k, then A's tail,
 * then B's tail. On the DSP path a block is (a0, a2, b0, b2, a1, a3, b1, b3): the first two words pair with
 * the weights' (w0, w2) that SXTB16 extracts, the last two with (w1, w3); elsewhere (a0..a3, b0..b3). */
#if NNB_I8_DSP
static const unsigned char k_ord[4] = {0, 4, 1, 5};
#define B_OFF 2
#else
static const unsigned char k_ord[4] = {0, 1, 2, 3};
#define B_OFF 4
#endif

/* column values of output positions pa and pb (flat oy * ow + ox) of batch b, group g */
static void im2col2(const nnb_i8_conv_params *p, const int8_t *xg, int32_t pa, int32_t pb, int16_t *col)
{
    const int32_t cg = p->c / p->group, kh = p->kh, kw = p->kw, h = p->h, wd = p->w, zin = p->in_zero;
    const int32_t klen = cg * kh * kw, k4 = klen & ~3, tail = klen - k4;
    const size_t hw = (size_t)h * (size_t)wd;
    int32_t ci, ky, kx, k = 0, q = 0;
    int16_t *blk = col, *ta = col + 2 * k4, *tb = ta + tail;
    if (kh == 1 && kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        const int8_t *xa = xg + pa, *xb = xg + pb;
        size_t off = 0;
        for (; k < k4; k += 4, blk += 8, off += 4 * hw) {
            blk[k_ord[0]] = (int16_t)(xa[off] - zin);
            blk[k_ord[1]] = (int16_t)(xa[off + hw] - zin);
            blk[k_ord[2]] = (int16_t)(xa[off + 2 * hw] - zin);
            blk[k_ord[3]] = (int16_t)(xa[off + 3 * hw] - zin);
            blk[B_OFF + k_ord[0]] = (int16_t)(xb[off] - zin);
            blk[B_OFF + k_ord[1]] = (int16_t)(xb[off + hw] - zin);
            blk[B_OFF + k_ord[2]] = (int16_t)(xb[off + 2 * hw] - zin);
            blk[B_OFF + k_ord[3]] = (int16_t)(xb[off + 3 * hw] - zin);
        }
        for (q = 0; k < klen; ++k, ++q, off += hw) {
            ta[q] = (int16_t)(xa[off] - zin);
            tb[q] = (int16_t)(xb[off] - zin);
        }
        return;
    }
    {
        const int32_t ya = (pa / p->ow) * p->stride_h - p->pad_h, xa0 = (pa % p->ow) * p->stride_w - p->pad_w;
        const int32_t yb = (pb / p->ow) * p->stride_h - p->pad_h, xb0 = (pb % p->ow) * p->stride_w - p->pad_w;
        for (ci = 0; ci < cg; ++ci) {
            const int8_t *xc = xg + (size_t)ci * hw;
            for (ky = 0; ky < kh; ++ky) {
                const int32_t iya = ya + ky * p->dil_h, iyb = yb + ky * p->dil_h;
                const int ina = iya >= 0 && iya < h, inb = iyb >= 0 && iyb < h;
                const int8_t *ra = xc + (size_t)(ina ? iya : 0) * (size_t)wd;
                const int8_t *rb = xc + (size_t)(inb ? iyb : 0) * (size_t)wd;
                for (kx = 0; kx < kw; ++kx, ++k) {
                    const int32_t ixa = xa0 + kx * p->dil_w, ixb = xb0 + kx * p->dil_w;
                    const int16_t va = (int16_t)(ina && ixa >= 0 && ixa < wd ? ra[ixa] - zin : 0);
                    const int16_t vb = (int16_t)(inb && ixb >= 0 && ixb < wd ? rb[ixb] - zin : 0);
                    if (k < k4) {
                        blk[k_ord[q]] = va;
                        blk[B_OFF + k_ord[q]] = vb;
                        if (++q == 4) {
                            q = 0;
                            blk += 8;
                        }
                    } else {
                        ta[k - k4] = va;
                        tb[k - k4] = vb;
                    }
                }
            }
        }
    }
}

/* s[pos][ch] += column pos . weights of channel ch, over the two-column layout above (col 4-byte aligned) */
static inline void dot2x2(const int16_t *col, int32_t klen, const int8_t *w0, const int8_t *w1, int32_t s[4])
{
    int32_t n4 = klen >> 2;
    const int32_t tail = klen - 4 * n4;
    int32_t s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3], j;
    const int16_t *ta, *tb;
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP) && (defined(__GNUC__) || defined(__clang__))
    if (n4 > 0) { /* 18 instructions per 16 MACs: what the C form below compiles to, without its spills */
        uint32_t xa, xb, v0, v1, e;
        __asm__ volatile("1:\n\t"
                         "ldr %[v0], [%[w0]], #4\n\t"
                         "ldr %[v1], [%[w1]], #4\n\t"
                         "ldrd %[xa], %[xb], [%[c]], #16\n\t"
                         "sxtb16 %[e], %[v0]\n\t"
                         "smlad %[s00], %[xa], %[e], %[s00]\n\t"
                         "smlad %[s10], %[xb], %[e], %[s10]\n\t"
                         "sxtb16 %[e], %[v1]\n\t"
                         "smlad %[s01], %[xa], %[e], %[s01]\n\t"
                         "smlad %[s11], %[xb], %[e], %[s11]\n\t"
                         "ldrd %[xa], %[xb], [%[c], #-8]\n\t"
                         "sxtb16 %[e], %[v0], ror #8\n\t"
                         "smlad %[s00], %[xa], %[e], %[s00]\n\t"
                         "smlad %[s10], %[xb], %[e], %[s10]\n\t"
                         "sxtb16 %[e], %[v1], ror #8\n\t"
                         "smlad %[s01], %[xa], %[e], %[s01]\n\t"
                         "smlad %[s11], %[xb], %[e], %[s11]\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [c] "+r"(col),
                           [w0] "+r"(w0), [w1] "+r"(w1), [n] "+r"(n4), [xa] "=&r"(xa), [xb] "=&r"(xb),
                           [v0] "=&r"(v0), [v1] "=&r"(v1), [e] "=&r"(e)
                         :
                         : "cc", "memory");
    }
#else
    for (; n4 > 0; --n4, col += 8, w0 += 4, w1 += 4) {
#if NNB_I8_DSP
        uint32_t xa, xb, v0, v1, e;
        memcpy(&v0, w0, sizeof v0);
        memcpy(&v1, w1, sizeof v1);
        memcpy(&xa, col, sizeof xa);
        memcpy(&xb, col + 2, sizeof xb);
        e = I8_SXTB16(v0);
        s00 = I8_SMLAD(xa, e, s00);
        s10 = I8_SMLAD(xb, e, s10);
        e = I8_SXTB16(v1);
        s01 = I8_SMLAD(xa, e, s01);
        s11 = I8_SMLAD(xb, e, s11);
        memcpy(&xa, col + 4, sizeof xa);
        memcpy(&xb, col + 6, sizeof xb);
        e = I8_SXTB16_ROR8(v0);
        s00 = I8_SMLAD(xa, e, s00);
        s10 = I8_SMLAD(xb, e, s10);
        e = I8_SXTB16_ROR8(v1);
        s01 = I8_SMLAD(xa, e, s01);
        s11 = I8_SMLAD(xb, e, s11);
#else
        int32_t i;
        for (i = 0; i < 4; ++i) {
            s00 += (int32_t)col[i] * w0[i];
            s01 += (int32_t)col[i] * w1[i];
            s10 += (int32_t)col[4 + i] * w0[i];
            s11 += (int32_t)col[4 + i] * w1[i];
        }
#endif
    }
#endif
    ta = col;
    tb = col + tail;
    for (j = 0; j < tail; ++j) {
        s00 += (int32_t)ta[j] * w0[j];
        s01 += (int32_t)ta[j] * w1[j];
        s10 += (int32_t)tb[j] * w0[j];
        s11 += (int32_t)tb[j] * w1[j];
    }
    s[0] = s00;
    s[1] = s01;
    s[2] = s10;
    s[3] = s11;
}

#define COLS_MAX 8 /* output positions per im2col block: 8 when a column is short (<= 128 values), else 4 */

static int32_t im2col_cols(int32_t klen) { return klen <= 128 ? 8 : 4; }

/* acc0/acc1[i] = bias + column i . weights of channels 0/1, for the np (even) columns of the block */
static void dot_block(const int16_t *col, int32_t klen, int32_t np, const int8_t *w0, const int8_t *w1, int32_t b0,
                      int32_t b1, int32_t *acc0, int32_t *acc1)
{
    int32_t i, s[4];
    for (i = 0; i < np; i += 2, col += 2 * klen) {
        s[0] = s[2] = b0;
        s[1] = s[3] = b1;
        dot2x2(col, klen, w0, w1, s);
        acc0[i] = s[0];
        acc0[i + 1] = s[2];
        acc1[i] = s[1];
        acc1[i + 1] = s[3];
    }
}

static void conv_im2col(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                        const int32_t *res_shift, int8_t *y, int16_t *col)
{
    const int32_t cg = p->c / p->group, og = p->o / p->group, klen = cg * p->kh * p->kw;
    const int32_t npos = p->oh * p->ow, cols = im2col_cols(klen);
    const size_t plane = (size_t)npos;
    int64_t bound = 0; /* the largest accumulator bound over the channels (see out_run) */
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
    for (b = 0; b < p->n; ++b)
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((size_t)b * (size_t)p->c + (size_t)g * (size_t)cg) * (size_t)p->h * (size_t)p->w;
            for (pa = 0; pa < npos; pa += cols) {
                const int32_t np = npos - pa < cols ? npos - pa : cols;
                for (i = 0; i < np; i += 2)
                    im2col2(p, xg, pa + i, pa + i + 1 < npos ? pa + i + 1 : pa + i, col + (size_t)i * (size_t)klen);
                for (ch = g * og; ch < (g + 1) * og; ch += 2) {
                    const int two_ch = ch + 1 < (g + 1) * og;
                    const int32_t ch1 = two_ch ? ch + 1 : ch;
                    const size_t at0 = ((size_t)b * (size_t)p->o + (size_t)ch) * plane + (size_t)pa;
                    const size_t at1 = ((size_t)b * (size_t)p->o + (size_t)ch1) * plane + (size_t)pa;
                    int32_t acc0[COLS_MAX], acc1[COLS_MAX];
                    dot_block(col, klen, (np + 1) & ~1, w + (size_t)ch * (size_t)klen, w + (size_t)ch1 * (size_t)klen,
                              bias ? bias[ch] : 0, bias ? bias[ch1] : 0, acc0, acc1);
                    if (residual)
                        add_residual(acc0, np, residual + at0, oc.zres, res_mult[ch], res_shift[ch]);
                    out_run(&oc, mult[ch], shift[ch], bound, acc0, np, y + at0);
                    if (two_ch) {
                        if (residual)
                            add_residual(acc1, np, residual + at1, oc.zres, res_mult[ch1], res_shift[ch1]);
                        out_run(&oc, mult[ch1], shift[ch1], bound, acc1, np, y + at1);
                    }
                }
            }
        }
}

size_t nnb_i8_conv_scratch(const nnb_i8_conv_params *p)
{
    size_t need, dw;
    if (!conv_ok(p))
        return 0;
    need = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    need = need * (size_t)im2col_cols((int32_t)need) + 1; /* + 1: alignment */
    dw = (size_t)p->kh * (size_t)(p->w + 2 * p->pad_w);
    if (dw_rows_ok(p) && dw > need)
        need = dw;
    return need;
}

int nnb_i8_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                  const int32_t *res_shift, int8_t *y, int16_t *scratch, size_t scratch_len)
{
    if (!conv_ok(p) || !x || !w || !mult || !shift || !y || !scratch)
        return NNB_I8_EINVAL;
    if (residual && (!res_mult || !res_shift || p->res_zero < -128 || p->res_zero > 127))
        return NNB_I8_EINVAL;
    if (scratch_len < nnb_i8_conv_scratch(p))
        return NNB_I8_EINVAL;
    if (dw_rows_ok(p))
        depthwise_rows(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
    else /* the columns start on a 4-byte boundary (word loads on the DSP path) */
        conv_im2col(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y,
                    scratch + (((uintptr_t)scratch & 2u) ? 1 : 0));
    return NNB_I8_OK;
}
