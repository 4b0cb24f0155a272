/* In-place depthwise convolution (dw_inplace.c). */
#ifndef NNBRT_DW_INPLACE_H
#define NNBRT_DW_INPLACE_H
#include "conv_util.h"

/* Does the in-place form compute this FusedConv (depthwise, no pool, no residual, output plane <= input plane)? */
int nnbrt_dw_inplace_applies(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
/* Scratch bytes of the in-place form, SIZE_MAX on overflow. */
size_t nnbrt_dw_inplace_scratch(const nnbrt_geom *g, const nnbrt_fuse *f);
/* y (which may start where x starts) = act(depthwise conv(x, w) + bias), one channel plane at a time. */
void nnbrt_dw_inplace(float *scratch, const float *x, const float *w, const float *bias, float *y,
                      const nnbrt_geom *g, const nnbrt_fuse *f);

#endif
