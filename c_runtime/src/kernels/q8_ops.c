/* The int8 records of extended NNB files (ids 1001-1011, docs/nnb_format.md "int8 models"): checks
 * of every type, shape, argument and integer constant, and thin glue onto the nnb_i8_* kernels of
 * kernels/int8/ (bit-exact with nnb/quantize/int_sim.py). int8 tensors (type 6) hold int8 values in
 * the arena or the image, int32 parameters (type 7) biases, multipliers and shifts. The checks bound
 * every constant so that no int32 accumulator of a kernel can overflow on any file. */
#include "../internal.h"

/* Compiled with NNBRT_INT8 (c_runtime/Makefile, firmware builds) together with the kernels of kernels/int8/; a
   build without them has no int8 records (NNBRT_E_UNSUPPORTED_FUNCTION for ids 1001-1011). */
#ifdef NNBRT_INT8
#include "int8/nnb_int8.h"
#include "int8/i8_host.h"
#include "int8/conv_pool.h"


#define Q8 NNBRT_TYPE_Q8
#define I32 NNBRT_TYPE_I32
#define MAX_TAPS 33000 /* 255 * 127 * taps + 2^30 < 2^31 */
#define MAX_BIAS (1 << 30)

static const int8_t *in8(const nnbrt_tensor *t) { return (const int8_t *)(const void *)t->data; }
static int8_t *out8(const nnbrt_tensor *t) { return (int8_t *)(void *)t->data; }
static const int32_t *in32(const nnbrt_tensor *t) { return (const int32_t *)(const void *)t->data; }

static int is_q8(const nnbrt_tensor *t) { return t->type == Q8 && t->nscale >= 1 && t->scale; }

/* An int32 parameter of n values, each in [lo, hi] (read in place: parameters are in the image). */
static int i32_ok(const nnbrt_tensor *t, size_t n, int64_t lo, int64_t hi)
{
    size_t k;
    const int32_t *p = in32(t);
    if (t->type != I32 || t->size != n || !p) return 0;
    for (k = 0; k < n; ++k) {
        int32_t v;
        memcpy(&v, p + k, 4);
        if (v < lo || v > hi) return 0;
    }
    return 1;
}

/* Multipliers in [0, 2^31) and shifts in [-31, max_shift] (requantize's domain). */
static int requant_ok(const nnbrt_tensor *m, const nnbrt_tensor *s, size_t n, int32_t max_shift)
{
    return i32_ok(m, n, 0, INT32_MAX) && i32_ok(s, n, -31, max_shift);
}

static int clamp_ok(const nnbrt_args *a, int first)
{
    const int32_t act = a->a[first].i, lo = a->a[first + 1].i, hi = a->a[first + 2].i;
    return act >= 0 && act <= 2 && lo >= -128 && lo <= hi && hi <= 127;
}

static int8_t sat8(int32_t v, int32_t lo, int32_t hi) { return (int8_t)(v < lo ? lo : v > hi ? hi : v); }

/* ---- 1001 Q8Quantize (x, thresholds[255]), 1002 Q8Dequantize (x, table[256]) ----
   The writer computes both from the tensor's float64 scale and zero point exactly as numpy does
   (nnb/emit/nnb_int8_layout.py), so the runtime needs float32 compares and a look-up only, no double:
   quantize(x) = -128 + #{k : x >= t[k]} (t non-decreasing; NaN gives -128), dequantize(q) = table[q + 128]. */

/* A float parameter of n values; thresholds: no NaN, non-decreasing. */
static int table_ok(const nnbrt_tensor *t, size_t n, int sorted)
{
    size_t k;
    if (t->type != 0 || t->size != n || !t->data) return 0;
    for (k = 0; k < n; ++k) {
        if (t->data[k] != t->data[k]) return 0;
        if (sorted && k && !(t->data[k] >= t->data[k - 1])) return 0;
    }
    return 1;
}

static nnbrt_status check_quantize(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                   const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)a; (void)nin; (void)nout;
    if (in[0].type != 0 || !is_q8(&out[0]) || out[0].nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].size != out[0].size) return NNBRT_E_SHAPE_MISMATCH;
    if (!table_ok(&in[1], 255, 1)) return NNBRT_E_BAD_QUANT;
    w->work = out[0].size * 8u;
    return NNBRT_OK;
}

