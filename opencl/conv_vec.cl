/* Convolution for CPU devices (2-D, channels first, groups of 1, dilation 1, stride 1 or 2): vectors along the
 * output row.  A work item computes CV_OT output channels x CV_NS "units", a unit being VW consecutive outputs of
 * one row (a row holds CV_NSEG units; the last may be partial).  Each tap is one unaligned vector load of the input
 * row per unit (stride 2: two loads and the even lanes) and one broadcast weight per output channel, so the inner
 * loop is CV_NS loads + CV_OT broadcasts for CV_NS * CV_OT vector FMAs, with no bounds checks: the host hands a
 * zero-padded copy of the input when the convolution pads (its borders are written once, at upload), and keeps a
 * guard of zeros after the arena so that loads of a partial unit stay inside the buffer (their lanes are never
 * stored).  Bias, residual and activation are applied to whole vectors before one vector store per channel.
 * Weights are re-laid once (a setup launch) as [O / CV_OT][C][KH][KW][CV_OT], zero for channels past O.
 * Same parameters as conv (the output's strides, C_YS, with unit stride along a row), then: */

#define CV_XP (C_NPARAMS + 0)   /* offset of the input read: the padded copy or the input itself */
#define CV_XN (C_NPARAMS + 1)   /* its image, channel and row strides */
#define CV_XC (C_NPARAMS + 2)
#define CV_XH (C_NPARAMS + 3)
#define CV_WT (C_NPARAMS + 4)   /* re-laid weights */
#define CV_NOB (C_NPARAMS + 5)  /* blocks of CV_OT output channels */
#define CV_NSEG (C_NPARAMS + 6) /* units per output row */
#define CV_NG (C_NPARAMS + 7)   /* groups of CV_NS units per image */
#define CV_NPARAMS (C_NPARAMS + 8)
#define CV_OT 8
#define CV_NS 2
#define CV_GUARD 128 /* floats a load may reach past the end of the input (the host checks) */

#define CV_LD16_S1(p) vload16(0, p)
#define CV_LD16_S2(p) ((float16)(vload16(0, p).even, vload16(0, (p) + 16).even))
#define CV_LD8_S1(p) vload8(0, p)
#define CV_LD8_S2(p) (vload16(0, p).even)

