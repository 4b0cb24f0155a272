/* Local-memory tiled convolution (the GPU form; OpenCL C 1.2, no extensions).
 *
 * A GEMM without an im2col buffer: a work group computes an output tile of TO output channels (of one group) x
 * TH x TW output pixels (one image).  For each chunk of input channels it loads, cooperatively and with bounds
 * checks (zero outside the input: the convolution's padding), the input region the tile reads -- TH x TW
 * outputs plus the kernel's halo, any stride and dilation -- and the chunk's weights of the TO channels into
 * __local memory, waits at a barrier, and each work item accumulates a register block of RO output channels x
 * RP = 4 neighbouring pixels of one output row: one vloadRO of weights and one vload4 of inputs (stride 1; a
 * gather otherwise) for 4 vector FMAs per tap.  The epilogue adds bias and residual and applies the activation
 * (FusedConv without pooling; the host runs a pooling FusedConv as this convolution and then the pool).
 *
 * Same parameters as conv (opencl/conv.cl: any strides, so channel-last tensors too); nothing is re-laid out.
 * Tile sizes are compile-time: each CONV_L(NAME, TO, RO, TH, TW, LX, LW) line below is one configuration, LX and
 * LW being the floats of its local input and weight buffers.  The host (nnb/backends/opencl_local.py) reads these
 * lines, keeps the configurations the device can hold (work-group size, local memory), launches
 * (TO / RO) * (TH * TW / 4) work items per group and picks a configuration per layer (tuned, cached per device).
 * The input channels per chunk: the most that fit both buffers (the host checks that at least one does). */

#define CL_RP 4

#define CL_X4(p, s) ((s) == 1 ? vload4(0, p) : (float4)((p)[0], (p)[s], (p)[2 * (s)], (p)[3 * (s)]))

