/* Convolution fast path (2-D, channels first, groups of 1, no pooling): register tiles of 8 output pixels of
 * one row x 16 or 32 output channels, float16 vector loads of weights re-laid out once as [C][K0][K1][O padded to 16]
 * (the host adds a setup launch), one scalar input load per pixel and tap.  Same parameters as conv, then
 * CF_WT (re-laid weights), CF_OPAD, CF_OB (channel blocks), CF_XB (pixel blocks per row), CF_XT. */

#define CF_WT (C_NPARAMS + 0)
#define CF_OPAD (C_NPARAMS + 1)
#define CF_OB (C_NPARAMS + 2)  /* tiles along the output channels */
#define CF_XB (C_NPARAMS + 3)  /* tiles along an output row */
#define CF_XT (C_NPARAMS + 4)  /* tiles of a row per work item (CPUs: long work items run faster) */
#define CF_NPARAMS (C_NPARAMS + 5)

/* a tile of 8 pixels x NB*16 output channels: 8 * NB float16 accumulators in registers (TAP: E_TAP1 / E_TAP2) */
#define E_TAP1(J, V) a##J = fma((float16)(V), w0, a##J)
#define E_TAP2(J, V) { float v_ = (V); a##J = fma((float16)(v_), w0, a##J); b##J = fma((float16)(v_), w1, b##J); }
#define E_ALL(T, L) T(0, L(0)); T(1, L(1)); T(2, L(2)); T(3, L(3)); T(4, L(4)); T(5, L(5)); T(6, L(6)); T(7, L(7))
#define E_IN(J) xr[(J) * sx]
#define E_CHK(J) ((ix + (J) * sx >= 0 && ix + (J) * sx < W) ? row[ix + (J) * sx] : 0.0f)

