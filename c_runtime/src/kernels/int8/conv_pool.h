/* The int8 convolution with a fused max pool (record 1003 with pool) and the first convolution that
 * quantizes the float input (record 1014 Q8QConv), as one kernel the C runtime (kernels/q8_ops.c) and the
 * emitted C (templates/emit_c/model_i8.c.j2) both call, so their scratch is the same figure
 * (conv_pool.c). Scratch sizes are in bytes; `now` != 0 sizes for the path this CPU takes (the runtime's
 * arena), 0 for any CPU the code is built for (emitted code). */
#ifndef NNB_I8_CONV_POOL_H
#define NNB_I8_CONV_POOL_H

#include "nnb_int8.h"

/* conv.c: output rows [r0, r1) of every channel of a group-1 convolution through the portable / Cortex-M
 * im2col path, into y [n][o][r1 - r0][ow]; the scratch (int16 elements) it needs, 0 when the path does not
 * take the layer (depthwise, grouped). */
size_t nnb_i8_conv_rows_scratch(const nnb_i8_conv_params *p);
int nnb_i8_conv2d_rows(const nnb_i8_conv_params *p, int32_t r0, int32_t r1, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y, int16_t *scratch,
                       size_t scratch_len);

/* Convolution + max pool: p the convolution (n samples), pp the pool of its output (pp->n = 1, pp->c = 1,
 * h/w = oh/ow of p). y [n][o][pp->oh][pp->ow]. */
size_t nnb_i8_conv_pool_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now);
int nnb_i8_conv_pool(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y, void *scratch,
                     size_t bytes);

/* Q8QConv: x float [n][c][h][w], quantized on p's input grid (p->in_zero) by Q8Quantize's 255 thresholds t
 * (i8_host.h nnb_i8_quantize1), then convolved as Q8Conv (pp != NULL: with its max pool). With a pool only the
 * input rows one pooled row reads are quantized at a time, so the int8 sample is never whole. */
size_t nnb_i8_qconv_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now);
int nnb_i8_qconv(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const float *x, const float *t,
                 const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y,
                 void *scratch, size_t bytes);

#endif
