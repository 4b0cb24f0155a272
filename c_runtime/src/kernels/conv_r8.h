/* The Winograd form's entry points (conv_r8wino.h, compiled in conv_gemm.c;
   conv_engine.c's nnbrt_pack_* functions call them, after the large-layer
   GEMM's). Same contract as nnbrt_pack_bytes / _fill / _scratch / _conv
   (conv_util.h): bytes 0 when the form does not apply; _conv returns 0
   doing nothing when pk or scratch is NULL or the form does not take the
   call (it then falls back to the engine). */
#ifndef NNBRT_CONV_R8_H
#define NNBRT_CONV_R8_H
#include "conv_util.h"

#ifdef NNBRT_PREPARE
#ifdef NNBRT_ISA_SUFFIX
#define nnbrt_wino_pack_bytes NNBRT_CAT(nnbrt_wino_pack_bytes, NNBRT_ISA_SUFFIX)
#define nnbrt_wino_pack_fill NNBRT_CAT(nnbrt_wino_pack_fill, NNBRT_ISA_SUFFIX)
#define nnbrt_wino_pack_scratch NNBRT_CAT(nnbrt_wino_pack_scratch, NNBRT_ISA_SUFFIX)
#define nnbrt_wino_pack_conv NNBRT_CAT(nnbrt_wino_pack_conv, NNBRT_ISA_SUFFIX)
#define nnbrt_wino_pack_first NNBRT_CAT(nnbrt_wino_pack_first, NNBRT_ISA_SUFFIX)
#endif
/* 1 where the form takes the layer and is faster than the large-layer GEMM (conv_gemm_big.h), which
   conv_engine.c otherwise tries first */
int nnbrt_wino_pack_first(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
size_t nnbrt_wino_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_wino_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                          void *dst);
size_t nnbrt_wino_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
int nnbrt_wino_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                         const nnbrt_fuse *f);
#endif

#endif
