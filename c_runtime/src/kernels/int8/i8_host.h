/* The x86-64 host paths of the int8 convolution (conv_x86.c), chosen at run time: AVX-512 VNNI (VPDPBUSD
 * over x + 128 with the weight sums folded into the bias) for the GEMM and VPDPWSSD for stride-1 depthwise
 * layers, AVX2 (VPMADDWD: a direct convolution over int16 pairs, panels GEMM, depthwise pairs, stride-2 depthwise
 * over row-phase planes, Affine) below that, the vector requantization, and Q8Quantize's table look-up. NNB_I8_X86 is 1 on x86-64 gcc/clang unless
 * NNB_I8_NO_X86 (or the emulated DSP path, which the tests build to check the Cortex-M arithmetic) is asked for. */
#ifndef NNB_I8_HOST_H
#define NNB_I8_HOST_H

#include "nnb_int8.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NNB_I8_NO_X86) && \
    !defined(NNB_I8_EMULATE_DSP)
#define NNB_I8_X86 1
#else
#define NNB_I8_X86 0
#endif

/* Q8Quantize's arithmetic (kernels/q8_ops.c): quantize(v) = -128 + #{k : v >= t[k]} over 255 non-decreasing
 * thresholds t (no NaN; a NaN v gives -128). The count starts from the estimate a uniform table gives
 * (inv = 254 / (t[254] - t[0]) when that difference is finite and > 0, else 0; float arithmetic only, as on a
 * Cortex-M4F) and moves until t[e - 1] <= v < t[e]: exact for any such table, one or two compares for the
 * tables the writer makes. */
static inline float nnb_i8_qinv(const float *t)
{
    const float span = t[254] - t[0];
    return span > 0.0f && span <= 3.4e38f ? 254.0f / span : 0.0f;
}

static inline int8_t nnb_i8_quantize1(float v, const float *t, float inv)
{
    int32_t e = 1;
    if (!(v >= t[0]))
        return -128;
    if (v >= t[254])
        return 127;
    if (inv > 0.0f) { /* t[0] <= v < t[254]: v - t[0] <= t[254] - t[0], finite; f in [0, 254] up to rounding */
        const float f = (v - t[0]) * inv;
        e = f >= 253.0f ? 254 : f >= 0.0f ? (int32_t)f + 1 : 1;
    }
    while (e > 1 && v < t[e - 1])
        --e;
    while (e < 254 && v >= t[e])
        ++e;
    return (int8_t)(e - 128);
}

/* int16 elements of scratch nnb_i8_conv2d needs on this CPU (conv.c): its portable paths' and, on x86-64, the form
 * the level it runs takes (nnb_i8_conv_scratch: the largest over every x86 level, for code built elsewhere). A
 * scratch below the x86 form's need runs the portable path. The runtime sizes its arena by this. */
size_t nnb_i8_conv_scratch_run(const nnb_i8_conv_params *p);

#if NNB_I8_X86
/* Q8Quantize of n values, eight at a time (AVX2): 1 when done here, 0 when the caller must */
int nnb_i8_x86_quantize(size_t n, const float *x, const float *t, int8_t *y);
/* int16 elements of scratch the host paths may use for this layer, whatever the CPU (0: none) */
size_t nnb_i8_x86_conv_scratch(const nnb_i8_conv_params *p);
/* the same for the level this process runs now (nnb_i8_x86_level) */
size_t nnb_i8_x86_conv_scratch_now(const nnb_i8_conv_params *p);
/* 1 when the layer was computed here, 0 when the caller must (an older CPU, or a layer these paths do not
 * take). The geometry is already checked. */
int nnb_i8_x86_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                      const int32_t *res_shift, int8_t *y, int16_t *scratch);
/* the Affine on AVX-512 VNNI or AVX2 (VPMADDWD): 1 when computed here, 0 when the caller must (arguments already checked) */
int nnb_i8_x86_affine(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                      int32_t act_min, int32_t act_max, int8_t *y);
/* 0 portable loops, 1 AVX2, 2 AVX-512 VNNI: what this CPU runs, capped by NNB_I8_ISA=base|avx2|vnni */
int nnb_i8_x86_level(void);
#endif

#endif