#define CONV_L(NAME, TO, RO, TH, TW, LX, LW)                                                                   \
__kernel __attribute__((reqd_work_group_size((TO / RO) * (TH * TW / CL_RP), 1, 1))) void NAME(KARGS)          \
{                                                                                                              \
    __local float xs[LX];                                                                                      \
    __local float ws[LW];                                                                                      \
    const int WG = (TO / RO) * (TH * TW / CL_RP), NO = TO / RO;                                                \
    __global const int *Q = P + p;                                                                             \
    const int C = Q[C_CIN], O = Q[C_COUT], G = Q[C_GROUP], cg = C / G, og = O / G;                             \
    const int H = Q[C_IN], W = Q[C_IN + 1], OH = Q[C_CO], OW = Q[C_CO + 1];                                    \
    const int KH = Q[C_K], KW = Q[C_K + 1], KK = KH * KW;                                                      \
    const int sy = Q[C_STRIDE], sx = Q[C_STRIDE + 1], dy = Q[C_DIL], dx = Q[C_DIL + 1];                        \
    const int IHT = (TH - 1) * sy + (KH - 1) * dy + 1, IWT = (TW - 1) * sx + (KW - 1) * dx + 1;                \
    const int plane = IHT * IWT;                                                                               \
    const int cb = max(1, min(cg, min(LX / plane, LW / (TO * KK))));                                           \
    const int ntx = (OW + TW - 1) / TW, nty = (OH + TH - 1) / TH, nto = (og + TO - 1) / TO;                    \
    int r = get_group_id(0);                                                                                   \
    const int tx = r % ntx;                                                                                    \
    r /= ntx;                                                                                                  \
    const int ty = r % nty;                                                                                    \
    r /= nty;                                                                                                  \
    const int to = r % nto;                                                                                    \
    r /= nto;                                                                                                  \
    const int gi = r % G, n = r / G;                                                                           \
    if (n >= Q[C_BATCH]) /* the whole group alike: no barrier is skipped by part of it */                      \
        return;                                                                                                \
    const int lid = get_local_id(0), lo = lid % NO, lp = lid / NO;                                             \
    const int ly = lp / (TW / CL_RP), lx = (lp % (TW / CL_RP)) * CL_RP;                                        \
    const int oy0 = ty * TH, ox0 = tx * TW, ob = gi * og, o0 = ob + to * TO, oend = ob + og;                   \
    const int iy0 = oy0 * sy - Q[C_PAD], ix0 = ox0 * sx - Q[C_PAD + 1];                                        \
    const int xs_c = Q[C_XS + 1], xs_h = Q[C_XS + 2], xs_w = Q[C_XS + 3];                                      \
    const int ws_o = Q[C_WS], ws_c = Q[C_WS + 1], ws_h = Q[C_WS + 2], ws_w = Q[C_WS + 3];                      \
    __global const float *x = m + Q[C_X] + n * Q[C_XS] + gi * cg * xs_c;                                       \
    __global const float *w = m + Q[C_W];                                                                      \
    float##RO a0 = (float##RO)(0.0f), a1 = a0, a2 = a0, a3 = a0;                                               \
    for (int c0 = 0; c0 < cg; c0 += cb) {                                                                      \
        const int cn = min(cb, cg - c0);                                                                       \
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous chunk is read by every work item */                      \
        for (int e = lid; e < cn * plane; e += WG) {                                                           \
            const int c = e / plane, q = e - c * plane, yy = q / IWT, xx = q - yy * IWT;                       \
            const int iy = iy0 + yy, ix = ix0 + xx;                                                            \
            xs[e] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[(c0 + c) * xs_c + iy * xs_h + ix * xs_w] : 0.0f; \
        }                                                                                                      \
        for (int e = lid; e < cn * KK * TO; e += WG) { /* [c][ky][kx][TO] */                                   \
            const int t = e % TO, ck = e / TO, c = ck / KK, kk = ck - c * KK, ky = kk / KW, kx = kk - ky * KW;  \
            const int o = o0 + t;                                                                              \
            ws[e] = o < oend ? w[o * ws_o + (c0 + c) * ws_c + ky * ws_h + kx * ws_w] : 0.0f;                   \
        }                                                                                                      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                          \
        for (int c = 0; c < cn; ++c) {                                                                         \
            for (int ky = 0; ky < KH; ++ky) {                                                                  \
                __local const float *xr = xs + c * plane + (ly * sy + ky * dy) * IWT + lx * sx;                \
                __local const float *wr = ws + (c * KK + ky * KW) * TO + lo * RO;                              \
                for (int kx = 0; kx < KW; ++kx) {                                                              \
                    const float##RO wv = vload##RO(0, wr + kx * TO);                                           \
                    const float4 xv = CL_X4(xr + kx * dx, sx);                                                 \
                    a0 = fma((float##RO)(xv.s0), wv, a0);                                                      \
                    a1 = fma((float##RO)(xv.s1), wv, a1);                                                      \
                    a2 = fma((float##RO)(xv.s2), wv, a2);                                                      \
                    a3 = fma((float##RO)(xv.s3), wv, a3);                                                      \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    float acc[CL_RP][RO];                                                                                      \
    vstore##RO(a0, 0, acc[0]);                                                                                 \
    vstore##RO(a1, 0, acc[1]);                                                                                 \
    vstore##RO(a2, 0, acc[2]);                                                                                 \
    vstore##RO(a3, 0, acc[3]);                                                                                 \
    const int oy = oy0 + ly, bias = Q[C_B], res = Q[C_R], ac = Q[C_ACT];                                       \
    if (oy >= OH)                                                                                              \
        return;                                                                                                \
    for (int t = 0; t < RO; ++t) {                                                                             \
        const int o = o0 + lo * RO + t;                                                                        \
        if (o >= oend)                                                                                         \
            break;                                                                                             \
        const float b = bias >= 0 ? m[bias + o] : 0.0f;                                                        \
        const int yrow = n * Q[C_YS] + o * Q[C_YS + 1] + oy * Q[C_YS + 2];                                     \
        for (int j = 0; j < CL_RP; ++j) {                                                                      \
            const int ox = ox0 + lx + j;                                                                       \
            if (ox >= OW)                                                                                      \
                break;                                                                                         \
            const int yo = yrow + ox * Q[C_YS + 3];                                                            \
            float v = acc[j][t] + b;                                                                           \
            if (res >= 0)                                                                                      \
                v += m[res + yo];                                                                              \
            m[Q[C_Y] + yo] = act(ac, v);                                                                       \
        }                                                                                                      \
    }                                                                                                          \
}

/* configurations: name, TO, RO, TH, TW, LX, LW (local bytes: 4 * (LX + LW)) */
CONV_L(local_conv_o16_8x8, 16, 4, 8, 8, 2048, 2048)
CONV_L(local_conv_o32_8x8, 32, 4, 8, 8, 2048, 4096)
CONV_L(local_conv_o32_4x16, 32, 8, 4, 16, 2048, 4096)
CONV_L(local_conv_o64_8x8, 64, 8, 8, 8, 2048, 8192)
CONV_L(local_conv_o8_8x8, 8, 4, 8, 8, 2048, 1024)
