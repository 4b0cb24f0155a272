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
