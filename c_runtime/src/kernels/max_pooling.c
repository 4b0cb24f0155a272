/* MaxPooling (id 266): nnabla window rule: start = o*s - pad, end =
   min(start + k, in + pad), clipped to the input; max over valid cells.
   NaN as nnabla (and nnb/ops/pooling.py): its max starts from the window's
   first valid cell and takes a later cell only if greater, so a NaN first
   cell is the result and a later NaN is skipped. nnbrt_pool_run (kept for
   SumPooling and FusedConv) starts from -inf and maxes cells in pairs,
   which skips every NaN and the number paired with one. */
#include <math.h>

#include "conv_util.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)nin; (void)nout;
    return nnbrt_pool_check(a, &in[0], &out[0], work);
}

/* The later cell v wins only if greater: a NaN v never, a NaN m stays. */
static inline float max_step(float m, float v)
{
    return v > m ? v : m;
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain loops: every window clipped, cell by cell from its first cell. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    size_t n;
    long oh, ow, ih, iw, hs, he, ws, we;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) {
                float m = -INFINITY;
                nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                if (he > hs && we > ws) m = x[hs * g.IW + ws];
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) m = max_step(m, x[ih * g.IW + iw]);
                y[oh * g.OW + ow] = m;
            }
        }
    }
}
#else
/* Row at a time over nnbrt_pool_row_plan's interior/border split: an output
   row's windows start from their first input row (first: from each window's
   first cell) and fold in their later input rows, one cell at a time (the
   common 2- and 3-wide stride-2 windows in loops the compiler vectorises). */
static void max_fold(const nnbrt_pool_row *r, float *out, const float *row, int first)
{
    long o, q, s0, e0;
    const long n = r->hi - r->lo;
    const float *c = n > 0 ? row + (r->lo * r->sw - r->pw) : row;
    float *a = out + r->lo;
    for (o = 0; o < r->ow; ++o) { /* clipped windows at the borders */
        float m;
        if (o == r->lo && n > 0) {
            o = r->hi - 1; /* the interior, below */
            continue;
        }
        nnbrt_pool_window(o, r->kw, r->sw, r->pw, r->iw, &s0, &e0);
        m = !first ? out[o] : e0 > s0 ? row[s0] : -INFINITY;
        for (q = s0; q < e0; ++q) m = max_step(m, row[q]);
        out[o] = m;
    }
    if (r->kw == 2 && r->sw == 2 && first) {
        for (o = 0; o < n; ++o) a[o] = max_step(c[2 * o], c[2 * o + 1]);
    } else if (r->kw == 2 && r->sw == 2) {
        for (o = 0; o < n; ++o) a[o] = max_step(max_step(a[o], c[2 * o]), c[2 * o + 1]);
    } else if (r->kw == 3 && r->sw == 2 && first) {
        for (o = 0; o < n; ++o) a[o] = max_step(max_step(c[2 * o], c[2 * o + 1]), c[2 * o + 2]);
    } else if (r->kw == 3 && r->sw == 2) {
        for (o = 0; o < n; ++o) a[o] = max_step(max_step(max_step(a[o], c[2 * o]), c[2 * o + 1]), c[2 * o + 2]);
    } else {
        for (o = 0; o < n; ++o) {
            const float *cw = c + o * r->sw;
            float m = first ? cw[0] : max_step(a[o], cw[0]);
            for (q = 1; q < r->kw; ++q) m = max_step(m, cw[q]);
            a[o] = m;
        }
    }
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_pool_row pr;
    size_t n;
    long oh, ow, ih, hs, he;
    (void)nin; (void)nout;
    nnbrt_pool_geom(a, &in[0], &out[0], &g);
    pr = nnbrt_pool_row_plan(1, g.KW, g.SW, g.PW, g.OW, g.IW);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out[0].data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            float *yr = y + oh * g.OW;
            nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            if (he <= hs) {
                for (ow = 0; ow < g.OW; ++ow) yr[ow] = -INFINITY;
                continue;
            }
            for (ih = hs; ih < he; ++ih) max_fold(&pr, yr, x + ih * g.IW, ih == hs);
        }
    }
}
#endif

const nnbrt_kernel nnbrt_k_max_pooling = {"MaxPooling", "iIiIBiIB", 1, 1, 1, 1, check, run};
