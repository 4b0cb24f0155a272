/* Shared geometry checks and inner loops of convolution and pooling. */
#include "conv_util.h"
#include <math.h>

int nnbrt_geom_list(const nnbrt_arg *g, int nsp, int dflt, int *h, int *w)
{
    if (g->count == 0) {
        *h = *w = dflt;
        return 1;
    }
    if (g->count != nsp) return 0;
    if (nsp == 1) {
        *h = dflt == 0 ? 0 : 1;
        *w = g->list[0];
    } else {
        *h = g->list[0];
        *w = g->list[1];
    }
    return 1;
}

static void conv_lists(const nnbrt_args *a, int nsp, nnbrt_geom *g, int *ok)
{
    *ok = nnbrt_geom_list(&a->a[1], nsp, 0, &g->PH, &g->PW) &&
          nnbrt_geom_list(&a->a[2], nsp, 1, &g->SH, &g->SW) &&
          nnbrt_geom_list(&a->a[3], nsp, 1, &g->DH, &g->DW);
    if (nsp == 1) { g->PH = 0; g->SH = 1; g->DH = 1; }
}

/* Spatial dims of tensor t starting at axis s (nsp of them), 1-D -> H=1. */
static void spatial(const nnbrt_tensor *t, int s, int nsp, int *h, int *w)
{
    if (nsp == 1) { *h = 1; *w = t->dims[s]; }
    else { *h = t->dims[s]; *w = t->dims[s + 1]; }
}

void nnbrt_conv_geom(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                     int kind, nnbrt_geom *g)
{
    int b = a->a[0].i, nsp = in[1].ndim - (kind == NNBRT_DEPTHWISE ? 1 : 2), ok;
    conv_lists(a, nsp, g, &ok);
    g->outer = nnbrt_prod(&in[0], 0, b);
    g->C = in[0].dims[b];
    g->OC = out->dims[b];
    spatial(&in[0], b + 1, nsp, &g->IH, &g->IW);
    spatial(out, b + 1, nsp, &g->OH, &g->OW);
    spatial(&in[1], in[1].ndim - nsp, nsp, &g->KH, &g->KW);
}

