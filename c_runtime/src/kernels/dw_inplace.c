/* In-place depthwise convolution (as MCUNet's TinyEngine does): FusedConv's
   output over its own input (nnb/plan/inplace.py decides, the loader admits
   it only for a depthwise FusedConv without pooling or residual whose output
   is no bigger than its input).  Each channel plane is computed into a
   scratch plane, then copied to its output plane; output plane c starts no
   later than input plane c, so the copy overwrites only planes already read.
   Scratch: one output plane (+ the convolution engine's scratch for one
   plane in the optimised build). */
#include "dw_inplace.h"

/* Bytes of output planes computed per step: more planes, fewer engine calls
   (the engine's depthwise form runs a block of channels as fast as all of
   them) but more scratch.  The microcontroller scratch settings
   (NNBRT_PLANE_MAX=0, make SMALL=1 / cortex-m4) take one plane at a time. */
#ifndef NNBRT_DW_INPLACE_BYTES
#if defined(NNBRT_PLANE_MAX) && NNBRT_PLANE_MAX == 0
#define NNBRT_DW_INPLACE_BYTES 0
#else
#define NNBRT_DW_INPLACE_BYTES 16384
#endif
#endif

/* Floats of one output plane, rounded up to 64 bytes so the engine's part stays aligned. */
static size_t plane_floats(const nnbrt_geom *g)
{
    return ((size_t)g->OH * (size_t)g->OW + 15u) & ~(size_t)15u;
}

/* Channels per step: as many planes as NNBRT_DW_INPLACE_BYTES holds, at least one. */
static int block_channels(const nnbrt_geom *g)
{
    const size_t per = plane_floats(g) * sizeof(float);
    const size_t k = per ? (size_t)NNBRT_DW_INPLACE_BYTES / per : 1;
    return k < 1 ? 1 : (k > (size_t)g->C ? g->C : (int)k);
}

#ifndef NNBRT_REFERENCE_KERNELS
/* The geometry of channels [c0, c0 + k) of one batch item. */
static nnbrt_geom block(const nnbrt_geom *g, int k)
{
    nnbrt_geom p = *g;
    p.outer = 1;
    p.C = k;
    p.OC = k;
    return p;
}
#endif

int nnbrt_dw_inplace_applies(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return f->pool == 0 && f->res == NULL && g->C == g->OC && group == (size_t)g->C && g->C > 0 &&
           (size_t)g->OH * (size_t)g->OW <= (size_t)g->IH * (size_t)g->IW;
}

size_t nnbrt_dw_inplace_scratch(const nnbrt_geom *g, const nnbrt_fuse *f)
{
    const int k = block_channels(g);
    const size_t planes = plane_floats(g) * (size_t)k;
    if (planes > SIZE_MAX / sizeof(float) / 2u) return SIZE_MAX;
#ifdef NNBRT_REFERENCE_KERNELS
    (void)f;
    return planes * sizeof(float);
#else
    {
        const int rem = g->C % k;
        const nnbrt_geom p = block(g, k), q = block(g, rem ? rem : k);
        size_t e = nnbrt_conv_engine_scratch((size_t)k, &p, f);
        const size_t e2 = nnbrt_conv_engine_scratch((size_t)q.C, &q, f);
        if (e == SIZE_MAX || e2 == SIZE_MAX) return SIZE_MAX;
        if (e2 > e) e = e2;
        if (e > SIZE_MAX - planes * sizeof(float)) return SIZE_MAX;
        return planes * sizeof(float) + e;
    }
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
    const size_t pin = (size_t)g->IH * (size_t)g->IW, pout = (size_t)g->OH * (size_t)g->OW;
    const size_t taps = (size_t)g->KH * (size_t)g->KW, stride = plane_floats(g);
    const int kmax = block_channels(g);
    float *tmp = scratch;
    size_t n;
    int c0, j;
#ifndef NNBRT_REFERENCE_KERNELS
    float *eng = scratch + stride * (size_t)kmax;
#endif
    for (n = 0; n < g->outer; ++n)
        for (c0 = 0; c0 < g->C; c0 += kmax) {
            const int k = g->C - c0 < kmax ? g->C - c0 : kmax;
            const size_t i = n * (size_t)g->C + (size_t)c0;
#ifdef NNBRT_REFERENCE_KERNELS
            for (j = 0; j < k; ++j)
                plane_ref(x + (i + (size_t)j) * pin, w + (size_t)(c0 + j) * taps, bias ? bias + c0 + j : NULL,
                          tmp + (size_t)j * stride, g, f->act);
#else
            {
                /* the engine writes the k planes contiguously: copy them out plane by plane below */
#ifdef NNBRT_MCU_KERNELS
                /* the block as an overlay of g (no geometry copy here: Cortex-M stack); no residual */
                nnbrt_mcu_blk b;
                b.outer = 1;
                b.C = k;
                b.OC = k;
                b.res = NULL;
                nnbrt_mcu_conv_blk((size_t)k, eng, x + i * pin, w + (size_t)c0 * taps, bias ? bias + c0 : NULL, tmp,
                                   g, f, &b);
#else
                const nnbrt_geom p = block(g, k);
                nnbrt_conv_engine((size_t)k, eng, x + i * pin, w + (size_t)c0 * taps, bias ? bias + c0 : NULL, tmp,
                                  &p, f);
#endif
            }
#endif
            /* every input plane of this block has been read: the copy may overwrite them */
            for (j = 0; j < k; ++j)
                memcpy(y + (i + (size_t)j) * pout,
#ifdef NNBRT_REFERENCE_KERNELS
                       tmp + (size_t)j * stride,
#else
                       tmp + (size_t)j * pout,
#endif
                       pout * sizeof(float));
        }
}