static void run_quantize(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    const float *x = in[0].data, *t = in[1].data;
    int8_t *y = out8(&out[0]);
    float inv;
    size_t k;
    (void)a; (void)nin; (void)nout;
#if NNB_I8_X86
    if (nnb_i8_x86_quantize(out[0].size, x, t, y)) return;
#endif
    inv = nnb_i8_qinv(t); /* an estimate and a check per value: no binary search (i8_host.h) */
    for (k = 0; k < out[0].size; ++k) y[k] = nnb_i8_quantize1(x[k], t, inv);
}

static nnbrt_status check_dequantize(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                     const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)a; (void)nin; (void)nout;
    if (!is_q8(&in[0]) || in[0].nscale != 1 || out[0].type != 0) return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].size != out[0].size) return NNBRT_E_SHAPE_MISMATCH;
    if (!table_ok(&in[1], 256, 0)) return NNBRT_E_BAD_QUANT;
    w->work = out[0].size;
    return NNBRT_OK;
}

static void run_dequantize(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                           const nnbrt_tensor *out)
{
    const int8_t *x = in8(&in[0]);
    const float *t = in[1].data;
    float *y = out[0].data;
    size_t k;
    (void)a; (void)nin; (void)nout;
    for (k = 0; k < out[0].size; ++k) y[k] = t[(int32_t)x[k] + 128];
}

/* ---- geometry helpers ---- */

static size_t prod(const int32_t *d, int from, int to)
{
    size_t n = 1;
    int k;
    for (k = from; k < to; ++k) n *= (size_t)d[k];
    return n;
}

/* One window dimension's output size (nnb_int8.h): padding, dilation and pool kernels up to 2^24. */
#define GEOM_LIM (1 << 24)

