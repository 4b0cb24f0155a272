/* int8 convolution (record 1003 Q8Conv): Convolution, DepthwiseConvolution (group = C) and FusedConv with
 * its fused ReLU/ReLU6 clamp, residual and max pool; 1-D convolutions run as 2-D with one row.
 *
 * y = clamp(z_y + requant(sum (x - z_x) w + bias [+ requant(r - z_r, res_mult, res_shift)]), act_min, act_max)
 * exactly as c_runtime/src/kernels/int8/conv.c (nnb_i8_conv2d): a tap outside the input is the zero point,
 * so it adds nothing.  A fused max pool runs as the convolution into scratch, then q8_pool (q8_pool.cl), as
 * q8_ops.c pools the clamped convolution output.
 *
 * Parameters (byte offsets for int8 tensors, P indices for int32 constants):
 *   0 work items, 1 x, 2 w, 3 bias (P index, -1 none), 4 mult, 5 shift, 6 y,
 *   7 n, 8 c, 9 h, 10 w, 11 o, 12 kh, 13 kw, 14 oh, 15 ow, 16 pad_h, 17 pad_w, 18 stride_h, 19 stride_w,
 *   20 dil_h, 21 dil_w, 22 group, 23 in_zero, 24 out_zero, 25 act_min, 26 act_max,
 *   27 residual (byte offset, -1 none), 28 res_zero, 29 res_mult, 30 res_shift,
 *   31-39 reserved (0, oh, ow, 1, 1, 1, 1, 0, 0)
 *
 * q8_conv_t1/t4/t8: a work item computes
 * 4 neighbouring pixels of one row for 1, 4 or 8 output channels of one group (t4/t8 need o / group to be a
 * multiple of 4/8), each input tap loaded once for all the channels; parameter 0 is the work-item count
 * n * (o / channels) * oh * ceil(ow / 4).
 */
#define Q8C_NPARAMS 40
#define Q8C_VPARAMS 44 /* the vector forms' */
#define Q8C_PX 4

#define Q8_CONV_TILE(NAME, OCB)                                                                                    \
    __kernel void NAME(KARGS)                                                                                      \
    {                                                                                                              \
        const int i = get_global_id(0);                                                                            \
        if (i >= PI(0))                                                                                            \
            return;                                                                                                \
        __global char *mb = Q8B(m);                                                                                \
        const int c = PI(8), h = PI(9), wd = PI(10), o = PI(11), kh = PI(12), kw = PI(13), oh = PI(14);          \
        const int ow = PI(15), g = PI(22), cg = c / g, og = o / g, zin = PI(23), dh = PI(20), dw = PI(21);        \
        const int sw = PI(19), nxb = (ow + Q8C_PX - 1) / Q8C_PX, nob = o / (OCB), kk = cg * kh * kw;              \
        const int xb = i % nxb, oy = (i / nxb) % oh, ob = (i / (nxb * oh)) % nob, nn = i / (nxb * oh * nob);     \
        const int oc0 = ob * (OCB), ox0 = xb * Q8C_PX;                                                            \
        const int y0 = oy * PI(18) - PI(16), x0 = ox0 * sw - PI(17);                                               \
        const int inside = x0 >= 0 && ox0 + Q8C_PX <= ow && x0 + (Q8C_PX - 1) * sw + (kw - 1) * dw < wd;         \
        __global const char *x = mb + PI(1) + ((nn * c + (oc0 / og) * cg) * h) * wd;                             \
        __global const char *w = mb + PI(2) + oc0 * kk;                                                            \
        int acc[OCB][Q8C_PX];                                                                                      \
        for (int j = 0; j < (OCB); ++j)                                                                            \
            for (int q = 0; q < Q8C_PX; ++q)                                                                       \
                acc[j][q] = PI(3) >= 0 ? P[PI(3) + oc0 + j] : 0;                                                   \
        Q8_TAP_ROWS(, __global const char *wr = w + (ci * kh + ky) * kw;                                           \
                    for (int kx = 0; kx < kw; ++kx) {                                                              \
                        const int xi = x0 + kx * dw;                                                               \
                        int xv[Q8C_PX];                                                                            \
                        for (int q = 0; q < Q8C_PX; ++q) {                                                         \
                            const int ix = xi + q * sw;                                                            \
                            xv[q] = (inside || (ix >= 0 && ix < wd)) ? (int)xr[ix] - zin : 0;                      \
                        }                                                                                          \
                        for (int j = 0; j < (OCB); ++j) {                                                          \
                            const int wv = wr[j * kk + kx];                                                        \
                            for (int q = 0; q < Q8C_PX; ++q)                                                       \
                                acc[j][q] += xv[q] * wv;                                                           \
                        }                                                                                          \
                    })                                                                                             \
        for (int j = 0; j < (OCB); ++j) {                                                                          \
            const int oc = oc0 + j, mu = P[PI(4) + oc], sh = P[PI(5) + oc];                                        \
            const int row = ((nn * o + oc) * oh + oy) * ow + ox0;                                                  \
            for (int q = 0; q < Q8C_PX && ox0 + q < ow; ++q)                                                       \
                Q8_CONV_OUT(PI(6), row + q, acc[j][q], mu, sh, P + p + 24, P[PI(29) + oc], P[PI(30) + oc]);        \
        }                                                                                                          \
    }

