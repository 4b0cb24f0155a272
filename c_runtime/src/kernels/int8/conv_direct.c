/* int8 convolution + max pool computed pooled pixel by pooled pixel, with no scratch (conv_pool.h,
 * nnb_i8_conv_pool_direct): the portable and Cortex-M form of record 1003 with a pool and of Q8QConv's bands.
 *
 * For one output channel and one pooled pixel, the convolution outputs of its window (clipped to the
 * convolution output) are accumulated in int32 locals straight from the int8 input, and only the extreme
 * accumulator is requantized: the requantization x -> clamp(zero + requant(x, mult, shift)) is monotonic
 * (non-decreasing for mult >= 0, non-increasing for mult < 0), so requantizing the largest (smallest)
 * accumulator gives the max of the requantized values, the integers nnb_i8_conv2d + nnb_i8_max_pool2d give.
 * A window with no convolution output gives -128, as the max pool does.
 *
 * Windows wholly inside the input (no padding tap) take the fast form: in_zero folded into the bias once per
 * channel (bias - in_zero * sum w), four window positions accumulated at once so each weight word is
 * sign-extended once for all four; on the DSP path (Cortex-M4, or NNB_I8_EMULATE_DSP) a word of four input bytes
 * and a word of four weights are split by SXTB16 into (x0, x2), (x1, x3) and (w0, w2), (w1, w3): two SMLADs per
 * four taps, no reordering of the packed weights. Windows that touch the padding (or a dilated row) take a plain
 * bounds-checked loop of (x - in_zero) * w. */
#include "conv_pool.h"

#include "i8_dot.h"

/* one output channel's constants */
typedef struct {
    const int8_t *x; /* its group's first input channel */
    const int8_t *w; /* its weights [c/group][kh][kw] */
    int32_t cpg, bias, fold; /* fold: bias - in_zero * sum w (the fast form's start) */
} chan;

/* one tap (weight wv at byte i of the row) into the four accumulators */
#define NNB_I8_TAP4(i, wv)                                                                                         \
    do {                                                                                                           \
        const int32_t t_ = (wv);                                                                                   \
        a0 += xb[(i)] * t_;                                                                                        \
        a1 += xb[d1 + (i)] * t_;                                                                                   \
        a2 += xb[d2 + (i)] * t_;                                                                                   \
        a3 += xb[d3 + (i)] * t_;                                                                                   \
    } while (0)

#if defined(__GNUC__)
#define NNB_I8_INLINE static inline __attribute__((always_inline))
#else
#define NNB_I8_INLINE static inline
#endif

/* acc[0..3] = fold + sum x * w over the windows at input offsets off[0] < off[1] < off[2] < off[3] (each wholly
   inside, dil_w == 1), kernel rows of kw taps: one row pointer and three distances, the rows' last kw % 4 taps
   unrolled. Called with kw a constant for 3- and 5-wide kernels (the rows' loops then vanish: a loop's set-up
   cost as much as its taps on the M4) */
