/* What the Convolution and DepthwiseConvolution records share: a depthwise
   convolution is a grouped convolution with group = C (weights C*m x 1 x
   KH x KW, output channel oc reading input channel oc / m), so both run
   the same engine, packed-weight path and reference loops with their own
   group count. Static inline: one copy in each including kernel. */
#ifndef NNBRT_CONV_RECORD_H
#define NNBRT_CONV_RECORD_H
#include "conv_util.h"

/* Kernel scratch and the row-copy work of a checked convolution of `group` groups. */
static inline nnbrt_status nnbrt_conv_record_scratch(size_t group, const nnbrt_tensor *w, const nnbrt_geom *g,
                                                     nnbrt_cost *work)
{
    work->scratch = w->q ? nnbrt_qconv_scratch(group, g, NULL) : nnbrt_conv_scratch(group, g);
    if (work->scratch == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
    work->work += (uint64_t)work->scratch / 4u * (uint64_t)g->OH * (uint64_t)group * (uint64_t)g->outer; /* row copies */
    return NNBRT_OK;
}

/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static inline void nnbrt_conv_record_packed(size_t group, float *scratch, int nin, const nnbrt_tensor *in,
                                            const nnbrt_tensor *out, const nnbrt_geom *g)
{
    nnbrt_qconv(group, scratch, in[0].data, in[1].q, nin == 3 ? in[2].data : NULL, out[0].data, g, NULL);
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops. */
static inline void nnbrt_conv_record_ref(long group, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                                         const nnbrt_geom *gp)
{
    const nnbrt_geom g = *gp;
    const long cg = g.C / group, ocg = g.OC / group;
    long n, oc, ic, oh, ow, kh, kw;
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (oh = 0; oh < g.OH; ++oh)
                for (ow = 0; ow < g.OW; ++ow) {
                    float acc = nin == 3 ? in[2].data[oc] : 0.0f;
                    for (ic = 0; ic < cg; ++ic)
                        for (kh = 0; kh < g.KH; ++kh)
                            for (kw = 0; kw < g.KW; ++kw) {
                                long ih = oh * g.SH - g.PH + kh * g.DH;
                                long iw = ow * g.SW - g.PW + kw * g.DW;
                                long c = (oc / ocg) * cg + ic;
                                if (ih < 0 || ih >= g.IH || iw < 0 || iw >= g.IW) continue;
                                acc += in[0].data[((n * g.C + c) * g.IH + ih) * g.IW + iw] *
                                       in[1].data[((oc * cg + ic) * g.KH + kh) * g.KW + kw];
                            }
                    out[0].data[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] = acc;
                }
}
#endif
#endif