Q8_CONV_TILE(q8_conv_t1, 1)
Q8_CONV_TILE(q8_conv_t4, 4)
Q8_CONV_TILE(q8_conv_t8, 8)

/* Vector forms for stride-1 and stride-2 convolutions: the input is first copied into planes padded with its zero
 * point (q8_pad; not when the convolution does not pad), so every tap is in bounds and contributes (x - z_x) * w as
 * before; a work item then computes 16 neighbouring pixels of one row (one vector load per tap of the input row,
 * stride 2: two loads and the even lanes) for 8 output channels of one group (q8_conv_v8*, o / group a multiple
 * of 8) or for 1 channel (q8_conv_v1*: depthwise and any other grouping).
 * Parameters: q8_conv's, with x the (padded) planes, h and w their size, pad 0; parameter 0 is the work-item count
 * n * (o / channels) * oh * ceil(ow / 16).  A row's last block loads up to 16 * stride + dil_w (kw - 1) values
 * past its first pixel: the padded width holds them, and an unpadded input is followed by the buffer's guard (the
 * lanes past the row are never stored).
 * Parameters 40-43: the re-laid weights (q8_conv_r8*), then for the flat form of narrow stride-1 rows the
 * padded pitch, the output's width and height (0, 0, 0 otherwise): the whole padded plane is one row of
 * oh * pitch positions (oh = 1, ow = oh * pitch, h and w the padded plane with rows to spare at the bottom),
 * every tap one contiguous load, and only the positions inside the output are stored.
 * q8_pad (a row per work item): 0 work items (planes * hp), 1 x, 2 y, 3 h, 4 w, 5 hp, 6 wp, 7 pad h, 8 pad w,
 *   9 zero point */
__kernel void q8_pad(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int h = PI(3), w = PI(4), hp = PI(5), wp = PI(6), pw = PI(8);
    const int yy = i % hp - PI(7), pl = i / hp;
    const char z = (char)PI(9);
    __global char *y = mb + PI(2) + i * wp;
    if (yy < 0 || yy >= h) {
        for (int k = 0; k < wp; ++k)
            y[k] = z;
        return;
    }
    __global const char *x = mb + PI(1) + (pl * h + yy) * w;
    for (int k = 0; k < pw; ++k)
        y[k] = z;
    for (int k = 0; k < w; ++k)
        y[pw + k] = x[k];
    for (int k = pw + w; k < wp; ++k)
        y[k] = z;
}

