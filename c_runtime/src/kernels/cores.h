/* Float cores of small kernels, called by their records' run functions and,
   with the sizes fixed at emit time, straight from nnb emit-c's code (which
   then links neither the record, its argument check nor its packed-weight
   path). */
#ifndef NNBRT_CORES_H
#define NNBRT_CORES_H
#include "conv_util.h"

/* Affine, float weight stored output-major (wt[o][k]): y[r][o] = x[r] . wt[o] + b[o] (b may be NULL). */
void nnbrt_affine_f32(const float *x, const float *wt, const float *b, float *y, size_t rows, size_t inner,
                      size_t no);
/* Softmax over the middle axis of [outer, n, inner] (y may be x). */
void nnbrt_softmax_f32(const float *x, float *y, size_t outer, size_t n, size_t inner);
/* AveragePooling with pooling geometry g (outer planes of IH x IW -> OH x OW; nnbrt_pool_geom). */
void nnbrt_avg_pool_f32(const float *x, float *y, const nnbrt_geom *g, int including_pad);
#endif
