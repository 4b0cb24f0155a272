/* FusedConv (extended id 1000, docs/nnb_format.md):
   y = act(pool(conv(x, W) + b) + residual).
   Arguments: 0 base_axis, 1 pad, 2 stride, 3 dilation, 4 group,
   5 channel_last, 6 pool (0 none, 1 max, 2 average), 7 pool_kernel,
   8 pool_stride, 9 pool_pad, 10 pool_ignore_border, 11 pool_including_pad,
   12 activation (0 none, 1 relu, 2 relu6), 13 residual, 14 has_bias.
   Inputs: x, W, [b], [residual]. The residual may share the output's
   storage: each element is read before it is written. Pooling follows
   nnabla's MaxPooling/AveragePooling on the convolution output, which is
   never stored whole (conv_engine.c). */
#include "conv_util.h"
#include "dw_inplace.h"
#include <math.h>

/* Pooling arguments (7 kernel, 8 stride, 9 pad, 10 ignore_border) as nnbrt_pool_check_p reads them. */
static void pool_args(const nnbrt_args *a, nnbrt_pool_args *pa)
{
    pa->kernel = &a->a[7];
    pa->stride = &a->a[8];
    pa->pad = &a->a[9];
    pa->ignore_border = a->a[10].i;
    pa->channel_last = 0;
}

