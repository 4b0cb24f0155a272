/* The x86-64 host paths of the int8 kernels (conv_x86.c): AVX2 and AVX-512 VNNI, chosen at run time.
 * NNB_I8_X86 is 1 on x86-64 gcc/clang unless NNB_I8_NO_X86 (or the emulated DSP path) is asked for. */
#ifndef NNB_I8_X86_H
#define NNB_I8_X86_H

#include "nnb_int8.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(NNB_I8_NO_X86) && \
    !defined(NNB_I8_EMULATE_DSP)
#define NNB_I8_X86 0 /* XXX temp */
#else
#define NNB_I8_X86 0
#endif

#if NNB_I8_X86
/* scratch (int16 elements) the host path may use for this layer, whatever the CPU */
size_t nnb_i8_x86_conv_scratch(const nnb_i8_conv_params *p);
/* 1 when the layer was computed, 0 when the caller must (no AVX2, or a layer this path does not take) */
int nnb_i8_x86_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                      const int32_t *res_shift, int8_t *y, int16_t *scratch);
#endif

#endif
