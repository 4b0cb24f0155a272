/* Convolution (id 265; legacy id 1): N x C x (H) x W, weights OC x C/group x (KH) x KW.
   Fast form: the register-blocked engine of conv_engine.c. */
#include "conv_util.h"

#ifdef NNBRT_PREPARE
/* nnbrt_init: the weights (float, in the image or staged) packed for the engine. */
static void prepare(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out,
                    void *region)
{
    nnbrt_geom g;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    nnbrt_pack_fill((size_t)a->a[4].i, &g, NULL, in[1].data, nin == 3 ? in[2].data : NULL, region);
}
#endif

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_CONV, &g, work);
    if (st == NNBRT_OK) {
        work->scratch = in[1].q ? nnbrt_qconv_scratch((size_t)a->a[4].i, &g, NULL)
                                : nnbrt_conv_scratch((size_t)a->a[4].i, &g);
        if (work->scratch == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
        work->work += (uint64_t)work->scratch / 4u * (uint64_t)g.OH * (uint64_t)a->a[4].i * (uint64_t)g.outer; /* row copies */
#ifdef NNBRT_PREPARE
        if (!in[1].q && in[1].type == 0) { /* float weights: packed once at load where the engine has a form */
            work->persist = nnbrt_pack_bytes((size_t)a->a[4].i, &g, NULL);
            work->prepare = work->persist ? prepare : NULL;
            if (work->persist && nnbrt_pack_scratch((size_t)a->a[4].i, &g, NULL) > work->scratch)
                work->scratch = nnbrt_pack_scratch((size_t)a->a[4].i, &g, NULL);
        }
#endif
    }
    return st;
}

/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static void run_packed(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    nnbrt_qconv((size_t)a->a[4].i, a->scratch, in[0].data, in[1].q, nin == 3 ? in[2].data : NULL, out[0].data, &g, NULL);
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    long n, oc, ic, oh, ow, kh, kw;
    long group = a->a[4].i, cg, ocg;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    cg = g.C / group;
    ocg = g.OC / group;
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
#else
/* Fast form: the shared engine (conv_engine.c). */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
#ifdef NNBRT_PREPARE
    if (in[0].prep && nnbrt_pack_conv((size_t)a->a[4].i, a->scratch, in[0].prep, in[0].data, out[0].data, &g, NULL))
        return;
#endif
    nnbrt_conv_forward((size_t)a->a[4].i, a->scratch, nin, in, out, &g);
}
#endif

const nnbrt_kernel nnbrt_k_convolution = {"Convolution", "iiIiIiIiB", 2, 3, 1, 1, check, run};
