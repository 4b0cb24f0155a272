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

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)nout;
    nnbrt_conv_record_run(NNBRT_DEPTHWISE, a, nin, in, out); /* conv_record.h */
}

const nnbrt_kernel nnbrt_k_depthwise_convolution = {"DepthwiseConvolution", "iiIiIiIi", 2, 3, 1, 1, check, run};