#define CONV_E(NAME, NB, TAP)                                                                                  \
__kernel void NAME(KARGS)                                                                                      \
{                                                                                                              \
    int i = get_global_id(0);                                                                                  \
    __global const int *Q = P + p;                                                                             \
    int nob = Q[CF_OB], nxb = Q[CF_XB], xt = Q[CF_XT], nxg = (nxb + xt - 1) / xt;                               \
    int OH = Q[C_PO], OW = Q[C_PO + 1], H = Q[C_IN], W = Q[C_IN + 1];                                          \
    if (i >= Q[C_BATCH] * OH * nxg * nob)                                                                      \
        return;                                                                                                \
    int ob = i % nob, r = i / nob;                                                                             \
    int xg = r % nxg;                                                                                          \
    r /= nxg;                                                                                                  \
    int oy = r % OH, n = r / OH;                                                                               \
    for (int xb = xg * xt; xb < min(nxb, xg * xt + xt); ++xb) {                                               \
    int ox0 = xb * 8;                                                                                          \
    int sy = Q[C_STRIDE], sx = Q[C_STRIDE + 1], dy = Q[C_DIL], dx = Q[C_DIL + 1];                              \
    int KH = Q[C_K], KW = Q[C_K + 1], opad = Q[CF_OPAD], C = Q[C_CIN];                                         \
    int xs_c = Q[C_XS + 1], xs_h = Q[C_XS + 2];                                                                \
    float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;               \
    float16 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;                            \
    int iy0 = oy * sy - Q[C_PAD], ix0 = ox0 * sx - Q[C_PAD + 1];                                               \
    int inside = ix0 >= 0 && ix0 + 7 * sx + (KW - 1) * dx < W;                                                 \
    __global const float *x = m + Q[C_X] + n * Q[C_XS];                                                       \
    __global const float *wt = m + Q[CF_WT] + ob * 16 * NB;                                                    \
    for (int c = 0; c < C; ++c) {                                                                              \
        __global const float *xc = x + c * xs_c;                                                               \
        for (int ky = 0; ky < KH; ++ky) {                                                                      \
            int iy = iy0 + ky * dy;                                                                            \
            if (iy < 0 || iy >= H)                                                                             \
                continue;                                                                                      \
            __global const float *row = xc + iy * xs_h;                                                        \
            __global const float *wr = wt + ((c * KH + ky) * KW) * opad;                                       \
            for (int kx = 0; kx < KW; ++kx) {                                                                  \
                float16 w0 = vload16(0, wr + kx * opad);                                                       \
                float16 w1 = NB > 1 ? vload16(1, wr + kx * opad) : w0;                                         \
                int ix = ix0 + kx * dx;                                                                        \
                __global const float *xr = row + ix;                                                           \
                if (inside) {                                                                                  \
                    E_ALL(TAP, E_IN);                                                                          \
                } else {                                                                                       \
                    E_ALL(TAP, E_CHK);                                                                         \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    float acc[16][16];                                                                                         \
    vstore16(a0, 0, acc[0]); vstore16(a1, 0, acc[1]); vstore16(a2, 0, acc[2]); vstore16(a3, 0, acc[3]);       \
    vstore16(a4, 0, acc[4]); vstore16(a5, 0, acc[5]); vstore16(a6, 0, acc[6]); vstore16(a7, 0, acc[7]);       \
    vstore16(b0, 0, acc[8]); vstore16(b1, 0, acc[9]); vstore16(b2, 0, acc[10]); vstore16(b3, 0, acc[11]);     \
    vstore16(b4, 0, acc[12]); vstore16(b5, 0, acc[13]); vstore16(b6, 0, acc[14]); vstore16(b7, 0, acc[15]);   \
    int O = Q[C_COUT];                                                                                         \
    for (int t = 0; t < 8 * NB; ++t) {                                                                         \
        int ox = ox0 + t % 8;                                                                                  \
        if (ox >= OW)                                                                                          \
            continue;                                                                                          \
        for (int l = 0; l < 16; ++l) {                                                                         \
            int o = (ob * NB + t / 8) * 16 + l;                                                                \
            if (o >= O)                                                                                        \
                break;                                                                                         \
            int yo = n * Q[C_YS] + o * Q[C_YS + 1] + oy * Q[C_YS + 2] + ox * Q[C_YS + 3];                      \
            float v = acc[t][l] + (Q[C_B] >= 0 ? m[Q[C_B] + o] : 0.0f);                                        \
            if (Q[C_R] >= 0)                                                                                   \
                v += m[Q[C_R] + yo];                                                                           \
            m[Q[C_Y] + yo] = act(Q[C_ACT], v);                                                                 \
        }                                                                                                      \
    }                                                                                                          \
    }                                                                                                          \
}

CONV_E(conv_fast_8x1, 1, E_TAP1)
CONV_E(conv_fast_8x2, 2, E_TAP2)

/* DepthwiseConvolution (and depthwise FusedConv without pooling), 2-D, channels first: one work item per output
 * row of one channel (GPUs), the channel's taps (at most DW_MAXK) in private memory; weights (C * multiplier, [1,] KH, KW).
 * Same parameters as conv (output channel o reads input channel o / (O / C_GROUP)). */
#define DW_MAXK 49

/* acc += one output pixel's KH x KW window at input row iy0, column ix0 (dilation dy, dx; cells outside the
 * H x W plane x skipped) times the weights w, in the same order for every depthwise form.  A macro: w is private
 * in dwconv_fast and global in dwconv_plane (OpenCL 1.2 has no generic address space).  Reads KH, KW, H, W, dy,
 * dx from the caller. */
#define DW_WINDOW(acc, x, w, iy0, ix0)                                                                         \
    for (int ky_ = 0; ky_ < KH; ++ky_) {                                                                       \
        int iy_ = (iy0) + ky_ * dy, ix0_ = (ix0);                                                              \
        if (iy_ < 0 || iy_ >= H)                                                                               \
            continue;                                                                                          \
        for (int kx_ = 0; kx_ < KW; ++kx_) {                                                                   \
            int ix_ = ix0_ + kx_ * dx;                                                                         \
            if (ix_ >= 0 && ix_ < W)                                                                           \
                acc = fma((x)[iy_ * W + ix_], (w)[ky_ * KW + kx_], acc);                                       \
        }                                                                                                      \
    }

/* y[yo] = act(acc + residual[yo]) (no residual when C_R < 0) */
void dw_store(__global float *m, __global const int *Q, int yo, float acc)
{
    if (Q[C_R] >= 0)
        acc += m[Q[C_R] + yo];
    m[Q[C_Y] + yo] = act(Q[C_ACT], acc);
}

__kernel void dwconv_fast(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    int OW = Q[C_PO + 1], OH = Q[C_PO], O = Q[C_COUT];
    if (i >= Q[C_BATCH] * O * OH)
        return;
    int oy = i % OH, r = i / OH;
    int o = r % O, n = r / O;
    int H = Q[C_IN], W = Q[C_IN + 1], KH = Q[C_K], KW = Q[C_K + 1];
    int c = o / (O / Q[C_GROUP]);
    __global const float *x = m + Q[C_X] + n * Q[C_XS] + c * Q[C_XS + 1];
    __global const float *wg = m + Q[C_W] + o * Q[C_WS];
    float w[DW_MAXK];
    for (int k = 0; k < KH * KW; ++k)
        w[k] = wg[k];
    int sx = Q[C_STRIDE + 1], dy = Q[C_DIL], dx = Q[C_DIL + 1], px = Q[C_PAD + 1];
    int iy0 = oy * Q[C_STRIDE] - Q[C_PAD];
    float b = Q[C_B] >= 0 ? m[Q[C_B] + o] : 0.0f;
    int yrow = n * Q[C_YS] + o * Q[C_YS + 1] + oy * Q[C_YS + 2];
    for (int ox = 0; ox < OW; ++ox) {
        float acc = b;
        DW_WINDOW(acc, x, w, iy0, ox * sx - px);
        dw_store(m, Q, yrow + ox, acc);
    }
}

/* The same, one work item per output plane (CPU devices: fewer, longer work items run faster). */
__kernel void dwconv_plane(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    int OW = Q[C_PO + 1], OH = Q[C_PO], O = Q[C_COUT];
    if (i >= Q[C_BATCH] * O)
        return;
    int o = i % O, n = i / O;
    int H = Q[C_IN], W = Q[C_IN + 1], KH = Q[C_K], KW = Q[C_K + 1];
    int c = o / (O / Q[C_GROUP]);
    __global const float *x = m + Q[C_X] + n * Q[C_XS] + c * Q[C_XS + 1];
    __global const float *w = m + Q[C_W] + o * Q[C_WS];
    int sy = Q[C_STRIDE], sx = Q[C_STRIDE + 1], dy = Q[C_DIL], dx = Q[C_DIL + 1], py = Q[C_PAD], px = Q[C_PAD + 1];
    float b = Q[C_B] >= 0 ? m[Q[C_B] + o] : 0.0f;
    int ybase = n * Q[C_YS] + o * Q[C_YS + 1];
    int ys_h = Q[C_YS + 2];
    for (int oy = 0; oy < OH; ++oy) {
        int iy0 = oy * sy - py;
        for (int ox = 0; ox < OW; ++ox) {
            float acc = b;
            DW_WINDOW(acc, x, w, iy0, ox * sx - px);
            dw_store(m, Q, ybase + oy * ys_h + ox, acc);
        }
    }
}

/* Depthwise, stride 1 and dilation 1 (CPU devices): one work item per plane (n, o), 16 outputs of the flattened
 * plane at a time; each tap is one unaligned vload16 of the input plane shifted by (ky - pad) * W + (kx - pad),
 * with the lanes whose source pixel lies outside the plane zeroed.  The lanes' rows and columns advance by 16
 * each step without a division.  The host keeps a guard of zeros of at least DWV_GUARD floats before and after
 * the arena, so shifted loads stay inside the buffer. */
#define DWV_GUARD 64

/* The row (*yy) and column (*xx) in a plane W wide of flat positions 0..15, one per lane, without a division
 * (dwconv_vec, dwconv3_vec in conv_vec.cl). */
void lane_rows(int W, int16 *yy, int16 *xx)
{
    int16 y = (int16)(0), x = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int16 wrap = x >= W; any(wrap); wrap = x >= W) {
        x = select(x, x - W, wrap);
        y -= wrap;
    }
    *yy = y;
    *xx = x;
}

__kernel void dwconv_vec(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    const int O = Q[C_COUT];
    if (i >= Q[C_BATCH] * O)
        return;
    const int H = Q[C_IN], W = Q[C_IN + 1], KH = Q[C_K], KW = Q[C_K + 1], PY = Q[C_PAD], PX = Q[C_PAD + 1];
    const int HW = H * W, o = i % O, n = i / O, c = o / (O / Q[C_GROUP]);
    const int res = Q[C_R], ac = Q[C_ACT];
    __global const float *x = m + Q[C_X] + n * Q[C_XS] + c * Q[C_XS + 1];
    __global const float *w = m + Q[C_W] + o * Q[C_WS];
    __global float *y = m + Q[C_Y] + n * Q[C_YS] + o * Q[C_YS + 1];
    __global const float *rp = m + res + n * Q[C_YS] + o * Q[C_YS + 1];
    const float16 b = (float16)(Q[C_B] >= 0 ? m[Q[C_B] + o] : 0.0f);
    const int step_y = 16 / W, step_x = 16 - (16 / W) * W;
    int16 yy, xx;
    lane_rows(W, &yy, &xx);
    for (int q0 = 0; q0 < HW; q0 += 16) {
        float16 acc = b;
        for (int ky = 0; ky < KH; ++ky) {
            int16 sy = yy + (ky - PY);
            int16 oky = (sy >= 0) & (sy < H);
            __global const float *xr = x + q0 + (ky - PY) * W - PX;
            for (int kx = 0; kx < KW; ++kx) {
                int16 sx = xx + (kx - PX);
                int16 ok = oky & (sx >= 0) & (sx < W);
                float16 v = vload16(0, xr + kx);
                acc = fma(select((float16)(0.0f), v, ok), (float16)(w[ky * KW + kx]), acc);
            }
        }
        if (q0 + 16 <= HW) {
            if (res >= 0)
                acc += vload16(0, rp + q0);
            if (ac == ACT_RELU)
                acc = fmax(acc, (float16)(0.0f));
            else if (ac == ACT_RELU6)
                acc = fmin(fmax(acc, (float16)(0.0f)), (float16)(6.0f));
            vstore16(acc, 0, y + q0);
        } else {
            float out[16];
            vstore16(acc, 0, out);
            for (int l = 0; l < HW - q0; ++l) {
                float v = out[l];
                if (res >= 0)
                    v += rp[q0 + l];
                y[q0 + l] = act(ac, v);
            }
        }
        xx += step_x;
        yy += step_y;
        int16 wrap = xx >= W;  /* -1 where a lane passed the end of its row */
        xx = select(xx, xx - W, wrap);
        yy -= wrap;
    }
}
