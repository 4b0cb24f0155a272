/* The LUT-Q int8 records of extended NNB files (docs/nnb_format.md "int8 models", ids 1012-1013): every type,
 * shape, argument, code and dictionary entry checked at load, glue onto nnb_i8_lutq_conv2d (lutq.c).
 *   1012 Q8LutConv (x, codes, dict, rq [, residual, res_rq]): Q8Conv's arguments, w_shape, lut_bits.
 *        codes: int32 words of the bit-packed codes, output-channel major; dict: int32 (O, K); rq: int32 (3 O),
 *        the biases, then the multipliers, then the shifts (at most 7 tensors: every check runs in
 *        nnbrt_arena_size too).
 *   1013 Q8LutAffine (x, codes, dict, rq): base_axis, activation, act_min, act_max, w_shape, lut_bits; the codes
 *        output-major (O, inputs), w_shape the float weight's (inputs, outputs...). */
#ifdef NNBRT_INT8
#include "../../internal.h"
#include "lutq.h"

#define Q8 NNBRT_TYPE_Q8
#define I32 NNBRT_TYPE_I32

static int is_q8(const nnbrt_tensor *t) { return t->type == Q8 && t->nscale == 1 && t->scale; }
static const int32_t *i32p(const nnbrt_tensor *t) { return (const int32_t *)(const void *)t->data; }

/* rq: n biases (bounded by nnb_i8_lutq_ok), n multipliers in [0, 2^31), n shifts in [-31, 30] */
static int rq_ok(const nnbrt_tensor *rq, size_t n)
{
    size_t k;
    if (rq->type != I32 || rq->size != 3u * n || !rq->data) return 0;
    for (k = 0; k < n; ++k)
        if (i32p(rq)[n + k] < 0 || i32p(rq)[2u * n + k] < -31 || i32p(rq)[2u * n + k] > 30) return 0;
    return 1;
}

static int pow2_dict(const int32_t *d, size_t n)
{
    size_t k;
    for (k = 0; k < n; ++k) {
        const uint32_t m = d[k] < 0 ? 0u - (uint32_t)d[k] : (uint32_t)d[k];
        if (m & (m - 1u) || m > (1u << 30)) return 0;
    }
    return 1;
}

/* the LUT of in[1] (codes) and in[2] (dict (O, K)) with lut_bits; 0 also when in[3] is not o channels' rq */
static int lut_of(const nnbrt_tensor *in, int32_t o, int32_t bits, nnb_i8_lut *w)
{
    const nnbrt_tensor *c = &in[1], *d = &in[2];
    if (c->type != I32 || d->type != I32 || !c->data || !d->data || d->ndim != 2 || d->dims[0] != o) return 0;
    if (!rq_ok(&in[3], (size_t)o)) return 0;
    w->codes = (const uint32_t *)(const void *)c->data;
    w->words = c->size;
    w->dict = i32p(d);
    w->k = d->dims[1];
    w->bits = bits;
    w->o_first = 0;
    w->pow2 = w->k >= 2 && w->k <= NNB_LUTQ_MAX_K ? pow2_dict(w->dict, d->size) : 0;
    return 1;
}

/* A pooled convolution computes a block of output channels of one sample at a time into scratch (at most this
   many bytes of convolution output, at least one channel; group 1), then pools it into the output, as Q8Conv. */
#ifndef NNBRT_Q8_POOL_SCRATCH
#define NNBRT_Q8_POOL_SCRATCH 4608u
#endif

static int32_t pool_block(const nnb_i8_conv_params *p)
{
    const size_t b = NNBRT_Q8_POOL_SCRATCH / ((size_t)p->oh * (size_t)p->ow);
    if (p->group != 1 || b >= (size_t)p->o) return p->o;
    return b < 1 ? 1 : (int32_t)b;
}

/* window output sizes (nnb_int8.h): padding, dilation and pool kernels up to 2^20 */
#define GEOM_LIM (1 << 20)

enum { C_BA, C_PAD, C_STRIDE, C_DIL, C_GROUP, C_POOL, C_PK, C_PS, C_PP, C_PIB, C_RES, C_ACT, C_LO, C_HI, C_WS,
       C_BITS };

/* Geometry of a Q8LutConv (2-d and 1-d), its pool, and the scratch bytes (pooled: one sample's convolution
   output first); full: also every code and dictionary entry (at load; the run skips the scan). */