/* Pool parameters of x over its last nsp (1 or 2) dims; checked against y. */
static nnbrt_status pool_geom(const nnbrt_tensor *x, const nnbrt_tensor *y, const nnbrt_arg *kern,
                              const nnbrt_arg *stride, const nnbrt_arg *pad, int ib, nnb_i8_pool_params *p)
{
    const int nsp = kern->count, first = x->ndim - nsp;
    int k;
    int32_t o[2];
    if (nsp < 1 || nsp > 2 || first < 0 || stride->count != nsp || pad->count != nsp) return NNBRT_E_BAD_ARGUMENT;
    if (y->ndim != x->ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (k = 0; k < first; ++k)
        if (y->dims[k] != x->dims[k]) return NNBRT_E_SHAPE_MISMATCH;
    for (k = 0; k < nsp; ++k) {
        o[k] = nnb_i8_pool_out(x->dims[first + k], kern->list[k], stride->list[k], pad->list[k], ib, GEOM_LIM);
        if (o[k] < 1) return NNBRT_E_BAD_ARGUMENT;
        if (y->dims[first + k] != o[k]) return NNBRT_E_SHAPE_MISMATCH;
    }
    memset(p, 0, sizeof *p);
    p->n = (int32_t)prod(x->dims, 0, first);
    p->c = 1;
    p->h = nsp == 2 ? x->dims[first] : 1;
    p->w = x->dims[x->ndim - 1];
    if (nnb_i8_pool_window(p, nsp, o, kern->list, stride->list, pad->list)) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    return NNBRT_OK;
}

/* ---- 1003 Q8Conv ---- */

/* A convolution with a max pool (int8/conv_pool.c): on the portable and Cortex-M paths the convolution rows one
   pooled row reads, every channel, pooled at once; on x86-64 levels with their own forms, blocks of output
   channels of a sample (at most NNBRT_Q8_POOL_SCRATCH bytes of convolution output). The unpooled output is
   never whole. */

enum { C_BA, C_PAD, C_STRIDE, C_DIL, C_GROUP, C_POOL, C_PK, C_PS, C_PP, C_PIB, C_RES, C_ACT };

/* Convolution parameters and (pool) pooled geometry of a Q8Conv record; scratch bytes. chk 0 (run time, the
   record checked at load): the int32 parameters' values are not checked again. */
static nnbrt_status conv_geom(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                              nnb_i8_conv_params *p, nnb_i8_pool_params *pp, size_t *scratch, int chk)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1], *y = &out[0];
    const int ba = a->a[C_BA].i, res = a->a[C_RES].i, pool = a->a[C_POOL].i;
    int nsp, k;
    int32_t o[2];
    size_t n, conv_bytes = 0;
    if (!is_q8(x) || !is_q8(w) || !is_q8(y) || !w->data || w->zero != 0) return NNBRT_E_UNSUPPORTED_TYPE;
    if (x->nscale != 1 || y->nscale != 1) return NNBRT_E_BAD_QUANT;
    if ((res != 0 && res != 1) || nin != (res ? 7 : 5) || pool < 0 || pool > 1 || (pool && res))
        return NNBRT_E_BAD_ARGUMENT;
    if (!clamp_ok(a, C_ACT)) return NNBRT_E_BAD_ARGUMENT;
    nsp = w->ndim - 2;
    if (nsp < 1 || nsp > 2 || ba < 0 || ba != x->ndim - 1 - nsp) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (a->a[C_PAD].count != nsp || a->a[C_STRIDE].count != nsp || a->a[C_DIL].count != nsp)
        return NNBRT_E_BAD_ARGUMENT;
    memset(p, 0, sizeof *p);
    n = prod(x->dims, 0, ba);
    p->n = (int32_t)n;
    p->c = x->dims[ba];
    p->h = nsp == 2 ? x->dims[ba + 1] : 1;
    p->w = x->dims[x->ndim - 1];
    p->o = w->dims[0];
    p->kh = nsp == 2 ? w->dims[2] : 1;
    p->kw = w->dims[w->ndim - 1];
    p->group = a->a[C_GROUP].i;
    if (p->group < 1 || p->c % p->group || p->o % p->group || w->dims[1] != p->c / p->group)
        return NNBRT_E_SHAPE_MISMATCH;
    if ((uint64_t)w->dims[1] * (uint64_t)p->kh * (uint64_t)p->kw > MAX_TAPS) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    for (k = 0; k < nsp; ++k) {
        const int ax = nsp == 2 ? k : 1;
        const int32_t pd = a->a[C_PAD].list[k], s = a->a[C_STRIDE].list[k], d = a->a[C_DIL].list[k];
        o[k] = nnb_i8_conv_out(x->dims[ba + 1 + k], w->dims[2 + k], pd, s, d, GEOM_LIM);
        if (o[k] < 1) return NNBRT_E_BAD_ARGUMENT;
        if (ax == 0) {
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
    p->act_min = a->a[C_ACT + 1].i;
    p->act_max = a->a[C_ACT + 2].i;
    if (chk && (!i32_ok(&in[2], (size_t)p->o, -MAX_BIAS, MAX_BIAS) || !requant_ok(&in[3], &in[4], (size_t)p->o, 30)))
        return NNBRT_E_BAD_ARGUMENT;
    if (n * (size_t)p->o * (size_t)p->oh * (size_t)p->ow > (size_t)0x7fffffff) return NNBRT_E_SHAPE_MISMATCH;
    if (res && !chk) {
        p->res_zero = in[5].zero;
    } else if (res) {
        const nnbrt_tensor *r = &in[5];
        nnbrt_tensor rq;
        if (!is_q8(r) || r->nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
        if (r->size != y->size) return NNBRT_E_SHAPE_MISMATCH;
        /* res_rq: the residual's multipliers then its shifts, O each */
        if (in[6].type != I32 || in[6].size != 2u * (size_t)p->o || !in[6].data) return NNBRT_E_BAD_ARGUMENT;
        rq = in[6];
        rq.size = (size_t)p->o;
        if (!i32_ok(&rq, (size_t)p->o, 0, INT32_MAX)) return NNBRT_E_BAD_ARGUMENT;
        rq.data = (float *)(void *)((int32_t *)(void *)in[6].data + p->o);
        if (!i32_ok(&rq, (size_t)p->o, -31, 20)) return NNBRT_E_BAD_ARGUMENT;
        p->res_zero = r->zero;
    }
    if (pool) {
        /* the pooled output of the (N, O, OH, OW) convolution output, held in scratch */
        nnbrt_tensor conv = *y;
        int32_t cd[NNBRT_MAX_NDIM];
        nnbrt_status st;
        if (y->ndim != x->ndim) return NNBRT_E_SHAPE_MISMATCH;
        memcpy(cd, x->dims, sizeof(int32_t) * (size_t)ba);
        cd[ba] = p->o;
        for (k = 0; k < nsp; ++k) cd[ba + 1 + k] = o[k];
        conv.dims = cd;
        if (a->a[C_PK].count != nsp) return NNBRT_E_BAD_ARGUMENT;
        st = pool_geom(&conv, y, &a->a[C_PK], &a->a[C_PS], &a->a[C_PP], a->a[C_PIB].i != 0, pp);
        if (st != NNBRT_OK) return st;
        *scratch = nnb_i8_conv_pool_scratch(p, pp, 1);
        return *scratch ? NNBRT_OK : NNBRT_E_UNSUPPORTED_ARGUMENT;
    } else {
        if (y->ndim != x->ndim || y->dims[ba] != p->o) return NNBRT_E_SHAPE_MISMATCH;
        for (k = 0; k < ba; ++k)
            if (y->dims[k] != x->dims[k]) return NNBRT_E_SHAPE_MISMATCH;
        for (k = 0; k < nsp; ++k)
            if (y->dims[ba + 1 + k] != o[k]) return NNBRT_E_SHAPE_MISMATCH;
    }
    *scratch = conv_bytes + 2u * nnb_i8_conv_scratch_run(p) + 4u;
    return NNBRT_OK;
}

static nnbrt_status check_conv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *w)
{
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    size_t scratch = 0;
    nnbrt_status st = conv_geom(a, nin, in, out, &p, &pp, &scratch, 1);
    (void)nout;
    if (st != NNBRT_OK) return st;
    w->work = (uint64_t)p.n * (uint64_t)p.o * (uint64_t)p.oh * (uint64_t)p.ow * (uint64_t)in[1].dims[1] *
              (uint64_t)p.kh * (uint64_t)p.kw;
    w->scratch = scratch;
    return NNBRT_OK;
}

/* Convolution + max pool (int8/conv_pool.c) */
static void run_conv_pool(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, const nnbrt_tensor *in,
                          const nnbrt_tensor *out, uint8_t *s, size_t scratch)
{
    (void)nnb_i8_conv_pool(p, pp, in8(&in[0]), in8(&in[1]), in32(&in[2]), in32(&in[3]), in32(&in[4]), out8(&out[0]),
                           s, scratch);
}

static void run_conv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    size_t scratch = 0;
    uint8_t *s = (uint8_t *)(void *)a->scratch;
    const int res = a->a[C_RES].i;
    (void)nout;
    memset(&p, 0, sizeof p);
    memset(&pp, 0, sizeof pp);
    (void)conv_geom(a, nin, in, out, &p, &pp, &scratch, 0); /* checked at load */
    if (a->a[C_POOL].i) {
        run_conv_pool(&p, &pp, in, out, s, scratch);
        return;
    }
    (void)nnb_i8_conv2d(&p, in8(&in[0]), in8(&in[1]), in32(&in[2]), in32(&in[3]), in32(&in[4]),
                        res ? in8(&in[5]) : NULL, res ? in32(&in[6]) : NULL, res ? in32(&in[6]) + p.o : NULL,
                        out8(&out[0]), (int16_t *)(void *)s, (scratch - 4u) / 2u);
}

