/* Local-memory tiled Affine (the GPU form for batches > 1; OpenCL C 1.2, no extensions).
 *
 * Y[n][o] = b[o] + sum_k X[n][k] W[k][o] as a tiled GEMM: a work group computes TN rows (samples) x TO outputs;
 * for each chunk of TK inputs it loads the TN x TK block of X (stored [k][TN]) and the TK x TO block of W
 * (stored [k][TO]) into __local memory with bounds checks (zero past the ends), waits at a barrier, and each work
 * item accumulates RN rows x RO outputs: one vloadRN of inputs and one vloadRO of weights per k for RN vector
 * FMAs.  Weights are read through their strides as the simple kernel does (w_in_stride, w_out_stride: a decoded
 * packed weight is [out][in]), so nothing is re-laid out.
 * Same parameters as affine (opencl/affine.cl).  Each AFFINE_L(NAME, TN, RN, TO, RO, TK) line is one
 * configuration (compile-time tile sizes; (TN / RN) * (TO / RO) work items per group, 4 * TK * (TN + TO) bytes
 * of local memory), chosen by the host like CONV_L's. */

#define AFFINE_L(NAME, TN, RN, TO, RO, TK)                                                                     \
__kernel __attribute__((reqd_work_group_size((TN / RN) * (TO / RO), 1, 1))) void NAME(KARGS)                  \
{                                                                                                              \
    __local float xs[TK * TN];                                                                                 \
    __local float ws[TK * TO];                                                                                 \
    const int WG = (TN / RN) * (TO / RO), NO = TO / RO;                                                        \
    const int N = PI(0), I = PI(1), O = PI(2), w_is = PI(5), w_os = PI(6), bias = PI(7);                       \
    const int nto = (O + TO - 1) / TO;                                                                         \
    const int to = get_group_id(0) % nto, tn = get_group_id(0) / nto;                                          \
    const int lid = get_local_id(0), lo = lid % NO, ln = lid / NO;                                             \
    const int n0 = tn * TN, o0 = to * TO;                                                                      \
    __global const float *x = m + PI(3);                                                                       \
    __global const float *w = m + PI(4);                                                                       \
    float##RO acc[RN];                                                                                         \
    for (int r = 0; r < RN; ++r)                                                                               \
        acc[r] = (float##RO)(0.0f);                                                                            \
    for (int k0 = 0; k0 < I; k0 += TK) {                                                                       \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                          \
        for (int e = lid; e < TN * TK; e += WG) { /* along k: neighbouring work items read neighbouring x */  \
            const int rr = e / TK, kk = e - rr * TK, nn = n0 + rr, k = k0 + kk;                                \
            xs[kk * TN + rr] = nn < N && k < I ? x[nn * I + k] : 0.0f;                                         \
        }                                                                                                      \
        for (int e = lid; e < TK * TO; e += WG) {                                                              \
            const int kk = e / TO, t = e - kk * TO, o = o0 + t, k = k0 + kk;                                   \
            ws[e] = o < O && k < I ? w[k * w_is + o * w_os] : 0.0f;                                            \
        }                                                                                                      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                          \
        for (int kk = 0; kk < TK; ++kk) {                                                                      \
            const float##RN xv = vload##RN(0, xs + kk * TN + ln * RN);                                         \
            const float##RO wv = vload##RO(0, ws + kk * TO + lo * RO);                                         \
            float xr[RN];                                                                                      \
            vstore##RN(xv, 0, xr);                                                                             \
            for (int r = 0; r < RN; ++r)                                                                       \
                acc[r] = fma((float##RO)(xr[r]), wv, acc[r]);                                                  \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < RN; ++r) {                                                                             \
        const int nn = n0 + ln * RN + r;                                                                       \
        if (nn >= N)                                                                                           \
            break;                                                                                             \
        float out[RO];                                                                                         \
        vstore##RO(acc[r], 0, out);                                                                            \
        for (int t = 0; t < RO; ++t) {                                                                         \
            const int o = o0 + lo * RO + t;                                                                    \
            if (o >= O)                                                                                        \
                break;                                                                                         \
            m[PI(8) + nn * O + o] = out[t] + (bias >= 0 ? m[bias + o] : 0.0f);                                 \
        }                                                                                                      \
    }                                                                                                          \
}

/* configurations: name, TN, RN, TO, RO, TK */
AFFINE_L(local_affine_n16_o64, 16, 4, 64, 4, 16)
AFFINE_L(local_affine_n32_o32, 32, 4, 32, 4, 16)
AFFINE_L(local_affine_n8_o64, 8, 4, 64, 4, 32)
