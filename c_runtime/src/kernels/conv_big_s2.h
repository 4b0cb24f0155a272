/* Channel-blocked stride-2 phase planes for conv_gemm_big.h's output-channel-vector form (AVX-512; included
   by conv_gemm_big.h after its bplan). The form broadcasts one source float per column and tap, so its
   source columns need not be adjacent: here the zero-padded phase planes hold 16 channels per column
   (pixel (h, w) of channel c at ((c / 16 * 2 + h % 2) * 2 + w % 2) * pp + (h / 2) * L + w / 2, times 16,
   plus c % 16). A tile's broadcasts of 16 channels at one tap then share one cache line instead of reading
   16 planes (ResNet's 3x3/2 convs read 4 phase planes per channel: their source rows were spread over 4x the
   lines of a stride-1 conv's). Taken for ungrouped 2x2-strided convs with at least 16 input channels, no
   fused pooling, an even output height (every strip two rows: ocv_micro16) and the row-strip form. */
#ifndef NNBRT_CONV_BIG_S2_H
#define NNBRT_CONV_BIG_S2_H

#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
static void big_s2_plan(size_t group, const nnbrt_geom *g, bplan *q)
{
    q->cs = 1;
#if GV == 16 && defined(__AVX512F__)
    if (q->ocv == 2 && q->copy == 1 && group == 1 && !q->pool && g->SH == 2 && g->SW == 2 && g->OH % 2 == 0 &&
        g->C >= 16) {
        const uint64_t pl = ((uint64_t)g->C + 15u) / 16u * 16u * 4u * (uint64_t)q->pp;
        const uint64_t alloc = pl + 16u * ((uint64_t)q->L + BNR);
        if (pl <= NNBRT_GEMM_PLANE_MAX && alloc <= 0xffffffffu) {
            q->cs = 16;
            q->pl_floats = (size_t)pl;
            q->pl_alloc = (size_t)alloc;
        }
    }
#else
    (void)group;
    (void)g;
#endif
}
#endif

#if GV == 16 && defined(__AVX512F__) && NNBRT_GEMM_IM2COL_MAX != 0
static inline void ocv_tr16(__m512 r[16]);

/* The channel-blocked planes of one image (zero padding, zero lanes past the channels, zero read slack):
   16 channels x 16 columns of an input row loaded, transposed in registers, one pixel's 16 channels a store. */
static void big_s2_planes(float *pl, const float *x, const nnbrt_geom *g, const bplan *q)
{
    const size_t C = (size_t)g->C, IH = (size_t)g->IH, IW = (size_t)g->IW, PH = (size_t)g->PH, PW = (size_t)g->PW;
    size_t cb, ih, iw0, i, j;
    memset(pl, 0, q->pl_alloc * sizeof(float));
    for (cb = 0; cb < C; cb += 16)
        for (ih = 0; ih < IH; ++ih) {
            const size_t h = ih + PH;
            float *rowp = pl + ((cb / 16u * 2u + h % 2u) * 2u * q->pp + (h / 2u) * q->L) * 16u;
            for (iw0 = 0; iw0 < IW; iw0 += 16) {
                const size_t n = IW - iw0 < 16 ? IW - iw0 : 16;
                const __mmask16 m = (__mmask16)(n == 16 ? 0xffffu : (1u << n) - 1u);
                __m512 r[16];
                for (i = 0; i < 16; ++i)
                    r[i] = cb + i < C ? _mm512_maskz_loadu_ps(m, x + ((cb + i) * IH + ih) * IW + iw0)
                                      : _mm512_setzero_ps();
                ocv_tr16(r);
                for (j = 0; j < n; ++j) {
                    const size_t w = iw0 + j + PW;
                    _mm512_storeu_ps(rowp + ((w % 2u) * q->pp + w / 2u) * 16u, r[j]);
                }
            }
        }
}
#endif
#endif
