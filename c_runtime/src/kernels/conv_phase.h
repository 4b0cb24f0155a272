/* Input rows into phase planes (space-to-depth by the stride), shared by
   the small-layer forms compiled per instruction set: conv_gemm.c's im2col
   planes and (through it) conv_s1.h's gather and conv_r8wino.h's column
   split, and conv_dwflat.c's depthwise planes. Header-only (static inline):
   each translation unit gets the vector width it is compiled for.
   - nnbrt_deint2: even and odd floats of a row, by vector shuffles of
     D2V floats (NNBRT_VSHUF) where the build has GNU vectors.
   - nnbrt_phase_row: one input row into its SW phase rows. */
#ifndef NNBRT_CONV_PHASE_H
#define NNBRT_CONV_PHASE_H
#include "conv_util.h"

#if defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
#if defined(__AVX__)
#define D2V 8
#define D2_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define D2_ODD 1, 3, 5, 7, 9, 11, 13, 15
#else
#define D2V 4
#define D2_EVEN 0, 2, 4, 6
#define D2_ODD 1, 3, 5, 7
#endif
typedef float d2vec __attribute__((vector_size(D2V * 4)));
typedef int32_t d2veci __attribute__((vector_size(D2V * 4)));
/* unaligned, may alias floats: one vector move (a memcpy follows -mmove-max) */
typedef float d2vecu __attribute__((vector_size(D2V * 4), aligned(4), may_alias));
#define D2LD(p) (*(const d2vecu *)(const void *)(p))
#define D2ST(p, v) (*(d2vecu *)(void *)(p) = (v))
/* the even (odd) floats of a then b: a vector of D2V */
#define D2_EVENS(a, b) NNBRT_VSHUF(d2veci, (a), (b), D2_EVEN)
#define D2_ODDS(a, b) NNBRT_VSHUF(d2veci, (a), (b), D2_ODD)
#else
#define D2V 1 /* no vectors: the scalar loops only */
#endif

/* src[0..n) -> ev[j] = src[2j], od[j] = src[2j + 1] */
static inline void nnbrt_deint2(const float *src, float *ev, float *od, size_t n)
{
    size_t j = 0;
#if D2V > 1
    for (; j + 2 * D2V <= n; j += 2 * D2V) {
        const d2vec a = D2LD(src + j), b = D2LD(src + j + D2V);
        D2ST(ev + j / 2, D2_EVENS(a, b));
        D2ST(od + j / 2, D2_ODDS(a, b));
    }
#endif
    for (; j + 1 < n; j += 2) {
        ev[j / 2] = src[j];
        od[j / 2] = src[j + 1];
    }
    if (j < n) ev[j / 2] = src[j];
}

/* One input row src (IW floats) into its SW phase rows, pp floats apart
   from row: padded column w = j + PW of input column j goes to phase
   w % SW, column w / SW. For SW > 2 the phases with need[phase] 0 are
   skipped (need NULL: none). Only the input's columns are written. */
static inline void nnbrt_phase_row(float *row, size_t pp, const float *src, size_t IW, size_t PW, size_t SW,
                                   const unsigned char *need)
{
    size_t qw;
    if (SW == 1) {
        memcpy(row + PW, src, IW * sizeof(float));
        return;
    }
    if (SW == 2) { /* even input columns to phase PW % 2 from column PW / 2, odd ones to the other */
        nnbrt_deint2(src, row + (PW % 2u) * pp + PW / 2u, row + ((PW + 1u) % 2u) * pp + (PW + 1u) / 2u, IW);
        return;
    }
    for (qw = 0; qw < SW; ++qw) {
        /* padded columns w = qw + SW * t hold input column w - PW */
        float *dq = row + qw * pp;
        size_t t = qw >= PW ? 0 : (PW - qw + SW - 1) / SW;
        if (need && !need[qw]) continue;
        for (; qw + SW * t < PW + IW; ++t) dq[t] = src[qw + SW * t - PW];
    }
}

#endif