/* ---- 1004 Q8Affine ---- */

static nnbrt_status affine_geom(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                                size_t *n, size_t *k, size_t *o, int chk)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1], *y = &out[0];
    const int ba = a->a[0].i;
    if (!is_q8(x) || !is_q8(w) || !is_q8(y) || !w->data || w->zero != 0) return NNBRT_E_UNSUPPORTED_TYPE;
    if (x->nscale != 1 || y->nscale != 1) return NNBRT_E_BAD_QUANT;
    if (!clamp_ok(a, 1)) return NNBRT_E_BAD_ARGUMENT;
    if (ba < 0 || ba >= x->ndim || w->ndim < 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    *n = prod(x->dims, 0, ba);
    *k = prod(x->dims, ba, x->ndim);
    *o = prod(w->dims, 1, w->ndim);
    if ((size_t)w->dims[0] != *k || y->size != *n * *o) return NNBRT_E_SHAPE_MISMATCH;
    if (*k > MAX_TAPS) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (chk && (!i32_ok(&in[2], *o, -MAX_BIAS, MAX_BIAS) || !requant_ok(&in[3], &in[4], *o, 30)))
        return NNBRT_E_BAD_ARGUMENT;
    return NNBRT_OK;
}

static nnbrt_status check_affine(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                 const nnbrt_tensor *out, nnbrt_cost *w)
{
    size_t n, k, o;
    nnbrt_status st = affine_geom(a, in, out, &n, &k, &o, 1);
    (void)nin; (void)nout;
    if (st != NNBRT_OK) return st;
    w->work = (uint64_t)n * k * o;
    return NNBRT_OK;
}

