/* Fused launches for CPU devices (Python host): a 3 x 3 depthwise convolution and the pointwise (1 x 1) convolution
 * that reads its output, in one launch (DS-CNN / MobileNet blocks).  A work item takes one whole image: it computes
 * the depthwise output of every channel (16 outputs of the flattened plane per vector, each tap one shifted vload16
 * with the lanes outside the plane zeroed, as dwconv3_vec) into a private tile, then the pointwise convolution from
 * that tile (aligned private loads; 8 output channels x FP_NV vectors of accumulators, one broadcast weight per
 * channel) and stores the result.  The depthwise output never goes through memory shared with other work items and
 * the two launches become one.  Because a work item reads all of its image's input before it writes any output,
 * the output may lie over the depthwise input when the two have the same per-image layout (the arena's ping-pong).
 * P: images, x, x image stride, x channel stride, C, H, W, PY, PX,
 *    dw weights (C x 3 x 3 taps), dw channel stride, dw bias (-1: none), dw act,
 *    O, pointwise weights re-laid [O / 8][C][8] (zero past O), pw bias (-1: none), pw act, y, y image stride,
 *    y channel stride */
#define FP_TILE 512 /* float16 vectors of the private depthwise tile: C x ceil(H * W / 16) at most */
#define FP_OT 8     /* output channels per pointwise step */
#define FP_NV 2     /* vectors (16 outputs each) per pointwise step */

float16 fp_act(float16 v, int ac)
{
    if (ac == ACT_RELU)
        return fmax(v, (float16)(0.0f));
    if (ac == ACT_RELU6)
        return fmin(fmax(v, (float16)(0.0f)), (float16)(6.0f));
    return v;
}

/* The pointwise GEMM of a private tile t ([C][nv] float16 vectors of one image's plane) with weights re-laid
 * [O / 8][C][8]: bias, activation and plane-contiguous stores (y channel stride yc, HW values per plane). */
void fp_gemm(const float16 *t, const int nv, const int C, __global const float *wt, const int O, const int pwb,
             const int pwa, __global float *y, const int yc, const int HW, __global const float *m)
{
    for (int ob = 0; ob * FP_OT < O; ++ob) {
        __global const float *wb = wt + ob * C * FP_OT;
        for (int q0 = 0; q0 < nv; q0 += FP_NV) {
            float16 acc[FP_NV][FP_OT];
            int qs[FP_NV];
            _Pragma("unroll") for (int j = 0; j < FP_NV; ++j) {
                qs[j] = min(q0 + j, nv - 1); /* past the last vector: a repeat, never stored */
                _Pragma("unroll") for (int k = 0; k < FP_OT; ++k)
                    acc[j][k] = (float16)(0.0f);
            }
            for (int c = 0; c < C; ++c) {
                float16 v[FP_NV];
                _Pragma("unroll") for (int j = 0; j < FP_NV; ++j)
                    v[j] = t[c * nv + qs[j]];
                _Pragma("unroll") for (int k = 0; k < FP_OT; ++k) {
                    const float16 wv = (float16)(wb[c * FP_OT + k]);
                    _Pragma("unroll") for (int j = 0; j < FP_NV; ++j)
                        acc[j][k] = fma(v[j], wv, acc[j][k]);
                }
            }
            _Pragma("unroll") for (int j = 0; j < FP_NV; ++j) {
                if (q0 + j >= nv)
                    break;
                const int base = qs[j] * 16, valid = min(16, HW - base);
                _Pragma("unroll") for (int k = 0; k < FP_OT; ++k) {
                    const int o = ob * FP_OT + k;
                    if (o >= O)
                        break;
                    float16 v = acc[j][k];
                    if (pwb >= 0)
                        v += (float16)(m[pwb + o]);
                    v = fp_act(v, pwa);
                    if (valid == 16) {
                        vstore16(v, 0, y + o * yc + base);
                    } else {
                        float lanes[16];
                        vstore16(v, 0, lanes);
                        for (int l = 0; l < valid; ++l)
                            y[o * yc + base + l] = lanes[l];
                    }
                }
            }
        }
    }
}

