/* Affine (id 0): y[r, o] = sum_k x[r, k] * W[k, o] + b[o], with the NNB
   weights stored transposed (output-major, W^T[o][k]) although the recorded
   shape reads [in, out...]. Fast form: one unrolled dot product per output. */
#include "cores.h"

/* Output rows per decoded block of a packed weight (at least one). */
static size_t qblock(size_t inner, size_t no)
{
    size_t nb = NNBRT_QBLOCK_WEIGHTS / inner;
    if (nb < 1) nb = 1;
    return nb < no ? nb : no;
}

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1], *y = &out[0];
    int b = a->a[0].i, i;
    size_t inner;
    (void)nout;
    if (b < 0 || b >= x->ndim || w->ndim < 1) return NNBRT_E_BAD_ARGUMENT;
    inner = nnbrt_prod(x, b, x->ndim);
    if ((size_t)w->dims[0] != inner) return NNBRT_E_SHAPE_MISMATCH;
    if (y->ndim != b + w->ndim - 1) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 0; i < b; ++i)
        if (y->dims[i] != x->dims[i]) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 1; i < w->ndim; ++i)
        if (y->dims[b + i - 1] != w->dims[i]) return NNBRT_E_SHAPE_MISMATCH;
    if (nin == 3 && in[2].size != w->size / inner) return NNBRT_E_SHAPE_MISMATCH;
    work->work = (uint64_t)y->size * inner;
    if (w->q) {
        if (inner > SIZE_MAX / 64u) return NNBRT_E_SIZE_OVERFLOW;
        /* packed weight: a block of whole output rows decoded at a time */
        work->scratch = qblock(inner, w->size / inner) * inner * sizeof(float);
        work->work += w->size;
    }
    return NNBRT_OK;
}

static float dot(const float *a, const float *b, size_t n)
{
#ifdef NNBRT_REFERENCE_KERNELS
    float s = 0.0f;
    size_t k;
    for (k = 0; k < n; ++k) s += a[k] * b[k];
    return s;
#else
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
        s4 += a[k + 4] * b[k + 4];
        s5 += a[k + 5] * b[k + 5];
        s6 += a[k + 6] * b[k + 6];
        s7 += a[k + 7] * b[k + 7];
    }
    for (; k < n; ++k) s0 += a[k] * b[k];
    return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7));
#endif
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const size_t inner = (size_t)in[1].dims[0], no = in[1].size / inner;
    const size_t rows = in[0].size / inner;
    size_t r, o;
    (void)a; (void)nout;
    if (in[1].q) {
        /* packed: decode a block of output rows (W^T[o0..o1)) into scratch */
        const size_t nb = qblock(inner, no);
        size_t o0;
        for (o0 = 0; o0 < no; o0 += nb) {
            const size_t o1 = o0 + nb < no ? o0 + nb : no;
            nnbrt_qw_decode(in[1].q, o0 * inner, (o1 - o0) * inner, a->scratch);
            for (r = 0; r < rows; ++r) {
                const float *x = in[0].data + r * inner;
                float *y = out[0].data + r * no;
                for (o = o0; o < o1; ++o)
                    y[o] = dot(x, a->scratch + (o - o0) * inner, inner) + (nin == 3 ? in[2].data[o] : 0.0f);
            }
        }
        return;
    }
    nnbrt_affine_f32(in[0].data, in[1].data, nin == 3 ? in[2].data : NULL, out[0].data, rows, inner, no);
}

void nnbrt_affine_f32(const float *x, const float *wt, const float *b, float *y, size_t rows, size_t inner,
                      size_t no)
{
    size_t r, o;
    for (r = 0; r < rows; ++r, x += inner, y += no)
        for (o = 0; o < no; ++o)
            y[o] = dot(x, wt + o * inner, inner) + (b ? b[o] : 0.0f);
}

const nnbrt_kernel nnbrt_k_affine = {"Affine", "i", 2, 3, 1, 1, check, run};
