/* Affine (fully connected) and BatchMatmul, the simple path: one work item per output value. */

/* P: batch, in, out, x, w, w_in_stride, w_out_stride, b (-1: none), y */
__kernel void affine(KARGS)
{
    int i = get_global_id(0);
    int N = PI(0), I = PI(1), O = PI(2);
    if (i >= N * O)
        return;
    int n = i / O, o = i % O;
    __global const float *x = m + PI(3) + n * I;
    __global const float *w = m + PI(4) + o * PI(6);
    int ws = PI(5);
    float acc = 0.0f;
    for (int k = 0; k < I; ++k)
        acc += x[k] * w[k * ws];
    if (PI(7) >= 0)
        acc += m[PI(7) + o];
    m[PI(8) + i] = acc;
}

/* P: n, M, N, K, a, b, y, a_ms, a_ks, b_ks, b_ns, nb, bshape[nb], a_bstride[nb], b_bstride[nb]; y contiguous */
__kernel void batch_matmul(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    int M = PI(1), N = PI(2), K = PI(3), nb = PI(11);
    int j = i % N, r = (i / N) % M, bi = i / (M * N);
    __global const int *bshape = P + p + 12;
    __global const float *a = m + PI(4) + strided(bi, nb, bshape, bshape + nb) + r * PI(7);
    __global const float *b = m + PI(5) + strided(bi, nb, bshape, bshape + 2 * nb) + j * PI(10);
    int aks = PI(8), bks = PI(9);
    float acc = 0.0f;
    for (int k = 0; k < K; ++k)
        acc += a[k * aks] * b[k * bks];
    m[PI(6) + i] = acc;
}

/* Affine fast path: a work item holds 4 rows x 16 outputs (four float16 accumulators) and reads weights re-laid
 * once as [in][out padded to 16] with vload16.  P: batch, in, out, x, wt, opad, b (-1: none), y, row blocks */
__kernel void affine_fast(KARGS)
{
    int i = get_global_id(0);
    int N = PI(0), I = PI(1), O = PI(2), opad = PI(5), nrb = PI(8);
    int nob = opad / 16;
    if (i >= nrb * nob)
        return;
    int ob = i % nob, n0 = (i / nob) * 4;
    __global const float *x = m + PI(3);
    __global const float *wt = m + PI(4) + ob * 16;
    int r1 = min(n0 + 1, N - 1), r2 = min(n0 + 2, N - 1), r3 = min(n0 + 3, N - 1);
    __global const float *x0 = x + n0 * I, *x1 = x + r1 * I, *x2 = x + r2 * I, *x3 = x + r3 * I;
    float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < I; ++k) {
        float16 w = vload16(0, wt + k * opad);
        a0 = fma((float16)(x0[k]), w, a0);
        a1 = fma((float16)(x1[k]), w, a1);
        a2 = fma((float16)(x2[k]), w, a2);
        a3 = fma((float16)(x3[k]), w, a3);
    }
    float acc[4][16];
    vstore16(a0, 0, acc[0]);
    vstore16(a1, 0, acc[1]);
    vstore16(a2, 0, acc[2]);
    vstore16(a3, 0, acc[3]);
    for (int r = 0; r < 4 && n0 + r < N; ++r)
        for (int l = 0; l < 16; ++l) {
            int o = ob * 16 + l;
            if (o >= O)
                break;
            m[PI(7) + (n0 + r) * O + o] = acc[r][l] + (PI(6) >= 0 ? m[PI(6) + o] : 0.0f);
        }
}