#define Q8_LD_S1(p) vload16(0, p)
#define Q8_LD_S2(p) ((char16)(vload16(0, p).even, vload16(0, (p) + 16).even))

/* The vector forms' output stage: a[j][q] is lane q of output channel oc0 + j of row oy, column ox0 + q.  Flat form
 * (Q[41] > 0): lane ox0 + q is (y, x) of the padded pitch Q[41]; an x past the output's width Q[42] is not stored. */
#define Q8_VEC_STORE(OCB, a)                                                                                       \
    for (int j = 0; j < (OCB); ++j) {                                                                              \
        const int oc = oc0 + j, mu = P[Q[4] + oc], sh = P[Q[5] + oc];                                              \
        const int row = ((nn * o + oc) * oh + oy) * ow + ox0;                                                      \
        for (int q = 0; q < 16 && ox0 + q < ow; ++q) {                                                             \
            int at = row + q;                                                                                      \
            if (Q[41]) {                                                                                           \
                const int yy = (ox0 + q) / Q[41], xx = ox0 + q - yy * Q[41];                                       \
                if (xx >= Q[42])                                                                                   \
                    continue;                                                                                      \
                at = ((nn * o + oc) * Q[43] + yy) * Q[42] + xx;                                                    \
            }                                                                                                      \
            Q8_CONV_OUT(Q[6], at, a[j][q], mu, sh, Q + 24, P[Q[29] + oc], P[Q[30] + oc]);                          \
        }                                                                                                          \
    }

/* The vector forms' prologue (a work item past parameter 0 returns): the geometry, the work item's block (image nn,
 * OCB channels from oc0 = ob * OCB, row oy, 16 columns from ox0), kk the taps of one channel, zin the input's zero
 * point in every lane and x the input under the block's first tap (stride S) */
#define Q8_VEC_HEAD(OCB, S)                                                                                        \
    const int i = get_global_id(0);                                                                                \
    __global const int *Q = P + p;                                                                                 \
    if (i >= Q[0])                                                                                                 \
        return;                                                                                                    \
    __global char *mb = Q8B(m);                                                                                    \
    const int c = Q[8], h = Q[9], wd = Q[10], o = Q[11], kh = Q[12], kw = Q[13], oh = Q[14];                       \
    const int ow = Q[15], g = Q[22], cg = c / g, og = o / g, dh = Q[20], dw = Q[21];                               \
    const int nxb = (ow + 15) / 16, nob = o / (OCB), kk = cg * kh * kw;                                            \
    const int xb = i % nxb, oy = (i / nxb) % oh, ob = (i / (nxb * oh)) % nob, nn = i / (nxb * oh * nob);           \
    const int oc0 = ob * (OCB), ox0 = xb * 16;                                                                     \
    const int16 zin = (int16)(Q[23]);                                                                              \
    __global const char *x = mb + Q[1] + ((nn * c + (oc0 / og) * cg) * h + oy * (S)) * wd + ox0 * (S);

/* OCB 1 only (8 channels: q8_conv_r8 below) */
#define Q8_CONV_VEC(NAME, OCB, S, LOAD)                                                                            \
    __kernel void NAME(KARGS)                                                                                      \
    {                                                                                                              \
        Q8_VEC_HEAD(OCB, S)                                                                                        \
        __global const char *w = mb + Q[2] + oc0 * kk;                                                             \
        int16 acc[OCB];                                                                                            \
        _Pragma("unroll") for (int j = 0; j < (OCB); ++j)                                                          \
            acc[j] = (int16)(Q[3] >= 0 ? P[Q[3] + oc0 + j] : 0);                                                   \
        for (int ci = 0; ci < cg; ++ci)                                                                            \
            for (int ky = 0; ky < kh; ++ky) {                                                                      \
                __global const char *xr = x + (ci * h + ky * dh) * wd, *wr = w + (ci * kh + ky) * kw;             \
                for (int kx = 0; kx < kw; ++kx) {                                                                  \
                    const int16 xv = convert_int16(LOAD(xr + kx * dw)) - zin;                                      \
                    _Pragma("unroll") for (int j = 0; j < (OCB); ++j)                                              \
                        acc[j] += xv * (int16)((int)wr[j * kk + kx]);                                              \
                }                                                                                                  \
            }                                                                                                      \
        {                                                                                                          \
            int a[OCB][16];                                                                                        \
            for (int j = 0; j < (OCB); ++j)                                                                        \
                vstore16(acc[j], 0, a[j]);                                                                         \
            Q8_VEC_STORE(OCB, a)                                                                                   \
        }                                                                                                          \
    }

