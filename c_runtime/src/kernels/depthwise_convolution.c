/* DepthwiseConvolution (id 2): output channel oc reads input channel
   oc / multiplier with its own KH x KW kernel. */
#include "conv_util.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_DEPTHWISE, &g, work);
    if (st == NNBRT_OK) {
        work->scratch = in[1].q ? nnbrt_qconv_scratch((size_t)g.C, &g, NULL)
                                : nnbrt_conv_scratch((size_t)g.C, &g);
        if (work->scratch == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
        work->work += (uint64_t)work->scratch / 4u * (uint64_t)g.OH * (uint64_t)g.C * (uint64_t)g.outer; /* row copies */
    }
    return st;
}

/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static void run_packed(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DEPTHWISE, &g);
    nnbrt_qconv((size_t)g.C, a->scratch, in[0].data, in[1].q, nin == 3 ? in[2].data : NULL, out[0].data, &g, NULL);
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    long n, oc, oh, ow, kh, kw, m = a->a[4].i;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DEPTHWISE, &g);
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (oh = 0; oh < g.OH; ++oh)
                for (ow = 0; ow < g.OW; ++ow) {
                    float acc = nin == 3 ? in[2].data[oc] : 0.0f;
                    for (kh = 0; kh < g.KH; ++kh)
                        for (kw = 0; kw < g.KW; ++kw) {
                            long ih = oh * g.SH - g.PH + kh * g.DH;
                            long iw = ow * g.SW - g.PW + kw * g.DW;
                            if (ih < 0 || ih >= g.IH || iw < 0 || iw >= g.IW) continue;
                            acc += in[0].data[((n * g.C + oc / m) * g.IH + ih) * g.IW + iw] *
                                   in[1].data[(oc * g.KH + kh) * g.KW + kw];
                        }
                    out[0].data[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] = acc;
                }
}
#else
/* Fast form: a depthwise convolution is a grouped convolution with
   group = C and weights [C*m, 1, KH, KW]; reuse the convolution tiles. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DEPTHWISE, &g);
    nnbrt_conv_forward((size_t)g.C, a->scratch, nin, in, out, &g);
}
#endif

const nnbrt_kernel nnbrt_k_depthwise_convolution = {"DepthwiseConvolution", "iiIiIiIi", 2, 3, 1, 1, check, run};