nnbrt_status nnbrt_conv_check(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                              const nnbrt_tensor *out, int kind, nnbrt_geom *g, nnbrt_cost *work)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1];
    int b = a->a[0].i, nsp, ok, i, group;
    int64_t o[2];
    if (b < 0 || b >= x->ndim) return NNBRT_E_BAD_ARGUMENT;
    nsp = x->ndim - b - 1;
    if (nsp < 1 || nsp > 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (a->a[1].count != nsp) return NNBRT_E_BAD_ARGUMENT;
    if (w->ndim != nsp + (kind == NNBRT_DEPTHWISE ? 1 : 2)) return NNBRT_E_SHAPE_MISMATCH;
    conv_lists(a, nsp, g, &ok);
    if (!ok) return NNBRT_E_BAD_ARGUMENT;
    if (g->PH < 0 || g->PW < 0 || g->SH < 1 || g->SW < 1 || g->DH < 1 || g->DW < 1)
        return NNBRT_E_BAD_ARGUMENT;
    if (out->ndim != x->ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 0; i < b; ++i)
        if (out->dims[i] != x->dims[i]) return NNBRT_E_SHAPE_MISMATCH;
    g->outer = nnbrt_prod(x, 0, b);
    g->C = x->dims[b];
    g->OC = out->dims[b];
    spatial(x, b + 1, nsp, &g->IH, &g->IW);
    spatial(out, b + 1, nsp, &g->OH, &g->OW);
    spatial(w, w->ndim - nsp, nsp, &g->KH, &g->KW);
    if (kind == NNBRT_CONV) {
        group = a->a[4].i;
        if (a->a[5].i) return NNBRT_E_UNSUPPORTED_ARGUMENT; /* channel_last */
        if (group < 1 || g->C % group || g->OC % group) return NNBRT_E_BAD_ARGUMENT;
        if (w->dims[0] != g->OC || w->dims[1] != g->C / group) return NNBRT_E_SHAPE_MISMATCH;
    } else if (kind == NNBRT_DEPTHWISE) {
        int m = a->a[4].i;
        if (m < 1) return NNBRT_E_BAD_ARGUMENT;
        if ((int64_t)g->C * m != g->OC || w->dims[0] != g->OC) return NNBRT_E_SHAPE_MISMATCH;
    } else {
        group = a->a[4].i;
        if (a->a[5].i) return NNBRT_E_UNSUPPORTED_ARGUMENT;
        if (group < 1 || g->C % group) return NNBRT_E_BAD_ARGUMENT;
        if (w->dims[0] != g->C || (int64_t)w->dims[1] * group != g->OC) return NNBRT_E_SHAPE_MISMATCH;
    }
    if (kind == NNBRT_DECONV) {
        int oph = 0, opw = 0;
        if (a->a[6].count != 0 && a->a[6].count != nsp) return NNBRT_E_BAD_ARGUMENT;
        if (a->a[6].count) {
            nnbrt_geom_list(&a->a[6], nsp, 0, &oph, &opw);
            if (nsp == 1) oph = 0;
        }
        if (oph < 0 || opw < 0) return NNBRT_E_BAD_ARGUMENT;
        o[0] = (int64_t)g->SH * (g->IH - 1) + (int64_t)g->DH * (g->KH - 1) + 1 - 2 * (int64_t)g->PH + oph;
        o[1] = (int64_t)g->SW * (g->IW - 1) + (int64_t)g->DW * (g->KW - 1) + 1 - 2 * (int64_t)g->PW + opw;
    } else {
        o[0] = ((int64_t)g->IH + 2 * (int64_t)g->PH - (int64_t)g->DH * (g->KH - 1) - 1) / g->SH + 1;
        o[1] = ((int64_t)g->IW + 2 * (int64_t)g->PW - (int64_t)g->DW * (g->KW - 1) - 1) / g->SW + 1;
        if ((int64_t)g->IH + 2 * (int64_t)g->PH - (int64_t)g->DH * (g->KH - 1) - 1 < 0 ||
            (int64_t)g->IW + 2 * (int64_t)g->PW - (int64_t)g->DW * (g->KW - 1) - 1 < 0)
            return NNBRT_E_SHAPE_MISMATCH;
    }
    if (o[0] != g->OH || o[1] != g->OW) return NNBRT_E_SHAPE_MISMATCH;
    if (nin == 3 && (int64_t)in[2].size != g->OC) return NNBRT_E_SHAPE_MISMATCH;
    work->work = (uint64_t)out->size * (w->size / (size_t)(kind == NNBRT_DECONV ? w->dims[1] : w->dims[0]) + 1);
    if (kind == NNBRT_DECONV) work->work = (uint64_t)x->size * (w->size / (size_t)w->dims[0]) + out->size;
    return NNBRT_OK;
}

