/* BatchMatmul (id 72): y[b] = op(a[b]) @ op(b[b]), op = optional transpose
   of the last two axes; batch dims must have equal sizes. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    const nnbrt_tensor *A = &in[0], *B = &in[1], *Y = &out[0];
    int64_t M, K, K2, N;
    int d;
    (void)nin; (void)nout;
    if (A->ndim < 2 || B->ndim < 2 || Y->ndim != A->ndim) return NNBRT_E_SHAPE_MISMATCH;
    M = A->dims[A->ndim - (a->a[0].i ? 1 : 2)];
    K = A->dims[A->ndim - (a->a[0].i ? 2 : 1)];
    K2 = B->dims[B->ndim - (a->a[1].i ? 1 : 2)];
    N = B->dims[B->ndim - (a->a[1].i ? 2 : 1)];
    if (K != K2) return NNBRT_E_SHAPE_MISMATCH;
    if (nnbrt_prod(A, 0, A->ndim - 2) != nnbrt_prod(B, 0, B->ndim - 2)) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < A->ndim - 2; ++d)
        if (Y->dims[d] != A->dims[d]) return NNBRT_E_SHAPE_MISMATCH;
    if (Y->dims[Y->ndim - 2] != M || Y->dims[Y->ndim - 1] != N) return NNBRT_E_SHAPE_MISMATCH;
    work->work = (uint64_t)Y->size * (uint64_t)K + Y->size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const nnbrt_tensor *A = &in[0], *B = &in[1];
    const int ta = a->a[0].i != 0, tb = a->a[1].i != 0;
    const size_t M = (size_t)A->dims[A->ndim - (ta ? 1 : 2)], K = (size_t)A->dims[A->ndim - (ta ? 2 : 1)];
    const size_t N = (size_t)B->dims[B->ndim - (tb ? 2 : 1)];
    const size_t batch = nnbrt_prod(A, 0, A->ndim - 2);
    /* element strides of op(A)[i][k] and op(B)[k][j] */
    const size_t ai = ta ? 1 : K, ak = ta ? M : 1, bk = tb ? 1 : N, bj = tb ? K : 1;
    size_t n, i, j, k;
    (void)nin; (void)nout;
    for (n = 0; n < batch; ++n) {
        const float *pa = A->data + n * M * K, *pb = B->data + n * K * N;
        float *y = out[0].data + n * M * N;
        for (i = 0; i < M * N; ++i) y[i] = 0.0f;
        for (i = 0; i < M; ++i)
            for (k = 0; k < K; ++k) {
                const float av = pa[i * ai + k * ak];
                const float *br = pb + k * bk;
                float *yr = y + i * N;
                for (j = 0; j < N; ++j) yr[j] += av * br[j * bj];
            }
    }
}

const nnbrt_kernel nnbrt_k_batch_matmul = {"BatchMatmul", "BB", 2, 2, 1, 1, check, run};
