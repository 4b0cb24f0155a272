/* Convolution (id 265; legacy id 1): N x C x (H) x W, weights OC x C/group x (KH) x KW.
   Fast form: for each output channel accumulate every (input channel, tap)
   over contiguous output rows (unit-stride inner loop when stride is 1). */
#include "conv_util.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_CONV, &g, work);
    if (st == NNBRT_OK) {
        work->scratch = nnbrt_conv_scratch((size_t)a->a[4].i, &g);
        if (work->scratch == SIZE_MAX) return NNBRT_E_SIZE_OVERFLOW;
        work->work += (uint64_t)work->scratch / 4u * (uint64_t)g.OH; /* row copies */
    }
    return st;
}

/* Fast-path plan shared by check and run. 1x1/stride-1/no-pad convolutions
   are treated as one long row. Returns the scratch bytes the fast path
   needs (0: use the per-plane path). Scratch holds one row pointer per
   (input channel, kh) and, when padding is needed, zero-padded copies of
   those rows covering every tap of the output row. */
#define OB 4
#define WB 8
static int plan(size_t group, nnbrt_geom *g, size_t *cg, size_t *wp, int *direct)
{
    if (g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 && g->PW == 0) {
        g->IW = g->OW = g->IH * g->IW; /* same size: OH == IH, OW == IW */
        g->IH = g->OH = 1;
    }
    if (g->OW < WB) return 0;
    *cg = (size_t)g->C / group;
    *wp = (size_t)(g->OW - 1) * (size_t)g->SW + (size_t)(g->KW - 1) * (size_t)g->DW + 1;
    *direct = g->PW == 0 && *wp <= (size_t)g->IW;
    return 1;
}

/* Scratch bytes; SIZE_MAX when the product overflows (rejected by the loader). */
size_t nnbrt_conv_scratch(size_t group, const nnbrt_geom *g0)
{
    size_t cg, wp, rows, ptr_bytes, pad_bytes = 0;
    nnbrt_geom gg = *g0, *g = &gg;
    int direct;
    if (!plan(group, g, &cg, &wp, &direct)) return 0;
    rows = cg * (size_t)g->KH; /* <= weight elements, which live in the image */
    if (rows > (SIZE_MAX / 2) / sizeof(float *)) return SIZE_MAX;
    ptr_bytes = (rows * sizeof(float *) + 63u) & ~(size_t)63u;
    if (!direct) {
        if (wp > (SIZE_MAX / 4) / sizeof(float) / rows) return SIZE_MAX;
        pad_bytes = rows * wp * sizeof(float);
    }
    return ptr_bytes + pad_bytes;
}

#ifdef NNBRT_REFERENCE_KERNELS
/* Plain reference loops. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    long n, oc, ic, oh, ow, kh, kw;
    long group = a->a[4].i, cg, ocg;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    cg = g.C / group;
    ocg = g.OC / group;
    for (n = 0; n < (long)g.outer; ++n)
        for (oc = 0; oc < g.OC; ++oc)
            for (oh = 0; oh < g.OH; ++oh)
                for (ow = 0; ow < g.OW; ++ow) {
                    float acc = nin == 3 ? in[2].data[oc] : 0.0f;
                    for (ic = 0; ic < cg; ++ic)
                        for (kh = 0; kh < g.KH; ++kh)
                            for (kw = 0; kw < g.KW; ++kw) {
                                long ih = oh * g.SH - g.PH + kh * g.DH;
                                long iw = ow * g.SW - g.PW + kw * g.DW;
                                long c = (oc / ocg) * cg + ic;
                                if (ih < 0 || ih >= g.IH || iw < 0 || iw >= g.IW) continue;
                                acc += in[0].data[((n * g.C + c) * g.IH + ih) * g.IW + iw] *
                                       in[1].data[((oc * cg + ic) * g.KH + kh) * g.KW + kw];
                            }
                    out[0].data[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] = acc;
                }
}
#else
/* Fast form: register-blocked direct convolution. For each output row the
   rows of every (input channel, kh) are made available (in place, or
   zero-padded in scratch), then a tile of OB output channels x WB output
   columns is accumulated in registers over all taps; the fixed-size inner
   loops are unit-stride for stride 1 and vectorise. The last tile of a row
   overlaps its predecessor instead of running short. */
typedef struct {
    const nnbrt_geom *g;
    const float *const *rows; /* [cg*KH] row pointers, NULL = row outside input */
    size_t nrows, wsoc;
} conv_ctx;