static void run_affine(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    size_t n = 0, k = 0, o = 0;
    (void)nin; (void)nout;
    (void)affine_geom(a, in, out, &n, &k, &o, 0); /* checked at load */
    (void)nnb_i8_affine((int32_t)n, (int32_t)k, (int32_t)o, in8(&in[0]), in[0].zero, in8(&in[1]), in32(&in[2]),
                        in32(&in[3]), in32(&in[4]), out[0].zero, a->a[2].i, a->a[3].i, out8(&out[0]));
}

/* ---- 1005 Q8MaxPool, 1006 Q8AvgPool: kernel, stride, ignore_border, pad [, including_pad] ---- */

static nnbrt_status pool_check(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                               nnb_i8_pool_params *p)
{
    if (!is_q8(&in[0]) || !is_q8(&out[0]) || in[0].nscale != 1 || out[0].nscale != 1)
        return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].zero != out[0].zero) return NNBRT_E_BAD_QUANT; /* the output keeps the input's grid */
    if (pool_geom(&in[0], &out[0], &a->a[0], &a->a[1], &a->a[3], a->a[2].i != 0, p) != NNBRT_OK)
        return pool_geom(&in[0], &out[0], &a->a[0], &a->a[1], &a->a[3], a->a[2].i != 0, p);
    p->including_pad = a->n > 4 ? (a->a[4].i != 0) : 1;
    return NNBRT_OK;
}

static nnbrt_status check_pool(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *w)
{
    nnb_i8_pool_params p;
    nnbrt_status st = pool_check(a, in, out, &p);
    (void)nin; (void)nout;
    if (st != NNBRT_OK) return st;
    w->work = (uint64_t)out[0].size * (uint64_t)p.kh * (uint64_t)p.kw;
    return NNBRT_OK;
}

static void run_max_pool(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    nnb_i8_pool_params p;
    (void)nin; (void)nout;
    memset(&p, 0, sizeof p);
    (void)pool_check(a, in, out, &p);
    (void)nnb_i8_max_pool2d(&p, in8(&in[0]), out8(&out[0]));
}

static void run_avg_pool(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    nnb_i8_pool_params p;
    (void)nin; (void)nout;
    memset(&p, 0, sizeof p);
    (void)pool_check(a, in, out, &p);
    (void)nnb_i8_avg_pool2d(&p, in8(&in[0]), in[0].zero, out8(&out[0]));
}

/* ---- 1007 Q8GlobalAvgPool: x (N, C, spatial...), mult[1], shift[1] ---- */

static nnbrt_status check_gap(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                              const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)a; (void)nin; (void)nout;
    if (!is_q8(&in[0]) || !is_q8(&out[0]) || in[0].nscale != 1 || out[0].nscale != 1)
        return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].ndim < 2 || out[0].size != (size_t)in[0].dims[0] * (size_t)in[0].dims[1])
        return NNBRT_E_SHAPE_MISMATCH;
    if (prod(in[0].dims, 2, in[0].ndim) > (size_t)1 << 23) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (!requant_ok(&in[1], &in[2], 1, 30)) return NNBRT_E_BAD_ARGUMENT;
    w->work = in[0].size;
    return NNBRT_OK;
}

static void run_gap(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    (void)a; (void)nin; (void)nout;
    (void)nnb_i8_global_avg_pool(in[0].dims[0], in[0].dims[1], (int32_t)prod(in[0].dims, 2, in[0].ndim),
                                 in8(&in[0]), in[0].zero, in32(&in[1])[0], in32(&in[2])[0], out[0].zero,
                                 out8(&out[0]));
}

