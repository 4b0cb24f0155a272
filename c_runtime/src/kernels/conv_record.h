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

/* Run a checked record (kind NNBRT_CONV or NNBRT_DEPTHWISE, group = C for the latter): packed weights
   decoded a block of output channels at a time (conv_engine.c); REF builds the plain loops; else the
   weights packed at load (in[0].prep, which only Convolution asks for) or the shared engine. */
static inline void nnbrt_conv_record_run(int kind, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                                         const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t group;
    nnbrt_conv_geom(a, in, &out[0], kind, &g);
    group = kind == NNBRT_DEPTHWISE ? (size_t)g.C : (size_t)a->a[4].i;
    if (in[1].q) {
        nnbrt_qconv(group, a->scratch, in[0].data, in[1].q, nin == 3 ? in[2].data : NULL, out[0].data, &g, NULL);
        return;
    }
#ifdef NNBRT_REFERENCE_KERNELS
    nnbrt_conv_record_ref((long)group, nin, in, out, &g);
#else
#ifdef NNBRT_PREPARE
    if (in[0].prep && nnbrt_pack_conv(group, a->scratch, in[0].prep, in[0].data, out[0].data, &g, NULL)) return;
#endif
    nnbrt_conv_forward(group, a->scratch, nin, in, out, &g);
#endif
}
#endif