#define DEFINE_TILE(NAME, NB, SW)                                                             \
    static void NAME(const conv_ctx *c, const float *w, long ow0, long sw_, float out[OB][WB]) \
    {                                                                                         \
        const long KW = c->g->KW, DW = c->g->DW, KH = c->g->KH, sw = (SW) ? (SW) : sw_;        \
        float acc[NB][WB];                                                                    \
        size_t r;                                                                             \
        long kw;                                                                              \
        int b, j;                                                                             \
        for (b = 0; b < NB; ++b)                                                              \
            for (j = 0; j < WB; ++j) acc[b][j] = 0.0f;                                        \
        for (r = 0; r < c->nrows; ++r) {                                                      \
            const float *xr = c->rows[r], *wk;                                                \
            if (!xr) continue;                                                                \
            xr += ow0 * sw;                                                                   \
            wk = w + r * (size_t)KW;                                                          \
            for (kw = 0; kw < KW; ++kw) {                                                     \
                const float *xs = xr + kw * DW;                                               \
                float xv[WB];                                                                 \
                for (j = 0; j < WB; ++j) xv[j] = xs[j * sw];                                  \
                for (b = 0; b < NB; ++b) {                                                    \
                    const float wv = wk[(size_t)b * c->wsoc + (size_t)kw];                    \
                    for (j = 0; j < WB; ++j) acc[b][j] += wv * xv[j];                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        (void)KH;                                                                             \
        for (b = 0; b < NB; ++b)                                                              \
            for (j = 0; j < WB; ++j) out[b][j] = acc[b][j];                                   \
    }

DEFINE_TILE(tile4_s1, OB, 1)
DEFINE_TILE(tile1_s1, 1, 1)
DEFINE_TILE(tile4_sn, OB, 0)
DEFINE_TILE(tile1_sn, 1, 0)

/* Per-plane form (narrow outputs): per output channel, accumulate each
   (input channel, tap) over contiguous output rows. */
static void run_planes(size_t group, int nin, const nnbrt_tensor *in,
                       const nnbrt_tensor *out, const nnbrt_geom *g)
{
    size_t n, oc, ic, k, plane_in, plane_out, ksz;
    size_t cg, ocg;
    cg = (size_t)g->C / group;
    ocg = (size_t)g->OC / group;
    plane_in = (size_t)g->IH * (size_t)g->IW;
    plane_out = (size_t)g->OH * (size_t)g->OW;
    ksz = (size_t)g->KH * (size_t)g->KW;
    for (n = 0; n < g->outer; ++n) {
        for (oc = 0; oc < (size_t)g->OC; ++oc) {
            float *y = out[0].data + (n * (size_t)g->OC + oc) * plane_out;
            const float bv = nin == 3 ? in[2].data[oc] : 0.0f;
            const size_t c0 = (oc / ocg) * cg;
            for (k = 0; k < plane_out; ++k) y[k] = bv;
            for (ic = 0; ic < cg; ++ic)
                nnbrt_conv_plane(in[0].data + (n * (size_t)g->C + c0 + ic) * plane_in,
                                 in[1].data + (oc * cg + ic) * ksz, y, g);
        }
    }
}

void nnbrt_conv_forward(size_t group, float *scratch, int nin, const nnbrt_tensor *in,
                        const nnbrt_tensor *out, const nnbrt_geom *g0)
{
    nnbrt_geom g = *g0;
    conv_ctx c;
    size_t n, grp, ocg, cg, wp, plane_in, plane_out, r;
    const float **rows;
    float *pad;
    int direct;
    long oh;
    if (!plan(group, &g, &cg, &wp, &direct)) {
        run_planes(group, nin, in, out, g0);
        return;
    }
    rows = (const float **)(void *)scratch;
    pad = scratch + ((cg * (size_t)g.KH * sizeof(float *) + 63u) & ~(size_t)63u) / sizeof(float);
    c.g = &g;
    c.rows = rows;
    c.nrows = cg * (size_t)g.KH;
    c.wsoc = cg * (size_t)g.KH * (size_t)g.KW;
    ocg = (size_t)g.OC / group;
    plane_in = (size_t)g.IH * (size_t)g.IW;
    plane_out = (size_t)g.OH * (size_t)g.OW;
    for (n = 0; n < g.outer; ++n) {
        for (grp = 0; grp < group; ++grp) {
            const float *x = in[0].data + (n * (size_t)g.C + grp * cg) * plane_in;
            for (oh = 0; oh < g.OH; ++oh) {
                size_t oc = grp * ocg, oc_end = (grp + 1) * ocg;
                /* rows for this output row */
                for (r = 0; r < c.nrows; ++r) {
                    const size_t ic = r / (size_t)g.KH;
                    const long kh = (long)(r % (size_t)g.KH);
                    const long ih = oh * g.SH - g.PH + kh * g.DH;
                    const float *src = x + ic * plane_in + ih * g.IW;
                    if (ih < 0 || ih >= g.IH) {
                        rows[r] = NULL;
                    } else if (direct) {
                        rows[r] = src;
                    } else {
                        float *d = pad + r * wp;
                        size_t p;
                        for (p = 0; p < wp; ++p) {
                            const long iw = (long)p - g.PW;
                            d[p] = (iw >= 0 && iw < g.IW) ? src[iw] : 0.0f;
                        }
                        rows[r] = d;
                    }
                }
                while (oc < oc_end) {
                    const int nb = oc + OB <= oc_end ? OB : 1;
                    const float *w = in[1].data + oc * c.wsoc;
                    float *yr = out[0].data + (n * (size_t)g.OC + oc) * plane_out + (size_t)oh * (size_t)g.OW;
                    float bias[OB] = {0.0f, 0.0f, 0.0f, 0.0f};
                    long ow = 0;
                    int b, j;
                    if (nin == 3)
                        for (b = 0; b < nb; ++b) bias[b] = in[2].data[oc + (size_t)b];
                    while (ow < g.OW) {
                        float acc[OB][WB];
                        if (ow + WB > g.OW) ow = g.OW - WB;
                        if (nb == OB) {
                            if (g.SW == 1) tile4_s1(&c, w, ow, 1, acc);
                            else tile4_sn(&c, w, ow, g.SW, acc);
                        } else {
                            if (g.SW == 1) tile1_s1(&c, w, ow, 1, acc);
                            else tile1_sn(&c, w, ow, g.SW, acc);
                        }
                        for (b = 0; b < nb; ++b)
                            for (j = 0; j < WB; ++j)
                                yr[(size_t)b * plane_out + (size_t)(ow + j)] = acc[b][j] + bias[b];
                        ow += WB;
                    }
                    oc += (size_t)nb;
                }
            }
        }
    }
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    nnbrt_conv_forward((size_t)a->a[4].i, a->scratch, nin, in, out, &g);
}
#endif

const nnbrt_kernel nnbrt_k_convolution = {"Convolution", "iiIiIiIiB", 2, 3, 1, 1, check, run};