/* ---- 1008 Q8Add, 1009 Q8Mul: a, b (same size), mult, shift; activation, act_min, act_max ---- */

static nnbrt_status check_eltwise(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out,
                                  size_t nconst, nnbrt_cost *w)
{
    int k;
    for (k = 0; k < 2; ++k)
        if (!is_q8(&in[k]) || in[k].nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
    if (!is_q8(&out[0]) || out[0].nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].size != out[0].size || in[1].size != out[0].size) return NNBRT_E_SHAPE_MISMATCH;
    if (!clamp_ok(a, 0) || !requant_ok(&in[2], &in[3], nconst, 30)) return NNBRT_E_BAD_ARGUMENT;
    if (nconst == 3 && !i32_ok(&in[3], 3, -31, 30)) return NNBRT_E_BAD_ARGUMENT;
    if (nconst == 3 && (in32(&in[3])[0] > 0 || in32(&in[3])[1] > 0)) return NNBRT_E_BAD_ARGUMENT;
    w->work = out[0].size;
    return NNBRT_OK;
}

static nnbrt_status check_add(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                              const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)nin; (void)nout;
    return check_eltwise(a, in, out, 3, w);
}

static nnbrt_status check_mul(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                              const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)nin; (void)nout;
    return check_eltwise(a, in, out, 1, w);
}

static void run_add(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    (void)nnb_i8_add(out[0].size, in8(&in[0]), in[0].zero, in8(&in[1]), in[1].zero, in32(&in[2]), in32(&in[3]),
                     out[0].zero, a->a[1].i, a->a[2].i, out8(&out[0]));
}

static void run_mul(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    (void)nnb_i8_mul(out[0].size, in8(&in[0]), in[0].zero, in8(&in[1]), in[1].zero, in32(&in[2])[0],
                     in32(&in[3])[0], out[0].zero, a->a[1].i, a->a[2].i, out8(&out[0]));
}

/* ---- 1010 Q8Concat: x_1 .. x_n, mult[n], shift[n]; axis ---- */

