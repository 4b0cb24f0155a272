/* Deconvolution (id 292): transposed convolution with stride, pad, dilation,
   group and output_padding. Weights C x OC/group x (KH) x KW. Fast form:
   one GEMM per group and a col2im scatter (scratch permitting), else each
   input plane scattered into the output planes of its group. */
#include "conv_util.h"

/* Largest scratch (floats) of the GEMM form; 0 keeps the per-plane scatter. */
#ifndef NNBRT_DECONV_GEMM_MAX
#define NNBRT_DECONV_GEMM_MAX 8192
#endif

/* GEMM form, per group: col[(ocl, kh, kw)][i] = sum_ic W[ic][ocl][kh][kw] x[ic][i] over the
   input pixels i (one GEMM with the transposed weights At), then col2im adds each row of col
   into the output at the pixel it lands on. Scratch: col and At (floats), or 0 if too big. */
static size_t gemm_floats(size_t group, const nnbrt_geom *g)
{
    const uint64_t M = (uint64_t)(g->OC / (int)group) * (uint64_t)g->KH * (uint64_t)g->KW;
    const uint64_t P = (uint64_t)g->IH * (uint64_t)g->IW, cg = (uint64_t)g->C / group;
    if (NNBRT_DECONV_GEMM_MAX == 0 || M > NNBRT_DECONV_GEMM_MAX || P > NNBRT_DECONV_GEMM_MAX ||
        cg > NNBRT_DECONV_GEMM_MAX || M * (P + cg) > NNBRT_DECONV_GEMM_MAX)
        return 0;
    return (size_t)(M * (P + cg));
}

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_DECONV, &g, work);
    if (st == NNBRT_OK) work->scratch = gemm_floats((size_t)a->a[4].i, &g) * sizeof(float);
    return st;
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops: gather form, y[oh] sums x[ih] where oh = ih*s - p + k*d. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    long n, oc, ic, oh, ow, kh, kw, group = a->a[4].i, cg, ocg;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DECONV, &g);
    cg = g.C / group;
    ocg = g.OC / group;
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (oh = 0; oh < g.OH; ++oh)
                for (ow = 0; ow < g.OW; ++ow) {
                    float acc = nin == 3 ? in[2].data[oc] : 0.0f;
                    for (ic = (oc / ocg) * cg; ic < (oc / ocg + 1) * cg; ++ic)
                        for (kh = 0; kh < g.KH; ++kh)
                            for (kw = 0; kw < g.KW; ++kw) {
                                long nh = oh + g.PH - kh * g.DH, nw = ow + g.PW - kw * g.DW;
                                long ih = nh / g.SH, iw = nw / g.SW;
                                if (nh < 0 || nw < 0 || nh % g.SH || nw % g.SW) continue;
                                if (ih >= g.IH || iw >= g.IW) continue;
                                acc += in[0].data[((n * g.C + ic) * g.IH + ih) * g.IW + iw] *
                                       in[1].data[((ic * ocg + oc % ocg) * g.KH + kh) * g.KW + kw];
                            }
                    out[0].data[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] = acc;
                }
}
#else
static void run_gemm(float *scratch, size_t group, const float *x, const float *w, const float *bias, float *y,
                     const nnbrt_geom *g)
{
    const size_t cg = (size_t)g->C / group, ocg = (size_t)g->OC / group, ksz = (size_t)g->KH * (size_t)g->KW;
    const size_t M = ocg * ksz, P = (size_t)g->IH * (size_t)g->IW, plane_out = (size_t)g->OH * (size_t)g->OW;
    float *col = scratch, *at = scratch + M * P;
    size_t n, grp, r, ic, k;
    for (n = 0; n < g->outer; ++n)
        for (grp = 0; grp < group; ++grp) {
            const float *xg = x + (n * (size_t)g->C + grp * cg) * P;
            float *yg = y + (n * (size_t)g->OC + grp * ocg) * plane_out;
            for (r = 0; r < M; ++r) /* At[(ocl, kh, kw)][ic] = W[grp*cg + ic][ocl][kh][kw] */
                for (ic = 0; ic < cg; ++ic) at[r * cg + ic] = w[(grp * cg + ic) * M + r];
            nnbrt_sgemm(M, P, cg, at, xg, P, col, P);
            for (r = 0; r < ocg; ++r) {
                const float bv = bias ? bias[grp * ocg + r] : 0.0f;
                for (k = 0; k < plane_out; ++k) yg[r * plane_out + k] = bv;
            }
            for (r = 0; r < M; ++r) { /* col2im: row (ocl, kh, kw) into output plane ocl */
                const long kh = (long)((r % ksz) / (size_t)g->KW), kw = (long)(r % (size_t)g->KW);
                const long t = (long)g->PW - kw * g->DW;
                float *yp = yg + (r / ksz) * plane_out;
                long ih, iw, lo, hi;
                for (lo = 0; lo < g->IW && lo * g->SW - t < 0; ++lo) continue;
                for (hi = g->IW; hi > lo && (hi - 1) * g->SW - t >= g->OW; --hi) continue;
                for (ih = 0; ih < g->IH; ++ih) {
                    const long oh = ih * g->SH - g->PH + kh * g->DH;
                    const float *cr = col + r * P + (size_t)ih * (size_t)g->IW;
                    if (oh < 0 || oh >= g->OH) continue;
                    for (iw = lo; iw < hi; ++iw) yp[oh * g->OW + iw * g->SW - t] += cr[iw];
                }
            }
        }
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t n, oc, ic, k, plane_in, plane_out, ksz;
    size_t group = (size_t)a->a[4].i, cg, ocg;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_DECONV, &g);
    cg = (size_t)g.C / group;
    ocg = (size_t)g.OC / group;
    plane_in = (size_t)g.IH * (size_t)g.IW;
    plane_out = (size_t)g.OH * (size_t)g.OW;
    ksz = (size_t)g.KH * (size_t)g.KW;
    if (gemm_floats(group, &g)) {
        run_gemm(a->scratch, group, in[0].data, in[1].data, nin == 3 ? in[2].data : NULL, out[0].data, &g);
        return;
    }
    for (n = 0; n < g.outer; ++n) {
        for (oc = 0; oc < (size_t)g.OC; ++oc) {
            float *y = out[0].data + (n * (size_t)g.OC + oc) * plane_out;
            const float bv = nin == 3 ? in[2].data[oc] : 0.0f;
            const size_t gi = oc / ocg, ocl = oc % ocg;
            for (k = 0; k < plane_out; ++k) y[k] = bv;
            for (ic = gi * cg; ic < (gi + 1) * cg; ++ic)
                nnbrt_deconv_plane(in[0].data + (n * (size_t)g.C + ic) * plane_in,
                                   in[1].data + (ic * ocg + ocl) * ksz, y, &g);
        }
    }
}

#endif

const nnbrt_kernel nnbrt_k_deconvolution = {"Deconvolution", "iiIiIiIiBiI", 2, 3, 1, 1, check, run};
