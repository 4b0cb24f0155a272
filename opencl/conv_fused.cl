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
    __global float *y = m + PI(17) + n * PI(18);
    const int yc = PI(19);
    for (int ob = 0; ob * FP_OT < O; ++ob) {
        __global const float *wb = m + PI(14) + ob * C * FP_OT;
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