static nnbrt_status check_concat(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                 const nnbrt_tensor *out, nnbrt_cost *w)
{
    const nnbrt_tensor *y = &out[0];
    const int n = nin - 2, axis = a->a[0].i;
    int k, d;
    int64_t total = 0;
    (void)nout;
    if (n < 1) return NNBRT_E_BAD_IO_COUNT;
    if (!is_q8(y) || y->nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
    if (axis < 0 || axis >= y->ndim) return NNBRT_E_BAD_ARGUMENT;
    for (k = 0; k < n; ++k) {
        const nnbrt_tensor *x = &in[k];
        if (!is_q8(x) || x->nscale != 1) return NNBRT_E_UNSUPPORTED_TYPE;
        if (x->ndim != y->ndim) return NNBRT_E_SHAPE_MISMATCH;
        for (d = 0; d < y->ndim; ++d)
            if (d != axis && x->dims[d] != y->dims[d]) return NNBRT_E_SHAPE_MISMATCH;
        total += x->dims[axis];
    }
    if (total != y->dims[axis]) return NNBRT_E_SHAPE_MISMATCH;
    if (!requant_ok(&in[n], &in[n + 1], (size_t)n, 30)) return NNBRT_E_BAD_ARGUMENT;
    w->work = y->size;
    return NNBRT_OK;
}

static void run_concat(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    const int n = nin - 2, axis = a->a[0].i;
    const size_t outer = prod(out[0].dims, 0, axis);
    const int32_t *m = in32(&in[n]), *s = in32(&in[n + 1]);
    int8_t *y = out8(&out[0]);
    size_t o;
    int k;
    (void)nout;
    for (o = 0; o < outer; ++o)
        for (k = 0; k < n; ++k) {
            const size_t inner = prod(in[k].dims, axis, in[k].ndim);
            (void)nnb_i8_rescale(inner, in8(&in[k]) + o * inner, in[k].zero, m[k], s[k], out[0].zero, y);
            y += inner;
        }
}

/* ---- 1011 Q8Clamp: op (Identity, ReLU, ReLU6, Reshape), activation, act_min, act_max ---- */

static nnbrt_status check_clamp(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                const nnbrt_tensor *out, nnbrt_cost *w)
{
    (void)nin; (void)nout;
    if (!is_q8(&in[0]) || !is_q8(&out[0]) || in[0].nscale != 1 || out[0].nscale != 1)
        return NNBRT_E_UNSUPPORTED_TYPE;
    if (in[0].size != out[0].size) return NNBRT_E_SHAPE_MISMATCH;
    if (a->a[0].i < 0 || a->a[0].i > 3 || !clamp_ok(a, 1)) return NNBRT_E_BAD_ARGUMENT;
    w->work = out[0].size;
    return NNBRT_OK;
}

static void run_clamp(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    const int8_t *x = in8(&in[0]);
    int8_t *y = out8(&out[0]);
    size_t k;
    (void)nin; (void)nout;
    for (k = 0; k < out[0].size; ++k) y[k] = sat8(x[k], a->a[2].i, a->a[3].i);
}

/* ---- 1014 Q8QConv (x float, thresholds[255], grid, w, bias, mult, shift): Q8Conv's arguments ----
   The network's first convolution reading the float input (nnb/emit/nnb_int8_qconv.py): nnb_i8_qconv
   (int8/conv_pool.c) quantizes the input rows one band of output rows reads (Q8Quantize's thresholds; the
   grid, a one-value int8 parameter, holds the input's scale and zero point) into scratch and convolves them
   with Q8Conv's kernels, so the int8 copy of the input is neither in the arena nor whole in scratch. Same
   integers as Q8Quantize followed by Q8Conv. */

/* The Q8Conv view of a Q8QConv record for one sample: t[0] the quantized sample (int8 on the grid, no
   storage yet), t[1..4] w, bias, mult, shift; y1 one sample's output; xd/yd hold their dims. */
static nnbrt_status qconv_view(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                               nnbrt_tensor *t, nnbrt_tensor *y1, int32_t *xd, int32_t *yd, size_t *samples, int chk)
{
    const nnbrt_tensor *x = &in[0], *g = &in[2], *y = &out[0];
    const int ba = a->a[C_BA].i;
    int k;
    if (nin != 7 || a->a[C_RES].i != 0) return NNBRT_E_BAD_ARGUMENT;
    if (x->type != 0 || !is_q8(g) || g->nscale != 1 || !g->data || g->size != 1) return NNBRT_E_UNSUPPORTED_TYPE;
    if (chk && !table_ok(&in[1], 255, 1)) return NNBRT_E_BAD_QUANT; /* run time: checked at load */
    if (ba < 1 || ba >= x->ndim || x->ndim > NNBRT_MAX_NDIM || y->ndim != x->ndim) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    for (k = 0; k < ba; ++k)
        if (y->dims[k] != x->dims[k]) return NNBRT_E_SHAPE_MISMATCH;
    *samples = prod(x->dims, 0, ba);
    if (*samples < 1) return NNBRT_E_SHAPE_MISMATCH;
    memcpy(xd, x->dims, sizeof(int32_t) * (size_t)x->ndim);
    memcpy(yd, y->dims, sizeof(int32_t) * (size_t)y->ndim);
    for (k = 0; k < ba; ++k) xd[k] = yd[k] = 1;
    t[0] = *x;
    t[0].type = Q8;
    t[0].dims = xd;
    t[0].size = x->size / *samples;
    t[0].data = NULL;
    t[0].zero = g->zero;
    t[0].nscale = 1;
    t[0].scale = g->scale;
    for (k = 1; k < 5; ++k) t[k] = in[k + 2];
    *y1 = *y;
    y1->dims = yd;
    y1->size = y->size / *samples;
    return NNBRT_OK;
}

static nnbrt_status check_qconv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                const nnbrt_tensor *out, nnbrt_cost *w)
{
    nnbrt_tensor t[5], y1;
    int32_t xd[NNBRT_MAX_NDIM], yd[NNBRT_MAX_NDIM];
    size_t samples = 0, scratch = 0;
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    nnbrt_status st = qconv_view(a, nin, in, out, t, &y1, xd, yd, &samples, 1);
    (void)nout;
    if (st != NNBRT_OK) return st;
    if ((st = conv_geom(a, 5, t, &y1, &p, &pp, &scratch, 1)) != NNBRT_OK) return st;
    if (samples > (size_t)0x7fffffff) return NNBRT_E_SHAPE_MISMATCH;
    p.n = (int32_t)samples;
    w->work = samples * ((uint64_t)t[0].size * 8u + (uint64_t)p.o * (uint64_t)p.oh * (uint64_t)p.ow *
                         (uint64_t)t[1].dims[1] * (uint64_t)p.kh * (uint64_t)p.kw);
    /* the input rows of one band of output rows quantized at a time (int8/conv_pool.c) */
    w->scratch = nnb_i8_qconv_scratch(&p, a->a[C_POOL].i ? &pp : NULL, 1);
    return w->scratch ? NNBRT_OK : NNBRT_E_UNSUPPORTED_ARGUMENT;
}