NNB_I8_INLINE void acc4_kw(const nnb_i8_conv_params *p, const chan *ch, const size_t *off, int32_t *acc,
                           const int32_t kw)
{
    const size_t rstep = (size_t)p->dil_h * (size_t)p->w;
    const size_t cstep = (size_t)p->h * (size_t)p->w - (size_t)p->kh * rstep; /* past the last row -> next channel */
    const size_t d1 = off[1] - off[0], d2 = off[2] - off[0], d3 = off[3] - off[0];
    const int32_t kw4 = kw & ~3;
    const int8_t *wr = ch->w, *xb = ch->x + off[0];
    int32_t a0 = ch->fold, a1 = ch->fold, a2 = ch->fold, a3 = ch->fold, ci, ky;
    for (ci = 0; ci < ch->cpg; ++ci, xb += cstep)
        for (ky = 0; ky < p->kh; ++ky, wr += kw, xb += rstep) {
            int32_t kx = 0;
#if NNB_I8_DSP
            for (; kx < kw4; kx += 4) {
                uint32_t w02, w13;
                i8_split4(wr + kx, &w02, &w13);
                a0 = i8_dot4(xb + kx, w02, w13, a0);
                a1 = i8_dot4(xb + d1 + kx, w02, w13, a1);
                a2 = i8_dot4(xb + d2 + kx, w02, w13, a2);
                a3 = i8_dot4(xb + d3 + kx, w02, w13, a3);
            }
#else
            for (; kx < kw4; kx += 4) {
                NNB_I8_TAP4(kx, wr[kx]);
                NNB_I8_TAP4(kx + 1, wr[kx + 1]);
                NNB_I8_TAP4(kx + 2, wr[kx + 2]);
                NNB_I8_TAP4(kx + 3, wr[kx + 3]);
            }
#endif
            switch (kw - kw4) {
            case 3:
                NNB_I8_TAP4(kx + 2, wr[kx + 2]);
                /* fall through */
            case 2:
                NNB_I8_TAP4(kx + 1, wr[kx + 1]);
                /* fall through */
            case 1:
                NNB_I8_TAP4(kx, wr[kx]);
                break;
            default:
                break;
            }
        }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static void acc4(const nnb_i8_conv_params *p, const chan *ch, const size_t *off, int32_t *acc)
{
    if (p->kw == 5)
        acc4_kw(p, ch, off, acc, 5);
    else if (p->kw == 3)
        acc4_kw(p, ch, off, acc, 3);
    else
        acc4_kw(p, ch, off, acc, p->kw);
}
#undef NNB_I8_TAP4

/* two channels (a, b: the same group, so the same input) over two windows at offsets o0 < o1 (wholly inside,
   dil_w == 1): acc = {a at o0, a at o1, b at o0, b at o1}. Each input word is sign-extended once for both
   channels (the four-window form extends it once per channel) */
NNB_I8_INLINE void acc2x2_kw(const nnb_i8_conv_params *p, const chan *ca, const chan *cb, size_t o0, size_t o1,
                             int32_t *acc, const int32_t kw)
{
    const size_t rstep = (size_t)p->dil_h * (size_t)p->w;
    const size_t cstep = (size_t)p->h * (size_t)p->w - (size_t)p->kh * rstep;
    const size_t d1 = o1 - o0;
    const int8_t *wa = ca->w, *wb = cb->w, *xb = ca->x + o0;
    int32_t a0 = ca->fold, a1 = ca->fold, b0 = cb->fold, b1 = cb->fold, ci, ky;
    for (ci = 0; ci < ca->cpg; ++ci, xb += cstep)
        for (ky = 0; ky < p->kh; ++ky, wa += kw, wb += kw, xb += rstep) {
            int32_t kx = 0;
#if NNB_I8_DSP
            for (; kx < (kw & ~3); kx += 4) {
                /* each input word sign-extended once for both channels */
                uint32_t x02, x13, y02, y13, w02, w13;
                i8_split4(xb + kx, &x02, &x13);
                i8_split4(xb + d1 + kx, &y02, &y13);
                i8_split4(wa + kx, &w02, &w13);
                a0 = I8_SMLAD(x13, w13, I8_SMLAD(x02, w02, a0));
                a1 = I8_SMLAD(y13, w13, I8_SMLAD(y02, w02, a1));
                i8_split4(wb + kx, &w02, &w13);
                b0 = I8_SMLAD(x13, w13, I8_SMLAD(x02, w02, b0));
                b1 = I8_SMLAD(y13, w13, I8_SMLAD(y02, w02, b1));
            }
#endif
            for (; kx < kw; ++kx) {
                const int32_t ta = wa[kx], tb = wb[kx], u = xb[kx], v = xb[d1 + (size_t)kx];
                a0 += u * ta;
                a1 += v * ta;
                b0 += u * tb;
                b1 += v * tb;
            }
        }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void acc2x2(const nnb_i8_conv_params *p, const chan *ca, const chan *cb, const size_t *off, int32_t *acc)
{
    if (p->kw == 5)
        acc2x2_kw(p, ca, cb, off[0], off[1], acc, 5);
    else if (p->kw == 3)
        acc2x2_kw(p, ca, cb, off[0], off[1], acc, 3);
    else
        acc2x2_kw(p, ca, cb, off[0], off[1], acc, p->kw);
}

/* fold + sum x * w over one window at input offset off (wholly inside, dil_w == 1) */
static int32_t acc1(const nnb_i8_conv_params *p, const chan *ch, size_t off)
{
    const size_t plane = (size_t)p->h * (size_t)p->w, rstep = (size_t)p->dil_h * (size_t)p->w;
    const int8_t *wr = ch->w, *x = ch->x + off;
    int32_t a = ch->fold, ci, ky, kx;
    for (ci = 0; ci < ch->cpg; ++ci)
        for (ky = 0; ky < p->kh; ++ky, wr += p->kw) {
            const int8_t *xr = x + (size_t)ci * plane + (size_t)ky * rstep;
            kx = 0;
#if NNB_I8_DSP
            for (; kx + 3 < p->kw; kx += 4) {
                uint32_t w02, w13;
                i8_split4(wr + kx, &w02, &w13);
                a = i8_dot4(xr + kx, w02, w13, a);
            }
#endif
            for (; kx < p->kw; ++kx)
                a += xr[kx] * wr[kx];
        }
    return a;
}

/* bias + sum (x - in_zero) * w over the taps of the window at (iy0, ix0) inside the input */
static int32_t acc_edge(const nnb_i8_conv_params *p, const chan *ch, int32_t iy0, int32_t ix0)
{
    const size_t plane = (size_t)p->h * (size_t)p->w;
    const int8_t *wr = ch->w;
    int32_t a = ch->bias, ci, ky, kx;
    for (ci = 0; ci < ch->cpg; ++ci)
        for (ky = 0; ky < p->kh; ++ky, wr += p->kw) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int8_t *xr;
            if (iy < 0 || iy >= p->h) continue;
            xr = ch->x + (size_t)ci * plane + (size_t)iy * (size_t)p->w;
            for (kx = 0; kx < p->kw; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix >= 0 && ix < p->w) a += ((int32_t)xr[ix] - p->in_zero) * wr[kx];
            }
        }
    return a;
}

