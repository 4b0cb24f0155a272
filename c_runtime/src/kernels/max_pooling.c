/* MaxPooling (id 266): nnabla window rule: start = o*s - pad, end =
   min(start + k, in + pad), clipped to the input; max over valid cells.
   NaN as nnabla (and nnb/ops/pooling.py): its max starts from the window's
   first valid cell and takes a later cell only if greater, so a NaN first
   cell is the result and a later NaN is skipped. FusedConv's pooled
   path folds rows the same way (conv_util.h nnbrt_pool_fold). */
#include <math.h>

#include "pool_check.h"

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain loops: every window clipped, cell by cell from its first cell. */
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
                float m = -INFINITY;
                nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                if (he > hs && we > ws) m = x[hs * g.IW + ws];
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) m = nnbrt_max_step(m, x[ih * g.IW + iw]);
                y[oh * g.OW + ow] = m;
            }
        }
    }
}
#else
/* Row at a time over nnbrt_pool_row_plan's interior/border split: an output
   row's windows start from their first input row (first: from each window's
   first cell) and fold in their later input rows, one cell at a time
   (nnbrt_pool_fold, shared with FusedConv's pooled path). */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_pool_row pr;
    size_t n;
    long oh, ow, ih, hs, he;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    pr = nnbrt_pool_row_plan(1, g.KW, g.SW, g.PW, g.OW, g.IW);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            float *yr = y + oh * g.OW;
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            if (he <= hs) {
                for (ow = 0; ow < g.OW; ++ow) yr[ow] = -INFINITY;
                continue;
            }
            for (ih = hs; ih < he; ++ih) nnbrt_pool_fold(&pr, yr, x + ih * g.IW, ih == hs);
        }
    }
}
#endif

const nnbrt_kernel nnbrt_k_max_pooling = {"MaxPooling", "iIiIBiIB", 1, 1, 1, 1, nnbrt_pool_record_check, run};
