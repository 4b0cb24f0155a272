/* int8 2-d convolution, NCHW, grouped (depthwise: group == channels), any pad/stride/dilation,
 * with an optional residual added in the accumulator domain (FusedConv). One im2col column of
 * (x - in_zero) as int16 per output position, then one dot product per output channel. */
#include "nnb_int8.h"

#include "i8_dot.h"

static int32_t clamp8(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

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
    ekh = p->dil_h * (p->kh - 1) + 1;
    ekw = p->dil_w * (p->kw - 1) + 1;
    if (p->h + 2 * p->pad_h < ekh || p->w + 2 * p->pad_w < ekw)
        return 0;
    return p->oh == (p->h + 2 * p->pad_h - ekh) / p->stride_h + 1 && p->ow == (p->w + 2 * p->pad_w - ekw) / p->stride_w + 1;
}

/* one input channel per output channel (depthwise, multiplier 1): taps straight from the input,
 * no column; the same sums in the same integers as the column path */
static int depthwise(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                     const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                     const int32_t *res_shift, int8_t *y)
{
    /* geometry in locals: the int8 stores may alias *p as far as the compiler knows */
    const int32_t h = p->h, wd = p->w, kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow;
    const int32_t sh = p->stride_h, sw = p->stride_w, ph = p->pad_h, pw = p->pad_w, dh = p->dil_h, dw = p->dil_w;
    const int32_t zin = p->in_zero, zout = p->out_zero, lo = p->act_min, hi = p->act_max, zres = p->res_zero;
    const int32_t nch = p->c, klen = kh * kw;
    const size_t plane = (size_t)oh * (size_t)ow;
    int32_t b, c, oy, ox, ky, kx;
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < nch; ++c) {
            const int8_t *xc = x + ((size_t)b * (size_t)nch + (size_t)c) * (size_t)h * (size_t)wd;
            const int8_t *wc = w + (size_t)c * (size_t)klen;
            const int32_t bc = bias ? bias[c] : 0, mc = mult[c], shc = shift[c];
            int8_t *yc = y + ((size_t)b * (size_t)nch + (size_t)c) * plane;
            const int8_t *rc = residual ? residual + ((size_t)b * (size_t)nch + (size_t)c) * plane : NULL;
            for (oy = 0; oy < oh; ++oy)
                for (ox = 0; ox < ow; ++ox) {
                    int32_t acc = bc;
                    for (ky = 0; ky < kh; ++ky) {
                        int32_t iy = oy * sh - ph + ky * dh;
                        const int8_t *xr, *wr;
                        if (iy < 0 || iy >= h)
                            continue;
                        xr = xc + (size_t)iy * (size_t)wd;
                        wr = wc + (size_t)ky * (size_t)kw;
                        for (kx = 0; kx < kw; ++kx) {
                            int32_t ix = ox * sw - pw + kx * dw;
                            if (ix >= 0 && ix < wd)
                                acc += ((int32_t)xr[ix] - zin) * (int32_t)wr[kx];
                        }
                    }
                    if (rc)
                        acc += i8_requant((int32_t)rc[(size_t)oy * (size_t)ow + (size_t)ox] - zres, res_mult[c],
                                          res_shift[c]);
                    yc[(size_t)oy * (size_t)ow + (size_t)ox] = (int8_t)clamp8(zout + i8_requant(acc, mc, shc), lo, hi);
                }
        }
    return NNB_I8_OK;
}

size_t nnb_i8_conv_scratch(const nnb_i8_conv_params *p)
{
    if (!conv_ok(p))
        return 0;
    return (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
}

int nnb_i8_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                  const int32_t *res_shift, int8_t *y, int16_t *scratch, size_t scratch_len)
{
    int32_t b, g, oy, ox, oc, cg, og, klen, zout, zres, lo, hi;
    size_t plane;
    if (!conv_ok(p) || !x || !w || !mult || !shift || !y || !scratch)
        return NNB_I8_EINVAL;
    if (residual && (!res_mult || !res_shift || p->res_zero < -128 || p->res_zero > 127))
        return NNB_I8_EINVAL;
    zout = p->out_zero;
    zres = p->res_zero;
    lo = p->act_min;
    hi = p->act_max;
    cg = p->c / p->group;
    og = p->o / p->group;
    klen = cg * p->kh * p->kw;
    if (scratch_len < (size_t)klen)
        return NNB_I8_EINVAL;
    plane = (size_t)p->oh * (size_t)p->ow;
    if (cg == 1 && og == 1)
        return depthwise(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y);
    for (b = 0; b < p->n; ++b)
        for (g = 0; g < p->group; ++g)
            for (oy = 0; oy < p->oh; ++oy)
                for (ox = 0; ox < p->ow; ++ox) {
                    int32_t ci, ky, kx, k = 0;
                    const size_t pos = (size_t)oy * (size_t)p->ow + (size_t)ox;
                    for (ci = 0; ci < cg; ++ci) {
                        const int8_t *xc = x + ((size_t)b * (size_t)p->c + (size_t)(g * cg + ci)) * (size_t)p->h * (size_t)p->w;
                        for (ky = 0; ky < p->kh; ++ky) {
                            int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                            for (kx = 0; kx < p->kw; ++kx) {
                                int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                                int inside = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w;
                                scratch[i8_col(k++, klen)] =
                                    (int16_t)(inside ? xc[(size_t)iy * (size_t)p->w + (size_t)ix] - p->in_zero : 0);
                            }
                        }
                    }
                    for (oc = g * og; oc < (g + 1) * og; oc += 2) {
                        int32_t acc[2], j, two = oc + 1 < (g + 1) * og ? 2 : 1;
                        acc[0] = bias ? bias[oc] : 0;
                        acc[1] = bias && two == 2 ? bias[oc + 1] : 0;
                        if (two == 2)
                            i8_dot2(scratch, w + (size_t)oc * (size_t)klen, w + (size_t)(oc + 1) * (size_t)klen, klen,
                                    &acc[0], &acc[1]);
                        else
                            acc[0] = i8_dot(scratch, w + (size_t)oc * (size_t)klen, klen, acc[0]);
                        for (j = 0; j < two; ++j) {
                            size_t at = ((size_t)b * (size_t)p->o + (size_t)(oc + j)) * plane + pos;
                            int32_t a = acc[j];
                            if (residual)
                                a += i8_requant((int32_t)residual[at] - zres, res_mult[oc + j], res_shift[oc + j]);
                            y[at] = (int8_t)clamp8(zout + i8_requant(a, mult[oc + j], shift[oc + j]), lo, hi);
                        }
                    }
                }
    return NNB_I8_OK;
}