/* one output channel's constants and requantization */
static void chan_init(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, int32_t oc, chan *ch, i8_rq *q)
{
    const size_t klen = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    int32_t ws = 0;
    size_t i;
    ch->cpg = p->c / p->group;
    ch->x = x + (size_t)(oc / (p->o / p->group)) * (size_t)ch->cpg * (size_t)p->h * (size_t)p->w;
    ch->w = w + (size_t)oc * klen;
    ch->bias = bias ? bias[oc] : 0;
    for (i = 0; i < klen; ++i) ws += ch->w[i];
    ch->fold = ch->bias - p->in_zero * ws;
    i8_rq_init(q, mult[oc], shift[oc]);
}

/* best[j] = the accumulator of channel j whose requantization is largest so far (neg[j]: the multiplier is
   negative, the requantization non-increasing: the smallest) */
static void pick(int32_t *best, const int *neg, int32_t j, int32_t v)
{
    if (neg[j] ? v < best[j] : v > best[j]) best[j] = v;
}

void nnb_i8_conv_pool_direct(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x,
                             const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *y, size_t ystride, int32_t k0, int32_t k1)
{
    const int32_t opg = p->o / p->group, ekh = p->dil_h * (p->kh - 1) + 1, ekw = p->dil_w * (p->kw - 1) + 1;
    int32_t oc, nch;
    /* two channels of one group at a time (their windows share the input words), else one */
    for (oc = 0; oc < p->o; oc += nch) {
        chan ch[2];
        i8_rq q[2];
        int neg[2];
        const int32_t batch = (nch = oc + 1 < p->o && (oc + 1) / opg == oc / opg ? 2 : 1) == 2 ? 2 : 4;
        int32_t k, px, j;
        for (j = 0; j < nch; ++j) {
            chan_init(p, x, w, bias, mult, shift, oc + j, &ch[j], &q[j]);
            neg[j] = mult[oc + j] < 0;
        }
        for (k = k0; k < k1; ++k) {
            int32_t r0 = k * pp->stride_h - pp->pad_h, r1 = r0 + pp->kh;
            int8_t *yr = y + (size_t)oc * ystride + (size_t)k * (size_t)pp->ow;
            r0 = r0 < 0 ? 0 : r0;
            r1 = r1 > p->oh ? p->oh : r1;
            for (px = 0; px < pp->ow; ++px) {
                int32_t c0 = px * pp->stride_w - pp->pad_w, c1 = c0 + pp->kw, r, c, np = 0, i, best[2];
                size_t off[4];
                int32_t acc[4];
                c0 = c0 < 0 ? 0 : c0;
                c1 = c1 > p->ow ? p->ow : c1;
                for (j = 0; j < nch; ++j) best[j] = neg[j] ? INT32_MAX : INT32_MIN;
                if (r0 >= r1 || c0 >= c1) { /* a window wholly in the pool's padding */
                    for (j = 0; j < nch; ++j) yr[(size_t)j * ystride + (size_t)px] = -128;
                    continue;
                }
                for (r = r0; r < r1; ++r)
                    for (c = c0; c < c1; ++c) {
                        const int32_t iy0 = r * p->stride_h - p->pad_h, ix0 = c * p->stride_w - p->pad_w;
                        if (p->dil_w == 1 && iy0 >= 0 && iy0 + ekh <= p->h && ix0 >= 0 && ix0 + ekw <= p->w) {
                            off[np++] = (size_t)iy0 * (size_t)p->w + (size_t)ix0;
                            if (np < batch) continue;
                            np = 0;
                            if (nch == 2) {
                                acc2x2(p, &ch[0], &ch[1], off, acc);
                                pick(best, neg, 0, acc[0]), pick(best, neg, 0, acc[1]);
                                pick(best, neg, 1, acc[2]), pick(best, neg, 1, acc[3]);
                            } else {
                                acc4(p, &ch[0], off, acc);
                                for (i = 0; i < 4; ++i) pick(best, neg, 0, acc[i]);
                            }
                        } else {
                            for (j = 0; j < nch; ++j) pick(best, neg, j, acc_edge(p, &ch[j], iy0, ix0));
                        }
                    }
                for (i = 0; i < np; ++i)
                    for (j = 0; j < nch; ++j) pick(best, neg, j, acc1(p, &ch[j], off[i]));
                for (j = 0; j < nch; ++j)
                    yr[(size_t)j * ystride + (size_t)px] =
                        (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q[j], best[j]), p->act_min, p->act_max);
            }
        }
    }
}