static void run_qconv(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    nnbrt_tensor t[5], y1;
    int32_t xd[NNBRT_MAX_NDIM], yd[NNBRT_MAX_NDIM];
    size_t samples = 0, scratch = 0;
    nnb_i8_conv_params p;
    nnb_i8_pool_params pp;
    (void)nout;
    memset(&p, 0, sizeof p);
    memset(&pp, 0, sizeof pp);
    memset(t, 0, sizeof t);
    memset(&y1, 0, sizeof y1);
    if (qconv_view(a, nin, in, out, t, &y1, xd, yd, &samples, 0) != NNBRT_OK) return; /* checked at load */
    (void)conv_geom(a, 5, t, &y1, &p, &pp, &scratch, 0);
    p.n = (int32_t)samples;
    (void)nnb_i8_qconv(&p, a->a[C_POOL].i ? &pp : NULL, in[0].data, in[1].data, in8(&in[3]), in32(&in[4]),
                       in32(&in[5]), in32(&in[6]), out8(&out[0]), a->scratch, nnb_i8_qconv_scratch(&p, a->a[C_POOL].i ? &pp : NULL, 1));
}

const nnbrt_kernel nnbrt_k_q8_quantize = {"Q8Quantize", "", 2, 2, 1, 1, check_quantize, run_quantize};
const nnbrt_kernel nnbrt_k_q8_dequantize = {"Q8Dequantize", "", 2, 2, 1, 1, check_dequantize, run_dequantize};
const nnbrt_kernel nnbrt_k_q8_conv = {"Q8Conv", "iiIiIiIiiiIiIiIBBiii", 5, 7, 1, 1, check_conv, run_conv};
const nnbrt_kernel nnbrt_k_q8_affine = {"Q8Affine", "iiii", 5, 5, 1, 1, check_affine, run_affine};
const nnbrt_kernel nnbrt_k_q8_max_pool = {"Q8MaxPool", "iIiIBiI", 1, 1, 1, 1, check_pool, run_max_pool};
const nnbrt_kernel nnbrt_k_q8_avg_pool = {"Q8AvgPool", "iIiIBiIB", 1, 1, 1, 1, check_pool, run_avg_pool};
const nnbrt_kernel nnbrt_k_q8_global_avg_pool = {"Q8GlobalAvgPool", "", 3, 3, 1, 1, check_gap, run_gap};
const nnbrt_kernel nnbrt_k_q8_add = {"Q8Add", "iii", 4, 4, 1, 1, check_add, run_add};
const nnbrt_kernel nnbrt_k_q8_mul = {"Q8Mul", "iii", 4, 4, 1, 1, check_mul, run_mul};
const nnbrt_kernel nnbrt_k_q8_concat = {"Q8Concat", "i", 3, NNBRT_MAX_FN_IO, 1, 1, check_concat, run_concat};
const nnbrt_kernel nnbrt_k_q8_clamp = {"Q8Clamp", "iiii", 1, 1, 1, 1, check_clamp, run_clamp};
const nnbrt_kernel nnbrt_k_q8_qconv = {"Q8QConv", "iiIiIiIiiiIiIiIBBiii", 7, 7, 1, 1, check_qconv, run_qconv};
#else
typedef int nnbrt_q8_ops_not_built; /* ISO C wants a declaration in every file */
#endif
