/* MaxPooling (id 266): nnabla window rule: start = o*s - pad, end =
   min(start + k, in + pad), clipped to the input; max over valid cells. */
#include "conv_util.h"
#include <math.h>

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)nin; (void)nout;
    return nnbrt_pool_check(a, &in[0], &out[0], work);
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t n;
    long oh, ow, ih, iw;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            long hs = oh * g.SH - g.PH, he = hs + g.KH;
            if (he > (long)g.IH + g.PH) he = (long)g.IH + g.PH;
            if (hs < 0) hs = 0;
            if (he > g.IH) he = g.IH;
            for (ow = 0; ow < g.OW; ++ow) {
                long ws = ow * g.SW - g.PW, we = ws + g.KW;
                float m = -INFINITY;
                if (we > (long)g.IW + g.PW) we = (long)g.IW + g.PW;
                if (ws < 0) ws = 0;
                if (we > g.IW) we = g.IW;
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) {
                        const float v = x[ih * g.IW + iw];
                        if (v > m) m = v;
                    }
                y[oh * g.OW + ow] = m;
            }
        }
    }
}

const nnbrt_kernel nnbrt_k_max_pooling = {"MaxPooling", "iIiIBiIB", 1, 1, 1, 1, check, run};