Q8_CONV_VEC(q8_conv_v1, 1, 1, Q8_LD_S1)
Q8_CONV_VEC(q8_conv_v1s2, 1, 2, Q8_LD_S2)

/* q8_conv_r8, q8_conv_r8s2: q8_conv_v8 with the weights re-laid once as [o / 8][c / group][kh][kw][8] (parameter
 * 40: their byte offset), so each tap is one 8-byte load of the 8 channels' weights */
#define Q8_CONV_R8(NAME, S, LOAD)                                                                                  \
    __kernel void NAME(KARGS)                                                                                      \
    {                                                                                                              \
        Q8_VEC_HEAD(8, S)                                                                                          \
        __global const char *w = mb + Q[40] + ob * kk * 8;                                                         \
        int16 a0, a1, a2, a3, a4, a5, a6, a7;                                                                      \
        {                                                                                                          \
            const int b = Q[3];                                                                                    \
            a0 = (int16)(b >= 0 ? P[b + oc0] : 0); a1 = (int16)(b >= 0 ? P[b + oc0 + 1] : 0);                      \
            a2 = (int16)(b >= 0 ? P[b + oc0 + 2] : 0); a3 = (int16)(b >= 0 ? P[b + oc0 + 3] : 0);                  \
            a4 = (int16)(b >= 0 ? P[b + oc0 + 4] : 0); a5 = (int16)(b >= 0 ? P[b + oc0 + 5] : 0);                  \
            a6 = (int16)(b >= 0 ? P[b + oc0 + 6] : 0); a7 = (int16)(b >= 0 ? P[b + oc0 + 7] : 0);                  \
        }                                                                                                          \
        for (int ci = 0; ci < cg; ++ci)                                                                            \
            for (int ky = 0; ky < kh; ++ky) {                                                                      \
                __global const char *xr = x + (ci * h + ky * dh) * wd;                                             \
                __global const char *wr = w + (ci * kh + ky) * kw * 8;                                             \
                for (int kx = 0; kx < kw; ++kx) {                                                                  \
                    const int16 xv = convert_int16(LOAD(xr + kx * dw)) - zin;                                      \
                    const int8 wv = convert_int8(vload8(kx, wr));                                                  \
                    a0 += xv * wv.s0; a1 += xv * wv.s1; a2 += xv * wv.s2; a3 += xv * wv.s3;                        \
                    a4 += xv * wv.s4; a5 += xv * wv.s5; a6 += xv * wv.s6; a7 += xv * wv.s7;                        \
                }                                                                                                  \
            }                                                                                                      \
        {                                                                                                          \
            int a[8][16];                                                                                          \
            vstore16(a0, 0, a[0]); vstore16(a1, 0, a[1]); vstore16(a2, 0, a[2]); vstore16(a3, 0, a[3]);            \
            vstore16(a4, 0, a[4]); vstore16(a5, 0, a[5]); vstore16(a6, 0, a[6]); vstore16(a7, 0, a[7]);            \
            Q8_VEC_STORE(8, a)                                                                                     \
        }                                                                                                          \
    }

Q8_CONV_R8(q8_conv_r8, 1, Q8_LD_S1)
Q8_CONV_R8(q8_conv_r8s2, 2, Q8_LD_S2)