/* Conv output dims (into cd) from x, W and the conv arguments. */
static nnbrt_status conv_dims(const nnbrt_args *a, const nnbrt_tensor *x, const nnbrt_tensor *w,
                              int32_t *cd, int *nsp_out)
{
    const int b = a->a[0].i;
    int nsp, i;
    if (b < 0 || b >= x->ndim) return NNBRT_E_BAD_ARGUMENT;
    nsp = x->ndim - b - 1;
    if (nsp < 1 || nsp > 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (w->ndim != nsp + 2) return NNBRT_E_SHAPE_MISMATCH;
    if (a->a[1].count != nsp || (a->a[2].count != 0 && a->a[2].count != nsp) ||
        (a->a[3].count != 0 && a->a[3].count != nsp))
        return NNBRT_E_BAD_ARGUMENT;
    for (i = 0; i < b; ++i) cd[i] = x->dims[i];
    cd[b] = w->dims[0];
    for (i = 0; i < nsp; ++i) {
        const int64_t p = a->a[1].list[i], s = a->a[2].count ? a->a[2].list[i] : 1,
                      d = a->a[3].count ? a->a[3].list[i] : 1, k = w->dims[2 + i];
        const int64_t v = (int64_t)x->dims[b + 1 + i] + 2 * p - d * (k - 1) - 1;
        if (p < 0 || s < 1 || d < 1) return NNBRT_E_BAD_ARGUMENT;
        if (v < 0) return NNBRT_E_SHAPE_MISMATCH;
        cd[b + 1 + i] = (int32_t)(v / s + 1); /* <= x dim + 2p < 2^33: checked below */
        if (v / s + 1 > 0x7fffffff) return NNBRT_E_SHAPE_MISMATCH;
    }
    *nsp_out = nsp;
    return NNBRT_OK;
}

/* Validate; fill geometry and fuse description (res left NULL). */
static nnbrt_status setup(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                          const nnbrt_tensor *out, nnbrt_geom *g, nnbrt_fuse *f, nnbrt_cost *work)
{
    const int pool = a->a[6].i, act = a->a[12].i, residual = a->a[13].i != 0,
              has_bias = a->a[14].i != 0;
    const int nconv = 2 + has_bias;
    int32_t cd[NNBRT_MAX_NDIM];
    nnbrt_tensor ct;
    nnbrt_status st;
    int nsp = 0, i;
    memset(f, 0, sizeof *f);
    if (pool < 0 || pool > 2 || act < 0 || act > 2) return NNBRT_E_BAD_ARGUMENT;
    if (nin != nconv + residual) return NNBRT_E_BAD_IO_COUNT;
    if ((st = conv_dims(a, &in[0], &in[1], cd, &nsp)) != NNBRT_OK) return st;
    ct.ndim = in[0].ndim;
    ct.dims = cd;
    ct.size = 1;
    for (i = 0; i < ct.ndim; ++i) {
        if ((size_t)cd[i] > (SIZE_MAX / 64u) / ct.size) return NNBRT_E_SIZE_OVERFLOW;
        ct.size *= (size_t)cd[i];
    }
    ct.data = NULL;
    if (!pool) {
        if ((st = nnbrt_conv_check(a, nconv, in, &out[0], NNBRT_CONV, g, work)) != NNBRT_OK) return st;
        f->OH = g->OH;
        f->OW = g->OW;
    } else {
        nnbrt_pool_args pa;
        nnbrt_geom pg;
        nnbrt_cost pw = {0, 0, 0, NULL};
        if ((st = nnbrt_conv_check(a, nconv, in, &ct, NNBRT_CONV, g, work)) != NNBRT_OK) return st;
        pool_args(a, &pa);
        if (pa.kernel->count > nsp) return NNBRT_E_UNSUPPORTED_ARGUMENT; /* pool the spatial axes only */
        if ((st = nnbrt_pool_check_p(&pa, &ct, &out[0], &pw)) != NNBRT_OK) return st;
        nnbrt_pool_geom_p(&pa, &ct, &out[0], &pg);
        {
            /* each pooled row recomputes the conv rows of its window */
            const uint64_t rows = (uint64_t)(nsp == 2 ? out[0].dims[out[0].ndim - 2] : 1) *
                                  (uint64_t)(pg.KH < g->OH ? pg.KH : g->OH);
            const uint64_t per_row = work->work / (uint64_t)(g->OH > 0 ? g->OH : 1) + 1;
            work->work = rows != 0 && per_row > UINT64_MAX / 4 / rows ? UINT64_MAX / 4 : per_row * rows;
        }
        f->KH = pg.KH; f->KW = pg.KW; f->SH = pg.SH; f->SW = pg.SW; f->PH = pg.PH; f->PW = pg.PW;
        f->OH = nsp == 2 ? out[0].dims[out[0].ndim - 2] : 1;
        f->OW = out[0].dims[out[0].ndim - 1];
        f->including_pad = a->a[11].i != 0;
        work->work += pw.work;
    }
    f->pool = pool;
    f->act = act;
    if (residual && !nnbrt_same_shape(&in[nin - 1], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    return NNBRT_OK;
}

#ifdef NNBRT_PREPARE
/* nnbrt_init: the weights (float, in the image or staged) packed for the engine. */
static void prepare(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out,
                    void *region)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_cost work = {0, 0, 0, NULL};
    (void)nout;
    setup(a, nin, in, out, &g, &f, &work);
    nnbrt_pack_fill((size_t)a->a[4].i, &g, &f, in[1].data, a->a[14].i ? in[2].data : NULL, region);
}
#endif

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_status st;
    (void)nout;
    if ((st = setup(a, nin, in, out, &g, &f, work)) != NNBRT_OK) return st;
    work->scratch = in[1].q ? nnbrt_qconv_scratch((size_t)a->a[4].i, &g, &f)
                            : nnbrt_conv_engine_scratch((size_t)a->a[4].i, &g, &f);
    if (work->scratch == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
    if (!in[1].q && !a->a[13].i && nnbrt_dw_inplace_applies((size_t)a->a[4].i, &g, &f)) {
        /* the plan may put the output over the input (dw_inplace.c) */
        const size_t s = nnbrt_dw_inplace_scratch(&g, &f);
        if (s == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
        if (s > work->scratch) work->scratch = s;
    }
#ifdef NNBRT_PREPARE
    if (!in[1].q && in[1].type == 0) { /* float weights: packed once at load where the engine has a form */
        work->persist = nnbrt_pack_bytes((size_t)a->a[4].i, &g, &f);
        work->prepare = work->persist ? prepare : NULL;
        if (work->persist) {
            const size_t ps = nnbrt_pack_scratch((size_t)a->a[4].i, &g, &f);
            if (ps > work->scratch) work->scratch = ps;
        }
    }
#endif
    /* row set-ups: once per conv row (per pooled row with pooling) and group */
    work->work += (uint64_t)work->scratch / 4u * (uint64_t)g.OH * (uint64_t)(f.KH > 1 ? f.KH : 1) *
                  (uint64_t)a->a[4].i * (uint64_t)g.outer + out[0].size;
    return NNBRT_OK;
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static void run_packed(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_cost work = {0, 0, 0, NULL};
    setup(a, nin, in, out, &g, &f, &work);
    f.res = a->a[13].i ? in[nin - 1].data : NULL;
    nnbrt_qconv((size_t)a->a[4].i, a->scratch, in[0].data, in[1].q, a->a[14].i ? in[2].data : NULL,
                out[0].data, &g, &f);
}

/* The output over the input: only a depthwise FusedConv (the loader admits no other), in place. */
static int run_inplace(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_cost work = {0, 0, 0, NULL};
    const float *x = in[0].data;
    if (out[0].data >= x + in[0].size || x >= out[0].data + out[0].size) return 0;
    setup(a, nin, in, out, &g, &f, &work);
    nnbrt_dw_inplace(a->scratch, x, in[1].data, a->a[14].i ? in[2].data : NULL, out[0].data, &g, &f);
    return 1;
}

static float act_ref(int act, float v)
{
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    return v;
}

/* Plain reference: every pooled output recomputes its window's conv values. */
static float conv_at(const nnbrt_geom *g, long group, const float *x, const float *w,
                     const float *b, long n, long oc, long oh, long ow)
{
    const long cg = g->C / group, ocg = g->OC / group;
    long ic, kh, kw;
    float acc = b ? b[oc] : 0.0f;
    for (ic = 0; ic < cg; ++ic)
        for (kh = 0; kh < g->KH; ++kh)
            for (kw = 0; kw < g->KW; ++kw) {
                const long ih = oh * g->SH - g->PH + kh * g->DH;
                const long iw = ow * g->SW - g->PW + kw * g->DW;
                const long c = (oc / ocg) * cg + ic;
                if (ih < 0 || ih >= g->IH || iw < 0 || iw >= g->IW) continue;
                acc += x[((n * g->C + c) * g->IH + ih) * g->IW + iw] *
                       w[((oc * cg + ic) * g->KH + kh) * g->KW + kw];
            }
    return acc;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_cost work = {0, 0, 0, NULL};
    const long group = a->a[4].i;
    const float *b = a->a[14].i ? in[2].data : NULL;
    const float *res = a->a[13].i ? in[nin - 1].data : NULL;
    long n, oc, ph, pw, r, q;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    if (run_inplace(a, nin, in, out)) return;
    setup(a, nin, in, out, &g, &f, &work);
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (ph = 0; ph < f.OH; ++ph)
                for (pw = 0; pw < f.OW; ++pw) {
                    const size_t o = (((size_t)n * (size_t)g.OC + (size_t)oc) * (size_t)f.OH + (size_t)ph) *
                                     (size_t)f.OW + (size_t)pw;
                    float v;
                    if (!f.pool) {
                        v = conv_at(&g, group, in[0].data, in[1].data, b, n, oc, ph, pw);
                    } else {
                        long hs = ph * f.SH - f.PH, he = hs + f.KH, ws = pw * f.SW - f.PW, we = ws + f.KW;
                        long hp, wpd, cnt;
                        float m = f.pool == 1 ? -INFINITY : 0.0f;
                        if (he > (long)g.OH + f.PH) he = (long)g.OH + f.PH;
                        if (we > (long)g.OW + f.PW) we = (long)g.OW + f.PW;
                        hp = he - hs;
                        wpd = we - ws;
                        if (hs < 0) hs = 0;
                        if (ws < 0) ws = 0;
                        if (he > g.OH) he = g.OH;
                        if (we > g.OW) we = g.OW;
                        for (r = hs; r < he; ++r)
                            for (q = ws; q < we; ++q) {
                                const float c = conv_at(&g, group, in[0].data, in[1].data, b, n, oc, r, q);
                                if (f.pool == 1) m = r == hs && q == ws ? c : (c > m ? c : m); /* nnabla's NaN rule */
                                else m += c;
                            }
                        if (f.pool == 2) {
                            cnt = f.including_pad ? hp * wpd
                                                  : (he > hs ? he - hs : 0) * (we > ws ? we - ws : 0);
                            m = cnt > 0 ? m / (float)cnt : 0.0f;
                        }
                        v = m;
                    }
                    if (res) v += res[o];
                    out[0].data[o] = act_ref(f.act, v);
                }
}
#else
/* One geometry and fuse description for every form (held once: the
   convolution engines below run deep, Cortex-M stack budget). */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_fuse f;
    nnbrt_cost work = {0, 0, 0, NULL};
    const float *x = in[0].data, *b = a->a[14].i ? in[2].data : NULL;
    (void)nout;
    setup(a, nin, in, out, &g, &f, &work);
    if (!in[1].q && out[0].data < x + in[0].size && x < out[0].data + out[0].size) {
        /* the output over the input: only a depthwise FusedConv (the loader admits no other), in place */
        nnbrt_dw_inplace(a->scratch, x, in[1].data, b, out[0].data, &g, &f);
        return;
    }
    f.res = a->a[13].i ? in[nin - 1].data : NULL;
#ifdef NNBRT_PREPARE
    if (in[0].prep && nnbrt_pack_conv((size_t)a->a[4].i, a->scratch, in[0].prep, x, out[0].data, &g, &f)) return;
#endif
    if (in[1].q) nnbrt_qconv((size_t)a->a[4].i, a->scratch, x, in[1].q, b, out[0].data, &g, &f);
    else nnbrt_conv_engine((size_t)a->a[4].i, a->scratch, x, in[1].data, b, out[0].data, &g, &f);
}
#endif

const nnbrt_kernel nnbrt_k_fused_conv = {"FusedConv", "iiIiIiIiBiiIiIiIBBiBB", 2, 4, 1, 1, check, run};