#define FP_TAP(KY, KX)                                                                                          \
    acc = fma(select((float16)(0.0f), vload16(0, xr + ((KY) - PY) * W + (KX) - PX),                           \
                     (okr##KY & okc##KX)), (float16)(wr[(KY) * 3 + (KX)]), acc)

__kernel void dw3_pw(KARGS)
{
    const int n = get_global_id(0);
    if (n >= PI(0))
        return;
    const int C = PI(4), H = PI(5), W = PI(6), PY = PI(7), PX = PI(8), HW = H * W, nv = (HW + 15) / 16;
    const int dwb = PI(11), dwa = PI(12), O = PI(13), pwb = PI(15), pwa = PI(16);
    __global const float *x = m + PI(1) + n * PI(2);
    float16 t[FP_TILE];
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int q = 0; q < nv; ++q) {
        const int16 pos = lane + q * 16, r = pos / W, cx = pos - r * W;
        /* tap (ky, kx) reads row r + ky - PY, column cx + kx - PX; lanes past the plane are never stored */
        const int16 okr0 = (r - PY >= 0) & (r - PY < H), okr1 = (r + 1 - PY >= 0) & (r + 1 - PY < H);
        const int16 okr2 = (r + 2 - PY >= 0) & (r + 2 - PY < H);
        const int16 okc0 = (cx - PX >= 0) & (cx - PX < W), okc1 = (cx + 1 - PX >= 0) & (cx + 1 - PX < W);
        const int16 okc2 = (cx + 2 - PX >= 0) & (cx + 2 - PX < W);
        for (int c = 0; c < C; ++c) {
            __global const float *xr = x + c * PI(3) + q * 16;
            __global const float *wr = m + PI(9) + c * PI(10);
            float16 acc = (float16)(dwb >= 0 ? m[dwb + c] : 0.0f);
            FP_TAP(0, 0); FP_TAP(0, 1); FP_TAP(0, 2);
            FP_TAP(1, 0); FP_TAP(1, 1); FP_TAP(1, 2);
            FP_TAP(2, 0); FP_TAP(2, 1); FP_TAP(2, 2);
            t[c * nv + q] = fp_act(acc, dwa);
        }
    }
    fp_gemm(t, nv, C, m + PI(14), O, pwb, pwa, m + PI(17) + n * PI(18), PI(19), HW, m);
}

/* A narrow convolution (rows too short for vectors along the row: DS-CNN's first layer, 5 outputs per row) as the
 * GEMM above: one work item per image gathers the image's patches (im2col, zeros outside the input: the padding)
 * into its private tile, [C x KH x KW][ceil(OH * OW / 16)] vectors, then multiplies them by the weights re-laid
 * [O / 8][C][KH][KW][8].  One launch instead of padding, im2col and the convolution; dilation 1.
 * P: images, x, x image, channel and row strides, C, H, W, KH, KW, SY, SX, PY, PX, OH, OW,
 *    O, weights (re-laid), bias (-1: none), act, y, y image stride, y channel stride */
__kernel void conv_col(KARGS)
{
    const int n = get_global_id(0);
    if (n >= PI(0))
        return;
    const int xc = PI(3), xh = PI(4), C = PI(5), H = PI(6), W = PI(7), KH = PI(8), KW = PI(9);
    const int SY = PI(10), SX = PI(11), PY = PI(12), PX = PI(13), OH = PI(14), OW = PI(15);
    const int HW = OH * OW, nv = (HW + 15) / 16;
    __global const float *x = m + PI(1) + n * PI(2);
    float16 t[FP_TILE];
    float *tf = (float *)t;
    for (int c = 0; c < C; ++c)
        for (int ky = 0; ky < KH; ++ky)
            for (int kx = 0; kx < KW; ++kx) {
                float *row = tf + ((c * KH + ky) * KW + kx) * nv * 16;
                /* the columns ox whose input column ox * SX - PX + kx lies inside the row: [lo, hi) */
                const int lo = min(OW, max(0, (PX - kx + SX - 1) / SX)), last = W - 1 + PX - kx;
                const int hi = last < 0 ? lo : max(lo, min(OW, last / SX + 1));
                for (int oy = 0; oy < OH; ++oy, row += OW) {
                    const int iy = oy * SY - PY + ky;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < OW; ++ox)
                            row[ox] = 0.0f;
                        continue;
                    }
                    __global const float *xr = x + c * xc + iy * xh - PX + kx;
                    for (int ox = 0; ox < lo; ++ox)
                        row[ox] = 0.0f;
                    for (int ox = lo; ox < hi; ++ox)
                        row[ox] = xr[ox * SX];
                    for (int ox = hi; ox < OW; ++ox)
                        row[ox] = 0.0f;
                }
                for (int q = HW; q < nv * 16; ++q, ++row) /* past the plane: lanes never stored */
                    *row = 0.0f;
            }
    fp_gemm(t, nv, C * KH * KW, m + PI(17), PI(16), PI(18), PI(19), m + PI(20) + n * PI(21), PI(22), HW, m);
}

/* 2 x 2 pooling at stride 2 without padding (LeNet's pooling after FusedConv), then the residual and the
 * activation: one work item per plane, 8 outputs of a row from two 16-float loads of each input row (the even and
 * odd lanes), against pool_rows' scalar windows.  Loads past a row's end stay in the buffer (its guard) and their
 * lanes are never stored.  P: op, planes, x, y, res (-1: none, same layout as y), act, H, W, OH, OW */
__kernel void pool2_plane(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(1))
        return;
    const int op = PI(0), res = PI(4), ac = PI(5), H = PI(6), W = PI(7), OH = PI(8), OW = PI(9);
    __global const float *x = m + PI(2) + i * H * W;
    __global float *y = m + PI(3) + i * OH * OW;
    __global const float *r = m + res + i * OH * OW;
    for (int oy = 0; oy < OH; ++oy) {
        __global const float *x0 = x + 2 * oy * W, *x1 = x0 + W;
        for (int ox = 0; ox < OW; ox += 8) {
            const float16 a = vload16(0, x0 + 2 * ox), b = vload16(0, x1 + 2 * ox);
            float8 v;
            if (op == POOL_MAX) {
                /* nnabla's order and NaN rule (pool.cl pool_max_step): from the first cell, a later one only if
                 * greater */
                v = a.even;
                v = select(v, a.odd, a.odd > v);
                v = select(v, b.even, b.even > v);
                v = select(v, b.odd, b.odd > v);
            } else {
                const float16 s = a + b;
                v = (s.even + s.odd) * 0.25f;
            }
            const int yo = oy * OW + ox;
            if (res >= 0)
                v += vload8(0, r + yo);
            if (ac == ACT_RELU)
                v = fmax(v, (float8)(0.0f));
            else if (ac == ACT_RELU6)
                v = fmin(fmax(v, (float8)(0.0f)), (float8)(6.0f));
            if (ox + 8 <= OW) {
                vstore8(v, 0, y + yo);
            } else {
                float lanes[8];
                vstore8(v, 0, lanes);
                for (int l = 0; l < OW - ox; ++l)
                    y[yo + l] = lanes[l];
            }
        }
    }
}