/* Range [lo, hi) of o in [0, n_o) such that o*s - t lies in [0, n_i). */
static void range(long n_i, long n_o, long s, long t, long *lo, long *hi)
{
    long l = t <= 0 ? 0 : (t + s - 1) / s;
    long h = (n_i - 1 + t) < 0 ? 0 : (n_i - 1 + t) / s + 1;
    if (h > n_o) h = n_o;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

void nnbrt_conv_plane(const float *x, const float *w, float *y, const nnbrt_geom *g)
{
    long kh, kw, oh, ow;
    for (kh = 0; kh < g->KH; ++kh) {
        /* rows: ih = oh*SH - (PH - kh*DH) must lie in [0, IH) */
        const long th = (long)g->PH - kh * g->DH;
        long h0, h1;
        range(g->IH, g->OH, g->SH, th, &h0, &h1);
        if (h0 >= h1) continue;
        for (kw = 0; kw < g->KW; ++kw) {
            const float wv = w[kh * g->KW + kw];
            const long t = (long)g->PW - kw * g->DW;
            long lo, hi;
            range(g->IW, g->OW, g->SW, t, &lo, &hi);
            if (lo >= hi) continue;
            if (g->SW == 1 && g->SH == 1 && t == 0 && lo == 0 && hi == g->OW && g->IW == g->OW) {
                /* whole rows, input rows consecutive: one long unit-stride loop */
                const float *xs = x + (h0 - th) * g->IW;
                float *ys = y + h0 * g->OW;
                const long n = (h1 - h0) * g->OW;
                for (ow = 0; ow < n; ++ow) ys[ow] += wv * xs[ow];
                continue;
            }
            for (oh = h0; oh < h1; ++oh) {
                const float *xr = x + (oh * g->SH - th) * g->IW;
                float *yr = y + oh * g->OW;
                if (g->SW == 1) {
                    const float *xs = xr + (lo - t);
                    float *ys = yr + lo;
                    const long n = hi - lo;
                    for (ow = 0; ow < n; ++ow) ys[ow] += wv * xs[ow];
                } else {
                    const long s = g->SW;
                    for (ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * s - t];
                }
            }
        }
    }
}

void nnbrt_deconv_plane(const float *x, const float *w, float *y, const nnbrt_geom *g)
{
    long kh, kw, ih, iw;
    for (kh = 0; kh < g->KH; ++kh) {
        for (kw = 0; kw < g->KW; ++kw) {
            const float wv = w[kh * g->KW + kw];
            const long t = (long)g->PW - kw * g->DW;
            long lo, hi;
            /* ow = iw*SW - t must lie in [0, OW) */
            range(g->OW, g->IW, g->SW, t, &lo, &hi);
            if (lo >= hi) continue;
            for (ih = 0; ih < g->IH; ++ih) {
                const long oh = ih * g->SH - g->PH + kh * g->DH;
                const float *xr = x + ih * g->IW;
                float *yr;
                if (oh < 0 || oh >= g->OH) continue;
                yr = y + oh * g->OW;
                for (iw = lo; iw < hi; ++iw) yr[iw * g->SW - t] += wv * xr[iw];
            }
        }
    }
}

void nnbrt_pool_geom_p(const nnbrt_pool_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                       nnbrt_geom *g)
{
    int nk = a->kernel->count, s = in->ndim - nk;
    nnbrt_geom_list(a->kernel, nk, 1, &g->KH, &g->KW);
    if (a->stride->count == 0) { g->SH = g->KH; g->SW = g->KW; }
    else nnbrt_geom_list(a->stride, nk, 1, &g->SH, &g->SW);
    nnbrt_geom_list(a->pad, nk, 0, &g->PH, &g->PW);
    if (nk == 1) { g->KH = 1; g->SH = 1; g->PH = 0; }
    g->outer = nnbrt_prod(in, 0, s);
    spatial(in, s, nk, &g->IH, &g->IW);
    spatial(out, s, nk, &g->OH, &g->OW);
    g->DH = g->DW = 1;
    g->C = g->OC = 1;
}

/* The pooling kernels' argument layout: 0 kernel, 1 stride, 2 ignore_border, 3 pad, 4 channel_last. */
static void pool_args(const nnbrt_args *a, nnbrt_pool_args *p)
{
    p->kernel = &a->a[0];
    p->stride = &a->a[1];
    p->pad = &a->a[3];
    p->ignore_border = a->a[2].i;
    p->channel_last = a->a[4].i;
}

void nnbrt_pool_geom(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                     nnbrt_geom *g)
{
    nnbrt_pool_args p;
    pool_args(a, &p);
    nnbrt_pool_geom_p(&p, in, out, g);
}

nnbrt_status nnbrt_pool_check_p(const nnbrt_pool_args *a, const nnbrt_tensor *in,
                                const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    int nk = a->kernel->count, s, i;
    int64_t o[2], n[2];
    if (nk < 1 || nk > 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (nk > in->ndim) return NNBRT_E_BAD_ARGUMENT;
    if (a->stride->count != 0 && a->stride->count != nk) return NNBRT_E_BAD_ARGUMENT;
    if (a->pad->count != 0 && a->pad->count != nk) return NNBRT_E_BAD_ARGUMENT;
    if (a->channel_last) return NNBRT_E_UNSUPPORTED_ARGUMENT; /* channel_last */
    if (out->ndim != in->ndim) return NNBRT_E_SHAPE_MISMATCH;
    s = in->ndim - nk;
    for (i = 0; i < s; ++i)
        if (out->dims[i] != in->dims[i]) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 0; i < nk; ++i) {
        if (a->kernel->list[i] < 1) return NNBRT_E_BAD_ARGUMENT;
        if (a->stride->count && a->stride->list[i] < 1) return NNBRT_E_BAD_ARGUMENT;
        if (a->pad->count && a->pad->list[i] < 0) return NNBRT_E_BAD_ARGUMENT;
    }
    nnbrt_pool_geom_p(a, in, out, &g);
    n[0] = (int64_t)g.IH + 2 * (int64_t)g.PH;
    n[1] = (int64_t)g.IW + 2 * (int64_t)g.PW;
    if (a->ignore_border) {
        if (n[0] < g.KH || n[1] < g.KW) return NNBRT_E_SHAPE_MISMATCH;
        o[0] = (n[0] - g.KH) / g.SH + 1;
        o[1] = (n[1] - g.KW) / g.SW + 1;
    } else {
        o[0] = (n[0] + g.SH - 1) / g.SH;
        o[1] = (n[1] + g.SW - 1) / g.SW;
    }
    if (nk == 1) o[0] = 1;
    if (o[0] != g.OH || o[1] != g.OW) return NNBRT_E_SHAPE_MISMATCH;
    work->work = (uint64_t)out->size * (uint64_t)g.KH * (uint64_t)g.KW + in->size;
    return NNBRT_OK;
}

nnbrt_status nnbrt_pool_check(const nnbrt_args *a, const nnbrt_tensor *in,
                              const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_pool_args p;
    pool_args(a, &p);
    return nnbrt_pool_check_p(&p, in, out, work);
}

/* MaxPooling (op 1) and SumPooling (op 0) over nnabla's windows. */
#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops: every window clipped, cell by cell. */
void nnbrt_pool_run(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out, int op)
{
    nnbrt_geom g;
    size_t n;
    long oh, ow, ih, iw, hs, he, ws, we;
    nnbrt_pool_geom(a, in, out, &g);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in->data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out->data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) {
                float m = op == 1 ? -INFINITY : 0.0f;
                nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                if (op == 1 && he > hs && we > ws) m = x[hs * g.IW + ws]; /* nnabla: from the first cell */
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) {
                        const float v = x[ih * g.IW + iw];
                        m = op != 1 ? m + v : (v > m ? v : m);
                    }
                y[oh * g.OW + ow] = m;
            }
        }
    }
}
#else
/* Row at a time: each output row starts at -inf (max; its first input row
   then starts each window from its first cell) or 0 and folds in the input
   rows of its window (nnbrt_pool_fold: whole windows without clipping). */
void nnbrt_pool_run(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out, int op)
{
    nnbrt_geom g;
    nnbrt_pool_row pr;
    size_t n;
    long oh, ow, ih, hs, he;
    nnbrt_pool_geom(a, in, out, &g);
    pr = nnbrt_pool_row_plan(op, g.KW, g.SW, g.PW, g.OW, g.IW);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in->data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out->data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            float *yr = y + oh * g.OW;
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) yr[ow] = op == 1 ? -INFINITY : 0.0f;
            for (ih = hs; ih < he; ++ih) nnbrt_pool_fold(&pr, yr, x + ih * g.IW, ih == hs);
        }
    }
}
#endif
