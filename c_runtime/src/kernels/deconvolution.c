/* Deconvolution (id 292): transposed convolution with stride, pad, dilation,
   group and output_padding. Weights C x OC/group x (KH) x KW. Each input
   plane is scattered into the output planes of its group. */
#include "conv_util.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    (void)nout;
    return nnbrt_conv_check(a, nin, in, &out[0], NNBRT_DECONV, &g, work);
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops: gather form, y[oh] sums x[ih] where oh = ih*s - p + k*d. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    long n, oc, ic, oh, ow, kh, kw, group = a->a[4].i, cg, ocg;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DECONV, &g);
    cg = g.C / group;
    ocg = g.OC / group;
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (oh = 0; oh < g.OH; ++oh)
                for (ow = 0; ow < g.OW; ++ow) {
                    float acc = nin == 3 ? in[2].data[oc] : 0.0f;
                    for (ic = (oc / ocg) * cg; ic < (oc / ocg + 1) * cg; ++ic)
                        for (kh = 0; kh < g.KH; ++kh)
                            for (kw = 0; kw < g.KW; ++kw) {
                                long nh = oh + g.PH - kh * g.DH, nw = ow + g.PW - kw * g.DW;
                                long ih = nh / g.SH, iw = nw / g.SW;
                                if (nh < 0 || nw < 0 || nh % g.SH || nw % g.SW) continue;
                                if (ih >= g.IH || iw >= g.IW) continue;
                                acc += in[0].data[((n * g.C + ic) * g.IH + ih) * g.IW + iw] *
                                       in[1].data[((ic * ocg + oc % ocg) * g.KH + kh) * g.KW + kw];
                            }
                    out[0].data[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] = acc;
                }
}
#else
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t n, oc, ic, k, plane_in, plane_out, ksz;
    size_t group = (size_t)a->a[4].i, cg, ocg;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DECONV, &g);
    cg = (size_t)g.C / group;
    ocg = (size_t)g.OC / group;
    plane_in = (size_t)g.IH * (size_t)g.IW;
    plane_out = (size_t)g.OH * (size_t)g.OW;
    ksz = (size_t)g.KH * (size_t)g.KW;
    for (n = 0; n < g.outer; ++n) {
        for (oc = 0; oc < (size_t)g.OC; ++oc) {
            float *y = out[0].data + (n * (size_t)g.OC + oc) * plane_out;
            const float bv = nin == 3 ? in[2].data[oc] : 0.0f;
            const size_t gi = oc / ocg, ocl = oc % ocg;
            for (k = 0; k < plane_out; ++k) y[k] = bv;
            for (ic = gi * cg; ic < (gi + 1) * cg; ++ic)
                nnbrt_deconv_plane(in[0].data + (n * (size_t)g.C + ic) * plane_in,
                                   in[1].data + (ic * ocg + ocl) * ksz, y, &g);
        }
    }
}

#endif

const nnbrt_kernel nnbrt_k_deconvolution = {"Deconvolution", "iiIiIiIiBiI", 2, 3, 1, 1, check, run};
