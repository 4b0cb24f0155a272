/* SumPooling (id 268): sum over the valid cells of each nnabla window. */
#include "conv_util.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)nin; (void)nout;
    return nnbrt_pool_check(a, &in[0], &out[0], work);
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops: every window clipped, cell by cell. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t n;
    long oh, ow, ih, iw, hs, he, ws, we;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) {
                float m = 0.0f;
                nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) m += x[ih * g.IW + iw];
                y[oh * g.OW + ow] = m;
            }
        }
    }
}
#else
/* Row at a time: each output row starts at 0.0f and folds in the input
   rows of its window (nnbrt_pool_fold: whole windows without clipping). */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_pool_row pr;
    size_t n;
    long oh, ow, ih, hs, he;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    pr = nnbrt_pool_row_plan(2, g.KW, g.SW, g.PW, g.OW, g.IW);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            float *yr = y + oh * g.OW;
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) yr[ow] = 0.0f;
            for (ih = hs; ih < he; ++ih) nnbrt_pool_fold(&pr, yr, x + ih * g.IW);
        }
    }
}
#endif

const nnbrt_kernel nnbrt_k_sum_pooling = {"SumPooling", "iIiIBiIB", 1, 1, 1, 1, check, run};