#define CONV_V(NAME, VW, FT, LOAD, S, KHW)                                                                        \
__kernel void NAME(KARGS)                                                                                      \
{                                                                                                              \
    const int i = get_global_id(0);                                                                            \
    __global const int *Q = P + p;                                                                             \
    const int nob = Q[CV_NOB], ng = Q[CV_NG], nseg = Q[CV_NSEG];                                               \
    if (i >= Q[C_BATCH] * ng * nob)                                                                            \
        return;                                                                                                \
    const int ob = i % nob, r = i / nob, ug = r % ng, n = r / ng;                                              \
    const int OH = Q[C_PO], OW = Q[C_PO + 1], C = Q[C_CIN], KH = KHW(0), KW = KHW(1), O = Q[C_COUT];          \
    const int xc = Q[CV_XC], xh = Q[CV_XH], nu = OH * nseg;                                                    \
    /* the last unit of a row moved back to end at the row's end (its first lanes computed twice, by two work  \
     * items writing the same values), unless the output overwrites the residual it reads */                   \
    const int last = Q[C_R] != Q[C_Y] && OW >= VW ? OW - VW : OW;                                              \
    int oy[CV_NS], ox[CV_NS];                                                                                  \
    __global const float *xb[CV_NS];                                                                           \
    _Pragma("unroll") for (int j = 0; j < CV_NS; ++j) {                                                        \
        int u = min(ug * CV_NS + j, nu - 1);                                                                   \
        oy[j] = u / nseg;                                                                                      \
        ox[j] = min((u - oy[j] * nseg) * VW, last);                                                            \
        xb[j] = m + Q[CV_XP] + n * Q[CV_XN] + oy[j] * S * xh + ox[j] * S;                                      \
    }                                                                                                          \
    FT acc[CV_NS][CV_OT];                                                                                      \
    _Pragma("unroll") for (int j = 0; j < CV_NS; ++j)                                                          \
        _Pragma("unroll") for (int t = 0; t < CV_OT; ++t)                                                      \
            acc[j][t] = (FT)(0.0f);                                                                            \
    __global const float *w = m + Q[CV_WT] + ob * C * KH * KW * CV_OT;                                         \
    for (int c = 0; c < C; ++c) {                                                                              \
        for (int ky = 0; ky < KH; ++ky) {                                                                      \
            const int roff = c * xc + ky * xh;                                                                 \
            for (int kx = 0; kx < KW; ++kx) {                                                                  \
                FT v[CV_NS];                                                                                   \
                _Pragma("unroll") for (int j = 0; j < CV_NS; ++j)                                              \
                    v[j] = LOAD(xb[j] + roff + kx);                                                            \
                _Pragma("unroll") for (int t = 0; t < CV_OT; ++t) {                                            \
                    FT wv = (FT)(w[t]);                                                                        \
                    _Pragma("unroll") for (int j = 0; j < CV_NS; ++j)                                          \
                        acc[j][t] = fma(v[j], wv, acc[j][t]);                                                  \
                }                                                                                              \
                w += CV_OT;                                                                                    \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    const int bias = Q[C_B], res = Q[C_R], ac = Q[C_ACT];                                                      \
    const int ys_n = Q[C_YS], ys_c = Q[C_YS + 1], ys_h = Q[C_YS + 2];                                          \
    _Pragma("unroll") for (int j = 0; j < CV_NS; ++j) {                                                        \
        if (ug * CV_NS + j >= nu)                                                                              \
            break;                                                                                             \
        const int valid = min(VW, OW - ox[j]);                                                                 \
        _Pragma("unroll") for (int t = 0; t < CV_OT; ++t) {                                                    \
            const int o = ob * CV_OT + t;                                                                      \
            if (o >= O)                                                                                        \
                break;                                                                                         \
            const int yo = n * ys_n + o * ys_c + oy[j] * ys_h + ox[j];                                         \
            FT v = acc[j][t];                                                                                  \
            if (bias >= 0)                                                                                     \
                v += (FT)(m[bias + o]);                                                                        \
            if (res >= 0) /* past the row's end: other values or the guard, never stored */                  \
                v += vload##VW(0, m + res + yo);                                                               \
            if (ac == ACT_RELU)                                                                                \
                v = fmax(v, (FT)(0.0f));                                                                       \
            else if (ac == ACT_RELU6)                                                                          \
                v = fmin(fmax(v, (FT)(0.0f)), (FT)(6.0f));                                                     \
            if (valid == VW) {                                                                                 \
                vstore##VW(v, 0, m + Q[C_Y] + yo);                                                             \
            } else {                                                                                           \
                float lanes[VW];                                                                               \
                vstore##VW(v, 0, lanes);                                                                       \
                for (int l = 0; l < valid; ++l)                                                                \
                    m[Q[C_Y] + yo + l] = lanes[l];                                                             \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
}

#define CV_KQ(d) Q[C_K + (d)] /* the kernel's size from the parameters */
#define CV_K1(d) 1            /* a pointwise kernel: the tap loops vanish */
CONV_V(conv_v16_s1, 16, float16, CV_LD16_S1, 1, CV_KQ)
CONV_V(conv_v16_s2, 16, float16, CV_LD16_S2, 2, CV_KQ)
CONV_V(conv_v8_s1, 8, float8, CV_LD8_S1, 1, CV_KQ)
CONV_V(conv_v8_s2, 8, float8, CV_LD8_S2, 2, CV_KQ)
#define CV_K3(d) 3            /* 3 x 3: the taps unrolled */
CONV_V(conv_v16_t1, 16, float16, CV_LD16_S1, 1, CV_K3)
CONV_V(conv_v16_t2, 16, float16, CV_LD16_S2, 2, CV_K3)
CONV_V(conv_v8_t1, 8, float8, CV_LD8_S1, 1, CV_K3)
CONV_V(conv_v8_t2, 8, float8, CV_LD8_S2, 2, CV_K3)
CONV_V(conv_v16_p1, 16, float16, CV_LD16_S1, 1, CV_K1)
CONV_V(conv_v16_p2, 16, float16, CV_LD16_S2, 2, CV_K1)
CONV_V(conv_v8_p2, 8, float8, CV_LD8_S2, 2, CV_K1)

/* The patches of a narrow convolution as rows (im2col) for conv_v16_s1 over the whole output plane: one work item
 * per (n, c, ky, kx) writes the row col[n][(c * KH + ky) * KW + kx][oy * OW + ox] = x[n][c][oy * S + ky][ox * S + kx]
 * from the (padded) input.  P: rows, x, col, C, KH, KW, OH, OW, xn, xc, xh, S */
__kernel void im2col(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    const int KH = PI(4), KW = PI(5), OH = PI(6), OW = PI(7), S = PI(11);
    const int kx = i % KW, r = i / KW, ky = r % KH, r2 = r / KH, c = r2 % PI(3), n = r2 / PI(3);
    __global const float *x = m + PI(1) + n * PI(8) + c * PI(9) + ky * PI(10) + kx;
    __global float *col = m + PI(2) + i * OH * OW;
    for (int oy = 0; oy < OH; ++oy) {
        __global const float *xr = x + oy * S * PI(10);
        for (int ox = 0; ox < OW; ++ox)
            col[oy * OW + ox] = xr[ox * S];
    }
}

/* dwconv_vec (conv_fast.cl) for 3 x 3 kernels: a work item takes DW3_PL planes (n, o..o + DW3_PL - 1), 16 outputs of
 * their flattened planes at a time; the nine lane masks of a vector (row and column inside the plane) are computed
 * once for all its planes and the taps are unrolled.  Same parameters as conv. */
#define DW3_PL 4
#define DW3_TAP(KY, KX) \
    acc = fma(select((float16)(0.0f), vload16(0, xr + (KY) * W + (KX)), ok##KY##KX), (float16)(wr[(KY) * 3 + (KX)]), acc)
__kernel void dwconv3_vec(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    const int O = Q[C_COUT], ngrp = (O + DW3_PL - 1) / DW3_PL;
    if (i >= Q[C_BATCH] * ngrp)
        return;
    const int H = Q[C_IN], W = Q[C_IN + 1], PY = Q[C_PAD], PX = Q[C_PAD + 1];
    const int HW = H * W, o0 = (i % ngrp) * DW3_PL, n = i / ngrp, mult = O / Q[C_GROUP], np = min(DW3_PL, O - o0);
    const int res = Q[C_R], ac = Q[C_ACT], ws = Q[C_WS], ys_c = Q[C_YS + 1];
    /* plane k of the item: input x + k * xstep (the multiplier's outputs share an input plane), output y + k * ys_c */
    __global const float *x = m + Q[C_X] + n * Q[C_XS] + (o0 / mult) * Q[C_XS + 1] - PY * W - PX;
    const int xstep = mult == 1 ? Q[C_XS + 1] : 0;
    __global const float *w = m + Q[C_W] + o0 * ws;
    __global float *y = m + Q[C_Y] + n * Q[C_YS] + o0 * ys_c;
    __global const float *rp = m + res + n * Q[C_YS] + o0 * ys_c;
    const int step_y = 16 / W, step_x = 16 - (16 / W) * W;
    int16 yy, xx;
    lane_rows(W, &yy, &xx); /* conv_fast.cl */
    yy -= PY; /* the source row and column of tap (0, 0) */
    xx -= PX;
    const int back = HW >= 16 && res != Q[C_Y]; /* the last vector may move back (not over a residual it reads) */
    for (int q0 = 0; q0 < HW; q0 += 16) {
        int16 ys = yy, xs = xx;
        int qs = q0;
        if (back && q0 + 16 > HW) { /* end at the plane's end: whole-vector stores, the first lanes written twice */
            qs = HW - 16;
            xs -= q0 - qs;
            for (int16 wrap = xs < -PX; any(wrap); wrap = xs < -PX) {
                xs = select(xs, xs + W, wrap);
                ys += wrap;
            }
        }
        const int16 okr0 = (ys >= 0) & (ys < H), okr1 = (ys >= -1) & (ys < H - 1), okr2 = (ys >= -2) & (ys < H - 2);
        const int16 okc0 = (xs >= 0) & (xs < W), okc1 = (xs >= -1) & (xs < W - 1), okc2 = (xs >= -2) & (xs < W - 2);
        const int16 ok00 = okr0 & okc0, ok01 = okr0 & okc1, ok02 = okr0 & okc2, ok10 = okr1 & okc0, ok11 = okr1 & okc1;
        const int16 ok12 = okr1 & okc2, ok20 = okr2 & okc0, ok21 = okr2 & okc1, ok22 = okr2 & okc2;
        const int full = qs + 16 <= HW;
        for (int k = 0; k < np; ++k) {
            /* an input plane shared by several outputs (multiplier > 1) is the same for the whole item only when
             * they all come from it; otherwise step to the next input plane every mult outputs */
            __global const float *xr = mult == 1 ? x + k * xstep + qs
                                                 : x + ((o0 + k) / mult - o0 / mult) * Q[C_XS + 1] + qs;
            __global const float *wr = w + k * ws;
            float16 acc = (float16)(Q[C_B] >= 0 ? m[Q[C_B] + o0 + k] : 0.0f);
            DW3_TAP(0, 0); DW3_TAP(0, 1); DW3_TAP(0, 2);
            DW3_TAP(1, 0); DW3_TAP(1, 1); DW3_TAP(1, 2);
            DW3_TAP(2, 0); DW3_TAP(2, 1); DW3_TAP(2, 2);
            if (res >= 0)
                acc += vload16(0, rp + k * ys_c + qs);
            if (ac == ACT_RELU)
                acc = fmax(acc, (float16)(0.0f));
            else if (ac == ACT_RELU6)
                acc = fmin(fmax(acc, (float16)(0.0f)), (float16)(6.0f));
            if (full) {
                vstore16(acc, 0, y + k * ys_c + qs);
            } else {
                float out[16];
                vstore16(acc, 0, out);
                for (int l = 0; l < HW - qs; ++l)
                    y[k * ys_c + qs + l] = out[l];
            }
        }
        xx += step_x;
        yy += step_y;
        int16 wrap = xx >= W - PX;  /* -1 where a lane passed the end of its row */
        xx = select(xx, xx - W, wrap);
        yy -= wrap;
    }
}

/* The interior of a zero-padded copy: row r of plane pl (one work item per row, 16 floats at a time).
 * P: rows, H, W, x, y, x plane stride, x row stride, y plane stride, y row stride */
__kernel void pad_rows(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    const int H = PI(1), W = PI(2), pl = i / H, r = i - pl * H;
    __global const float *x = m + PI(3) + pl * PI(5) + r * PI(6);
    __global float *y = m + PI(4) + pl * PI(7) + r * PI(8);
    int k = 0;
    for (; k + 16 <= W; k += 16)
        vstore16(vload16(0, x + k), 0, y + k);
    for (; k < W; ++k)
        y[k] = x[k];
}

/* Deconvolution with a 2 x 2 kernel at stride 2, no padding, groups of 1 (U-Net upsampling; CPU devices): every
 * output takes one tap, y[n, o, Y, X] = b[o] + sum_c x[n, c, Y / 2, X / 2] * w[c, o, Y % 2, X % 2].  A work item
 * makes 16 outputs of a row from 8 inputs (each used twice) and the two weights of the row's tap row.
 * P: items, x, w, b (-1: none), y, C, O, H, W, blocks of 16 per output row; x, w (C, O, 2, 2), y contiguous */
__kernel void deconv_s2(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    const int C = PI(5), O = PI(6), H = PI(7), W = PI(8), nxb = PI(9), OW = 2 * W;
    const int xb = i % nxb, r = i / nxb, Y = r % (2 * H), r2 = r / (2 * H), o = r2 % O, n = r2 / O;
    const int X0 = xb * 16, ky = Y & 1;
    __global const float *x = m + PI(1) + n * C * H * W + (Y >> 1) * W + (X0 >> 1);
    __global const float *w = m + PI(2) + o * 4 + ky * 2;
    const uint16 dup = (uint16)(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const int16 odd = (int16)(0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1);
    float16 acc = (float16)(PI(3) >= 0 ? m[PI(3) + o] : 0.0f);
    for (int c = 0; c < C; ++c) {
        float8 xv = vload8(0, x + c * H * W);
        float16 wv = select((float16)(w[c * O * 4]), (float16)(w[c * O * 4 + 1]), odd);
        acc = fma(shuffle(xv, dup), wv, acc);
    }
    __global float *y = m + PI(4) + ((n * O + o) * 2 * H + Y) * OW + X0;
    if (X0 + 16 <= OW) {
        vstore16(acc, 0, y);
    } else {
        float out[16];
        vstore16(acc, 0, out);
        for (int l = 0; l < OW - X0; ++l)
            y[l] = out[l];
    }
}

/* 2-D pooling for CPU devices: one work item per output row (plane, oy), then the residual and the activation
 * of a FusedConv (the same as pool2d followed by binary and unary, in one pass).
 * P: op, rows, x, y, res (-1: none, same layout as y), act, incl, H, W, OH, OW, KH, KW, SY, SX, PY, PX */
__kernel void pool_rows(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    const int op = PI(0), res = PI(4), ac = PI(5), incl = PI(6), H = PI(7), W = PI(8), OH = PI(9), OW = PI(10);
    const int KH = PI(11), KW = PI(12), SY = PI(13), SX = PI(14), PY = PI(15), PX = PI(16);
    const int pl = i / OH, oy = i - pl * OH;
    const int y0 = oy * SY - PY, ya = max(y0, 0), yb = min(y0 + KH, H);
    __global const float *x = m + PI(2) + pl * H * W;
    const int yo = (pl * OH + oy) * OW;
    const int dy = pool_div(oy, H, KH, SY, PY, incl);
    for (int ox = 0; ox < OW; ++ox) {
        const int x0 = ox * SX - PX, xa = max(x0, 0), xb = min(x0 + KW, W);
        float acc = op != POOL_MAX ? 0.0f : ya < yb && xa < xb ? x[ya * W + xa] : -INFINITY; /* pool.cl */
        for (int yy = ya; yy < yb; ++yy)
            for (int xx = xa; xx < xb; ++xx)
                acc = op == POOL_MAX ? pool_max_step(acc, x[yy * W + xx]) : acc + x[yy * W + xx];
        if (op == POOL_AVERAGE)
            acc /= (float)(dy * pool_div(ox, W, KW, SX, PX, incl));
        if (res >= 0)
            acc += m[res + yo + ox];
        m[PI(3) + yo + ox] = act(ac, acc);
    }
}
