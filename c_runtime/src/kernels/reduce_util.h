/* Shared reduction over an axes list (Sum, Mean, Prod, Max, Min). */
#ifndef NNBRT_REDUCE_UTIL_H
#define NNBRT_REDUCE_UTIL_H
#include "../internal.h"

/* args: axes (list), keep_dims (bool). */
nnbrt_status nnbrt_reduce_check(const nnbrt_args *a, const nnbrt_tensor *in,
                                const nnbrt_tensor *out, nnbrt_cost *work);
/* For each input element call-free iteration: computes out offset per input
   element into offs (strides, 0 on reduced axes). */
void nnbrt_reduce_strides(const nnbrt_args *a, const nnbrt_tensor *in, size_t *ost);

#define NNBRT_REDUCE_KERNEL(sym, NAME, ARGCODE, INIT, ACC, FINAL)                             \
    static nnbrt_status sym##_check(const nnbrt_args *a, int nin, const nnbrt_tensor *in,     \
                                    int nout, const nnbrt_tensor *out, nnbrt_cost *work)        \
    {                                                                                         \
        (void)nin; (void)nout;                                                                \
        return nnbrt_reduce_check(a, &in[0], &out[0], work);                                  \
    }                                                                                         \
    static void sym##_run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,     \
                          const nnbrt_tensor *out)                                            \
    {                                                                                         \
        size_t ost[NNBRT_MAX_NDIM], idx[NNBRT_MAX_NDIM] = {0}, i, off = 0;                     \
        const size_t count = in[0].size / out[0].size;                                        \
        const int nd = in[0].ndim;                                                            \
        float *y = out[0].data;                                                               \
        int d;                                                                                \
        (void)nin; (void)nout; (void)count;                                                   \
        for (i = 0; i < out[0].size; ++i) y[i] = (INIT);                                      \
        nnbrt_reduce_strides(a, &in[0], ost);                                                 \
        for (i = 0; i < in[0].size; ++i) {                                                    \
            const float x = in[0].data[i];                                                    \
            float *acc = &y[off];                                                             \
            ACC;                                                                              \
            for (d = nd - 1; d >= 0; --d) {                                                   \
                off += ost[d];                                                                \
                if (++idx[d] < (size_t)in[0].dims[d]) break;                                  \
                off -= ost[d] * idx[d];                                                       \
                idx[d] = 0;                                                                   \
            }                                                                                 \
        }                                                                                     \
        for (i = 0; i < out[0].size; ++i) {                                                   \
            float *acc = &y[i];                                                               \
            FINAL;                                                                            \
        }                                                                                     \
    }                                                                                         \
    const nnbrt_kernel sym = {NAME, ARGCODE, 1, 1, 1, 1, sym##_check, sym##_run};
#endif
