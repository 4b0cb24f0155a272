/* The x86-64 host paths of the int8 convolution (conv_x86.c), chosen at run time: AVX-512 VNNI (VPDPBUSD
 * over x + 128 with the weight sums folded into the bias) for the GEMM and VPDPWSSD for stride-1 depthwise
 * layers, AVX2 (VPMADDWD GEMM and Affine, VPMULLW depthwise) below that, and the vector requantization. NNB_I8_X86 is 1 on x86-64 gcc/clang unless NNB_I8_NO_X86 (or the emulated DSP
 * path, which the tests build to check the Cortex-M arithmetic) is asked for. */
#ifndef NNB_I8_HOST_H
#define NNB_I8_HOST_H

#include "nnb_int8.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NNB_I8_NO_X86) && \
    !defined(NNB_I8_EMULATE_DSP)
#define NNB_I8_X86 1
#else
#define NNB_I8_X86 0
#endif

#if NNB_I8_X86
/* int16 elements of scratch the host paths may use for this layer, whatever the CPU (0: none) */
size_t nnb_i8_x86_conv_scratch(const nnb_i8_conv_params *p);
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