static nnbrt_status conv_geom(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                              nnb_i8_conv_params *p, nnb_i8_pool_params *pp, nnb_i8_lut *w, size_t *scratch,
                              int full)
{
    const nnbrt_tensor *x = &in[0], *y = &out[0];
    const nnbrt_arg *ws = &a->a[C_WS];
    const int ba = a->a[C_BA].i, res = a->a[C_RES].i, pool = a->a[C_POOL].i;
    int nsp, k;
    int32_t o[2];
    size_t n, conv_bytes = 0;
    if (!is_q8(x) || !is_q8(y)) return NNBRT_E_UNSUPPORTED_TYPE;
    if ((res != 0 && res != 1) || nin != (res ? 6 : 4) || pool < 0 || pool > 1 || (pool && res))
        return NNBRT_E_BAD_ARGUMENT;
    nsp = ws->count - 2;
    if (nsp < 1 || nsp > 2 || ba < 0 || ba != x->ndim - 1 - nsp) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (a->a[C_PAD].count != nsp || a->a[C_STRIDE].count != nsp || a->a[C_DIL].count != nsp)
        return NNBRT_E_BAD_ARGUMENT;
    if (a->a[C_ACT].i < 0 || a->a[C_ACT].i > 2) return NNBRT_E_BAD_ARGUMENT;
    for (k = 0; k < ws->count; ++k)
        if (ws->list[k] < 1 || ws->list[k] > (1 << 24)) return NNBRT_E_BAD_ARGUMENT;
    memset(p, 0, sizeof *p);
    n = 1;
    for (k = 0; k < ba; ++k) n *= (size_t)x->dims[k];
    if (n > 0x7fffffffu) return NNBRT_E_SHAPE_MISMATCH;
    p->n = (int32_t)n;
    p->c = x->dims[ba];
    p->h = nsp == 2 ? x->dims[ba + 1] : 1;
    p->w = x->dims[x->ndim - 1];
    p->o = ws->list[0];
    p->kh = nsp == 2 ? ws->list[2] : 1;
    p->kw = ws->list[ws->count - 1];
    p->group = a->a[C_GROUP].i;
    if (p->group < 1 || p->c % p->group || p->o % p->group || ws->list[1] != p->c / p->group)
        return NNBRT_E_SHAPE_MISMATCH;
    for (k = 0; k < nsp; ++k) {
        const int32_t pd = a->a[C_PAD].list[k], s = a->a[C_STRIDE].list[k], d = a->a[C_DIL].list[k];
        o[k] = nnb_i8_conv_out(x->dims[ba + 1 + k], ws->list[2 + k], pd, s, d, GEOM_LIM);
        if (o[k] < 1) return NNBRT_E_BAD_ARGUMENT;
        if (nsp == 2 && k == 0) {
            p->pad_h = pd, p->stride_h = s, p->dil_h = d;
        } else {
            p->pad_w = pd, p->stride_w = s, p->dil_w = d;
        }
    }
    if (nsp == 1) p->stride_h = p->dil_h = 1;
    p->oh = nsp == 2 ? o[0] : 1;
    p->ow = o[nsp - 1];
    p->in_zero = x->zero;
    p->out_zero = y->zero;
    p->act_min = a->a[C_LO].i;
    p->act_max = a->a[C_HI].i;
    if (!lut_of(in, p->o, a->a[C_BITS].i, w)) return NNBRT_E_BAD_ARGUMENT;
    if (res) {
        const nnbrt_tensor *r = &in[4];
        size_t j;
        if (!is_q8(r)) return NNBRT_E_UNSUPPORTED_TYPE;
        if (r->size != y->size) return NNBRT_E_SHAPE_MISMATCH;
        if (in[5].type != I32 || in[5].size != 2u * (size_t)p->o || !in[5].data) return NNBRT_E_BAD_ARGUMENT;
        for (j = 0; j < (size_t)p->o; ++j)
            if (i32p(&in[5])[j] < 0) return NNBRT_E_BAD_ARGUMENT;
        p->res_zero = r->zero;
    }
    if (full && !nnb_i8_lutq_ok(p, w, i32p(&in[3]), res ? i32p(&in[5]) + p->o : NULL)) return NNBRT_E_BAD_QUANT;
    if (y->ndim != x->ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (k = 0; k < ba; ++k)
        if (y->dims[k] != x->dims[k]) return NNBRT_E_SHAPE_MISMATCH;
    if (y->dims[ba] != p->o) return NNBRT_E_SHAPE_MISMATCH;
    memset(pp, 0, sizeof *pp);
    if (pool) {
        const nnbrt_arg *pk = &a->a[C_PK], *ps = &a->a[C_PS], *pd = &a->a[C_PP];
        const int ib = a->a[C_PIB].i != 0;
        int32_t q[2];
        if (pk->count != nsp || ps->count != nsp || pd->count != nsp) return NNBRT_E_BAD_ARGUMENT;
        for (k = 0; k < nsp; ++k) {
            q[k] = nnb_i8_pool_out(o[k], pk->list[k], ps->list[k], pd->list[k], ib, GEOM_LIM);
            if (q[k] < 1) return NNBRT_E_BAD_ARGUMENT;
            if (y->dims[ba + 1 + k] != q[k]) return NNBRT_E_SHAPE_MISMATCH;
        }
        pp->n = p->o;
        pp->c = 1;
        pp->h = p->oh;
        pp->w = p->ow;
        if (nnb_i8_pool_window(pp, nsp, q, pk->list, ps->list, pd->list)) return NNBRT_E_UNSUPPORTED_ARGUMENT;
        conv_bytes = ((size_t)pool_block(p) * (size_t)p->oh * (size_t)p->ow + 3u) & ~(size_t)3u;
    } else {
        for (k = 0; k < nsp; ++k)
            if (y->dims[ba + 1 + k] != o[k]) return NNBRT_E_SHAPE_MISMATCH;
    }
    *scratch = conv_bytes + nnb_i8_lutq_scratch(p, w->k);
    return NNBRT_OK;
}

/* ---- 1013 Q8LutAffine: the 1x1 case ---- */

enum { A_BA, A_ACT, A_LO, A_HI, A_WS, A_BITS };

static nnbrt_status affine_geom(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                                nnb_i8_conv_params *p, nnb_i8_pool_params *pp, nnb_i8_lut *w, size_t *scratch,
                                int full)
{
    const nnbrt_tensor *x = &in[0], *y = &out[0];
    const nnbrt_arg *ws = &a->a[A_WS];
    const int ba = a->a[A_BA].i;
    size_t n = 1, kin = 1, o = 1;
    int k;
    (void)nin; (void)pp; /* 4 inputs (the table), no pool */
    if (!is_q8(x) || !is_q8(y)) return NNBRT_E_UNSUPPORTED_TYPE;
    if (a->a[A_ACT].i < 0 || a->a[A_ACT].i > 2) return NNBRT_E_BAD_ARGUMENT;
    if (ba < 0 || ba >= x->ndim || ws->count < 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    for (k = 0; k < ws->count; ++k) {
        if (ws->list[k] < 1 || ws->list[k] > (1 << 24)) return NNBRT_E_BAD_ARGUMENT;
        if (k) o *= (size_t)ws->list[k];
    }
    for (k = 0; k < x->ndim; ++k) {
        if (k < ba) n *= (size_t)x->dims[k];
        else kin *= (size_t)x->dims[k];
    }
    if ((size_t)ws->list[0] != kin || y->size != n * o || n > 0x7fffffffu || o > 0x7fffffffu)
        return NNBRT_E_SHAPE_MISMATCH;
    memset(p, 0, sizeof *p);
    p->n = (int32_t)n;
    p->c = (int32_t)kin;
    p->h = p->w = p->kh = p->kw = p->oh = p->ow = 1;
    p->o = (int32_t)o;
    p->stride_h = p->stride_w = p->dil_h = p->dil_w = p->group = 1;
    p->in_zero = x->zero;
    p->out_zero = y->zero;
    p->act_min = a->a[A_LO].i;
    p->act_max = a->a[A_HI].i;
    if (!lut_of(in, p->o, a->a[A_BITS].i, w)) return NNBRT_E_BAD_ARGUMENT;
    if (full && !nnb_i8_lutq_ok(p, w, i32p(&in[3]), NULL)) return NNBRT_E_BAD_QUANT;
    *scratch = nnb_i8_lutq_scratch(p, w->k);
    return NNBRT_OK;
}

/* ---- both records: the load check and the run, over a record's geometry ---- */

typedef nnbrt_status (*lut_geom)(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                                 nnb_i8_conv_params *p, nnb_i8_pool_params *pp, nnb_i8_lut *w, size_t *scratch,
                                 int full);

static nnbrt_status check_lut(lut_geom geom, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                              const nnbrt_tensor *out, nnbrt_cost *c)
{
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    nnb_i8_lut w;
    size_t scratch = 0;
    nnbrt_status st = geom(a, nin, in, out, &p, &pp, &w, &scratch, 1);
    if (st != NNBRT_OK) return st;
    c->work = (uint64_t)p.n * (uint64_t)p.o * (uint64_t)p.oh * (uint64_t)p.ow * (uint64_t)(p.c / p.group) *
              (uint64_t)p.kh * (uint64_t)p.kw;
    c->scratch = scratch;
    return NNBRT_OK;
}

/* pooled: the max pool after the convolution (Q8LutConv's); res: in[4] and in[5] are the residual and its rq */
static void run_lut(lut_geom geom, int pooled, int res, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                    const nnbrt_tensor *out)
{
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    nnb_i8_lut w;
    size_t scratch = 0;
    uint8_t *s = (uint8_t *)(void *)a->scratch;
    const int8_t *x = (const int8_t *)(const void *)in[0].data;
    int8_t *y = (int8_t *)(void *)out[0].data;
    const int32_t *b = i32p(&in[3]), *m, *sh;
    memset(&w, 0, sizeof w);
    if (geom(a, nin, in, out, &p, &pp, &w, &scratch, 0) != NNBRT_OK) return; /* checked at load */
    m = b + p.o;
    sh = b + 2 * p.o;
    if (pooled) {
        const int32_t block = pool_block(&p), samples = p.n, o_all = p.o;
        const size_t conv_bytes = ((size_t)block * (size_t)p.oh * (size_t)p.ow + 3u) & ~(size_t)3u;
        const size_t in_plane = (size_t)p.c * (size_t)p.h * (size_t)p.w;
        const size_t plane = (size_t)pp.oh * (size_t)pp.ow;
        int32_t nn, o0;
        p.n = 1;
        for (nn = 0; nn < samples; ++nn)
            for (o0 = 0; o0 < o_all; o0 += block) {
                p.o = o_all - o0 < block ? o_all - o0 : block;
                pp.n = p.o;
                w.o_first = o0;
                (void)nnb_i8_lutq_conv2d(&p, &w, x + (size_t)nn * in_plane, b + o0, m + o0, sh + o0, NULL, NULL,
                                         NULL, (int8_t *)s, s + conv_bytes, scratch - conv_bytes);
                (void)nnb_i8_max_pool2d(&pp, (const int8_t *)s,
                                        y + ((size_t)nn * (size_t)o_all + (size_t)o0) * plane);
            }
        return;
    }
    (void)nnb_i8_lutq_conv2d(&p, &w, x, b, m, sh, res ? (const int8_t *)(const void *)in[4].data : NULL,
                             res ? i32p(&in[5]) : NULL, res ? i32p(&in[5]) + p.o : NULL, y, s, scratch);
}

static nnbrt_status check_conv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *c)
{
    (void)nout;
    return check_lut(conv_geom, a, nin, in, out, c);
}

static void run_conv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    (void)nout;
    run_lut(conv_geom, a->a[C_POOL].i, a->a[C_RES].i, a, nin, in, out);
}

static nnbrt_status check_affine(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                 const nnbrt_tensor *out, nnbrt_cost *c)
{
    (void)nout;
    return check_lut(affine_geom, a, nin, in, out, c);
}

static void run_affine(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    (void)nout;
    run_lut(affine_geom, 0, 0, a, nin, in, out);
}

const nnbrt_kernel nnbrt_k_q8_lut_conv = {"Q8LutConv", "iiIiIiIiiiIiIiIBBiiiiIi", 4, 6, 1, 1, check_conv,
                                          run_conv};
const nnbrt_kernel nnbrt_k_q8_lut_affine = {"Q8LutAffine", "iiiiiIi", 4, 4, 1, 1, check_affine, run_affine};
#else
typedef int nnbrt_lutq_ops_not_built; /* ISO C wants a declaration in every file */
#endif
