/* In-place depthwise convolution (as MCUNet's TinyEngine does): FusedConv's
   output over its own input (nnb/plan/inplace.py decides, the loader admits
   it only for a depthwise FusedConv without pooling or residual whose output
   is no bigger than its input).  Each channel plane is computed into a
   scratch plane, then copied to its output plane; output plane c starts no
   later than input plane c, so the copy overwrites only planes already read.
   Scratch: one output plane (+ the convolution engine's scratch for one
   plane in the optimised build). */
#include "dw_inplace.h"

static nnbrt_geom one_plane(const nnbrt_geom *g)
{
    nnbrt_geom p = *g;
    p.outer = 1;
    p.C = 1;
    p.OC = 1;
    return p;
}

/* Floats of the scratch plane, rounded up to 64 bytes so the engine's part stays aligned. */
static size_t plane_floats(const nnbrt_geom *g)
{
    return ((size_t)g->OH * (size_t)g->OW + 15u) & ~(size_t)15u;
}

int nnbrt_dw_inplace_applies(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return f->pool == 0 && f->res == NULL && g->C == g->OC && group == (size_t)g->C &&
           (size_t)g->OH * (size_t)g->OW <= (size_t)g->IH * (size_t)g->IW;
}

size_t nnbrt_dw_inplace_scratch(const nnbrt_geom *g, const nnbrt_fuse *f)
{
    const size_t plane = plane_floats(g);
#ifdef NNBRT_REFERENCE_KERNELS
    (void)f;
    return plane * sizeof(float);
#else
    const nnbrt_geom p = one_plane(g);
    const size_t e = nnbrt_conv_engine_scratch(1, &p, f);
    if (e == SIZE_MAX || e > SIZE_MAX - plane * sizeof(float)) return SIZE_MAX;
    return plane * sizeof(float) + e;
#endif
}

#ifdef NNBRT_REFERENCE_KERNELS
/* The plain form: every output value from its window, as fused_conv.c's reference. */
static void plane_ref(const float *x, const float *w, const float *b, float *out, const nnbrt_geom *g, int act)
{
    long oh, ow, kh, kw;
    for (oh = 0; oh < g->OH; ++oh)
        for (ow = 0; ow < g->OW; ++ow) {
            float acc = b ? *b : 0.0f;
            for (kh = 0; kh < g->KH; ++kh)
                for (kw = 0; kw < g->KW; ++kw) {
                    const long ih = oh * g->SH - g->PH + kh * g->DH, iw = ow * g->SW - g->PW + kw * g->DW;
                    if (ih < 0 || ih >= g->IH || iw < 0 || iw >= g->IW) continue;
                    acc += x[ih * g->IW + iw] * w[kh * g->KW + kw];
                }
            if (act == 1) acc = acc > 0.0f ? acc : 0.0f;
            if (act == 2) acc = acc < 0.0f ? 0.0f : (acc > 6.0f ? 6.0f : acc);
            out[oh * g->OW + ow] = acc;
        }
}
#endif

void nnbrt_dw_inplace(float *scratch, const float *x, const float *w, const float *bias, float *y,
                      const nnbrt_geom *g, const nnbrt_fuse *f)
{
    const nnbrt_geom p = one_plane(g);
    const size_t pin = (size_t)g->IH * (size_t)g->IW, pout = (size_t)g->OH * (size_t)g->OW;
    const size_t taps = (size_t)g->KH * (size_t)g->KW;
    float *tmp = scratch;
    size_t n;
    int c;
#ifndef NNBRT_REFERENCE_KERNELS
    float *eng = scratch + plane_floats(g);
#endif
    for (n = 0; n < g->outer; ++n)
        for (c = 0; c < g->C; ++c) {
            const size_t i = n * (size_t)g->C + (size_t)c;
            const float *b = bias ? bias + c : NULL;
#ifdef NNBRT_REFERENCE_KERNELS
            plane_ref(x + i * pin, w + (size_t)c * taps, b, tmp, &p, f->act);
#else
            nnbrt_conv_engine(1, eng, x + i * pin, w + (size_t)c * taps, b, tmp, &p, f);
#endif
            memcpy(y + i * pout, tmp, pout * sizeof(float));
        }
}
