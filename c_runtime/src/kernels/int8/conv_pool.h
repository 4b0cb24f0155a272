/* The int8 convolution with a fused max pool (record 1003 with pool) and the first convolution that
 * quantizes the float input (record 1014 Q8QConv), as one kernel the C runtime (kernels/q8_ops.c) and the
 * emitted C (templates/emit_c/model_i8.c.j2) both call, so their scratch is the same figure
 * (conv_pool.c). Scratch sizes are in bytes; `now` != 0 sizes for the path this CPU takes (the runtime's
 * arena), 0 for any CPU the code is built for (emitted code). */
#ifndef NNB_I8_CONV_POOL_H
#define NNB_I8_CONV_POOL_H

#include "nnb_int8.h"

/* conv.c: 1 when the convolution takes p's geometry (nnb_i8_conv2d's check), else 0 */
int nnb_i8_conv_ok(const nnb_i8_conv_params *p);

/* conv.c, Q8QConv's bands of output rows: the int16 scratch of the portable / Cortex-M im2col form of one sample
   (p->n == 1) of a convolution nnb_i8_conv2d runs by im2col (0: the geometry is refused, or depthwise), and that
   form with output channel ch at y[ch * ystride + i] (i < p->oh * p->ow), scratch as nnb_i8_conv2d's */
size_t nnb_i8_conv_band_scratch(const nnb_i8_conv_params *p);
void nnb_i8_conv2d_band(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, int8_t *y, size_t ystride, int16_t *scratch);

/* conv_direct.c: pooled rows [k0, k1) of every output channel of one sample x (p->n ignored) of a convolution
 * + max pool (pp over p's output), with no scratch: y[o * ystride + k * pp->ow + px]. Geometry checked by the
 * caller (nnb_i8_conv_ok, the pool's). */
void nnb_i8_conv_pool_direct(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x,
                             const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *y, size_t ystride, int32_t k0, int32_t k1);

/* Convolution + max pool: p the convolution (n samples), pp the pool of its output (pp->n = 1, pp->c = 1,
 * h/w = oh/ow of p). y [n][o][pp->oh][pp->ow]. On x86-64 with AVX-512 VNNI + VBMI, layers the row-quads form takes
 * run pooled in registers (conv_x86_pool.c: the last channel's weights in scratch); other x86 levels and layers
 * keep channel blocks; portable and Cortex-M levels the direct form. */
size_t nnb_i8_conv_pool_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now);
int nnb_i8_conv_pool(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const int8_t *x, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y, void *scratch,
                     size_t bytes);

/* Q8QConv: x float [n][c][h][w], quantized on p's input grid (p->in_zero) by Q8Quantize's 255 thresholds t
 * (i8_host.h nnb_i8_quantize1), then convolved as Q8Conv (pp != NULL: with its max pool). With a pool only the
 * input rows one pooled row reads are quantized at a time (portable / Cortex-M levels: the direct form, the
 * scratch is those rows only; x86 VNNI + VBMI: the pooled form, those rows and its weights copy), so the int8
 * sample is never whole; without one (portable / Cortex-M levels, not
 * depthwise) a band of output rows at a time, the band's input rows about as many bytes as the im2col columns. */
size_t nnb_i8_qconv_scratch(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int now);
int nnb_i8_qconv(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const float *x, const float *t,
                 const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y,
                 void *scratch, size_t bytes);

#endif
