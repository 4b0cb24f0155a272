/* AveragePooling (id 267): nnabla rule; including_pad divides by the window
   clipped to [−pad, in + pad), otherwise by the valid cell count. */
#include "cores.h"
#include "pool_check.h"

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    nnbrt_avg_pool_f32(in[0].data, out[0].data, &g, a->a[5].i);
}

void nnbrt_avg_pool_f32(const float *x0, float *y0, const nnbrt_geom *gp, int including_pad)
{
    const nnbrt_geom g = *gp;
    size_t n;
    long oh, ow, ih, iw;
    for (n = 0; n < g.outer; ++n) {
        const float *x = x0 + n * (size_t)g.IH * (size_t)g.IW;
        float *y = y0 + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            long hs, he, ws, we, cnt;
            const long ph = nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) {
                const long pw = nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                float s = 0.0f;
                if (ws == 0 && we == g.IW && he > hs) {
                    /* whole rows (e.g. global pooling): one contiguous block, eight partial sums */
                    const float *xb = x + hs * g.IW;
                    const long nb = (he - hs) * g.IW;
#ifdef NNBRT_MCU_KERNELS
                    /* scalar cores: named accumulators stay in registers, one pointer */
                    float q0 = 0.0f, q1 = 0.0f, q2 = 0.0f, q3 = 0.0f;
                    const float *xe = xb + (nb & ~3L);
                    for (; xb < xe; xb += 4) {
                        q0 += xb[0];
                        q1 += xb[1];
                        q2 += xb[2];
                        q3 += xb[3];
                    }
                    for (xe += nb & 3L; xb < xe; ++xb) q0 += *xb;
                    s = (q0 + q1) + (q2 + q3);
#else
                    float q[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
                    long k = 0;
                    int j;
                    for (; k + 7 < nb; k += 8)
                        for (j = 0; j < 8; ++j) q[j] += xb[k + j];
                    for (; k < nb; ++k) q[0] += xb[k];
                    s = ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]));
#endif
                } else
                for (ih = hs; ih < he; ++ih) {
                    /* four partial sums: no add-latency chain over long windows */
                    const float *xr = x + ih * g.IW;
                    float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f, p3 = 0.0f;
                    for (iw = ws; iw + 3 < we; iw += 4) {
                        p0 += xr[iw];
                        p1 += xr[iw + 1];
                        p2 += xr[iw + 2];
                        p3 += xr[iw + 3];
                    }
                    for (; iw < we; ++iw) p0 += xr[iw];
                    s += (p0 + p1) + (p2 + p3);
                }
                cnt = including_pad ? ph * pw : (he - hs) * (we - ws);
                y[oh * g.OW + ow] = cnt > 0 ? s / (float)cnt : 0.0f;
            }
        }
    }
}

const nnbrt_kernel nnbrt_k_average_pooling = {"AveragePooling", "iIiIBiIBB", 1, 1, 1, 1, nnbrt_pool_record_check, run};
