/* DepthwiseConvolution (id 2): output channel oc reads input channel
   oc / multiplier with its own KH x KW kernel. */
#include "conv_record.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_DEPTHWISE, &g, work);
    return st == NNBRT_OK ? nnbrt_conv_record_scratch((size_t)g.C, &in[1], &g, work) : st;
}

/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static void run_packed(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DEPTHWISE, &g);
    nnbrt_conv_record_packed((size_t)g.C, a->scratch, nin, in, out, &g);
}

/* REF builds: plain reference loops. Fast form: a depthwise convolution is a grouped convolution with
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
#ifdef NNBRT_REFERENCE_KERNELS
    nnbrt_conv_record_ref(g.C, nin, in, out, &g);
#else
    nnbrt_conv_forward((size_t)g.C, a->scratch, nin, in, out, &g);
#endif
}

const nnbrt_kernel nnbrt_k_depthwise_convolution = {"DepthwiseConvolution", "iiIiIiIi", 2, 3, 1, 1, check, run};
