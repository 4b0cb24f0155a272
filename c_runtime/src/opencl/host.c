/* The OpenCL host of nnbrt: a loaded network run with the kernels of the opencl/ kernels (.cl files).
 *
 * The loader has validated the NNB and laid out the arena.  To plan, the host
 * runs the network once with kernel_hook.c's recorder in place of the CPU
 * kernels: every function arrives with its decoded arguments and tensors, whose
 * data pointers lie in the arena or the image.  The device holds one float
 * buffer mirroring [arena | image | tail] (tail: folded BatchNormalization
 * constants, decoded packed weights, a scratch plane), so a pointer becomes an
 * element offset, and each function becomes launches with integer parameters
 * in the same layout as the Python host's (nnb/backends/opencl_plan.py; see
 * opencl/common.cl).  Simple kernels for every op, the register-tiled
 * convolution (conv_fast.cl) where it applies.  Everything is allocated in nnbrt_ocl_open; a run only enqueues.
 */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <sys/stat.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ocl_internal.h"
#include "nnbrt_opencl.h"

#ifndef NNBRT_OPENCL_DIR
#define NNBRT_OPENCL_DIR "opencl"
#endif
#define ALIGN_F 16 /* floats between regions */
#define MAX_IO 64

typedef struct {
    const char *kernel;
    int p;          /* first parameter in the int table */
    size_t items;   /* work items */
    int setup;      /* 0: every run; 1: unpack (two more arguments), 2: other, both once when the model loads */
} launch_t;

struct nnbrt_ocl {
    cl_context ctx;
    cl_command_queue q;
    cl_program prg;
    cl_device_id dev;
    cl_mem m, P, bad;
    char devname[128];
    int cpu; /* a CPU device: a plane / a row per work item (PoCL runs many short work items slowly) */
    char *src;
    launch_t *L;
    int nl, capl;
    cl_kernel *K;
    size_t *gsz, *lsz;
    int *ints;
    int ni, capi;
    float *tail; /* host copy of the tail region */
    size_t ntail, captail;
    size_t A, I; /* arena and image regions, floats */
    const unsigned char *arena, *image;
    size_t arena_len, image_len;
    nnbrt_net *net;
    const char *fname; /* function being recorded */
    size_t scratch, scratch_n;
    long q8pad, q8pad_n; /* int8 convolutions' zero-point-padded input: byte offset, bytes */
    int failed;
    char msg[400];
    int nin, nout;
    float *in_ptr[MAX_IO], *out_ptr[MAX_IO];
    size_t in_n[MAX_IO], out_n[MAX_IO];
    long in_off[MAX_IO], out_off[MAX_IO];
};

static nnbrt_ocl *g_rec;

static void failf(nnbrt_ocl *o, const char *fmt, ...)
{
    va_list ap;
    if (o->failed) return;
    o->failed = 1;
    va_start(ap, fmt);
    vsnprintf(o->msg, sizeof o->msg, fmt, ap);
    va_end(ap);
}

/* ---- the .cl sources and their #define codes ---- */

static const char *const cl_files[] = {"common.cl", "elementwise.cl", "array.cl", "reduce.cl", "pool.cl",
                                       "conv.cl", "conv_fast.cl", "affine.cl", "packed.cl", "q8.cl",
                                       "q8_conv.cl", "q8_affine.cl", "q8_pool.cl", "q8_eltwise.cl",
                                       "q8_lut.cl"};

static char *read_sources(nnbrt_ocl *o, const char *dir)
{
    size_t total = 0, k;
    char *all = NULL;
    for (k = 0; k < sizeof cl_files / sizeof cl_files[0]; ++k) {
        char path[1024];
        FILE *f;
        long n;
        char *grown;
        snprintf(path, sizeof path, "%s/%s", dir, cl_files[k]);
        f = fopen(path, "rb");
        if (!f) {
            failf(o, "cannot read the OpenCL kernel %s (set NNBRT_OPENCL_DIR to the opencl/ directory)", path);
            free(all);
            return NULL;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
            !(grown = (char *)realloc(all, total + (size_t)n + 2))) {
            fclose(f);
            free(all);
            failf(o, "cannot read %s", path);
            return NULL;
        }
        all = grown;
        if (fread(all + total, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            free(all);
            failf(o, "cannot read %s", path);
            return NULL;
        }
        fclose(f);
        total += (size_t)n;
        all[total++] = '\n';
        all[total] = '\0';
    }
    return all;
}

/* value of "#define NAME value" in the sources */
static int code(nnbrt_ocl *o, const char *name)
{
    const char *s = o->src;
    size_t len = strlen(name);
    while ((s = strstr(s, "#define ")) != NULL) {
        s += 8;
        if (!strncmp(s, name, len) && (s[len] == ' ' || s[len] == '\t')) return atoi(s + len);
    }
    failf(o, "the OpenCL sources define no %s", name);
    return 0;
}

/* ---- tables grown while planning ---- */

static int push_ints(nnbrt_ocl *o, const long *v, int n)
{
    int k, at = o->ni;
    if (o->ni + n > o->capi) {
        int cap = (o->capi ? o->capi * 2 : 1024) + n;
        int *g = (int *)realloc(o->ints, (size_t)cap * sizeof(int));
        if (!g) { failf(o, "out of memory"); return 0; }
        o->ints = g;
        o->capi = cap;
    }
    for (k = 0; k < n; ++k) {
        if (v[k] > 2147483647L || v[k] < -2147483647L - 1) failf(o, "%s: a size does not fit 32 bits", o->fname);
        o->ints[o->ni++] = (int)v[k];
    }
    return at;
}

static void emit(nnbrt_ocl *o, const char *kernel, const long *v, int n, size_t items, int setup)
{
    if (o->failed || items == 0) return;
    if (o->nl == o->capl) {
        int cap = o->capl ? o->capl * 2 : 64;
        launch_t *g = (launch_t *)realloc(o->L, (size_t)cap * sizeof(launch_t));
        if (!g) { failf(o, "out of memory"); return; }
        o->L = g;
        o->capl = cap;
    }
    o->L[o->nl].kernel = kernel;
    o->L[o->nl].p = push_ints(o, v, n);
    o->L[o->nl].items = items;
    o->L[o->nl].setup = setup;
    o->nl++;
}

/* floats in the tail region (zeros, or a copy of src); returns the element offset in the device buffer */
static long reserve(nnbrt_ocl *o, size_t n, const float *src)
{
    size_t need = (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F, at = o->ntail;
    if (need == 0) need = ALIGN_F;
    if (o->ntail + need > o->captail) {
        size_t cap = (o->captail ? o->captail * 2 : 4096) + need;
        float *g = (float *)realloc(o->tail, cap * sizeof(float));
        if (!g) { failf(o, "out of memory"); return 0; }
        o->tail = g;
        o->captail = cap;
    }
    memset(o->tail + at, 0, need * sizeof(float));
    if (src) memcpy(o->tail + at, src, n * sizeof(float));
    o->ntail += need;
    return (long)(o->A + o->I + at);
}

/* element offset of a pointer into the arena or the image */
static long off_of(nnbrt_ocl *o, const void *ptr)
{
    const unsigned char *p = (const unsigned char *)ptr;
    if (!p) { failf(o, "%s: a tensor has no storage", o->fname); return 0; }
    if (p >= o->arena && p < o->arena + o->arena_len) {
        if ((size_t)(p - o->arena) % 4) failf(o, "%s: misaligned tensor", o->fname);
        return (long)((size_t)(p - o->arena) / 4);
    }
    if (p >= o->image && p < o->image + o->image_len) {
        if ((size_t)(p - o->image) % 4) failf(o, "%s: misaligned parameter", o->fname);
        return (long)(o->A + (size_t)(p - o->image) / 4);
    }
    failf(o, "%s: a tensor lies outside the arena and the image", o->fname);
    return 0;
}

static void cstrides(const nnbrt_tensor *t, long *st)
{
    long s = 1;
    int d;
    for (d = t->ndim - 1; d >= 0; --d) {
        st[d] = s;
        s *= t->dims[d];
    }
}

/* strides reading `t` broadcast to out (numpy rules, right-aligned) */
static void bstrides(const nnbrt_tensor *t, const nnbrt_tensor *out, long *st)
{
    long own[NNBRT_MAX_NDIM];
    int d, lead = out->ndim - t->ndim;
    cstrides(t, own);
    for (d = 0; d < out->ndim; ++d)
        st[d] = (d < lead || t->dims[d - lead] == 1) ? 0 : own[d - lead];
}

/* ---- launches shared by several functions ---- */

#define MAXP 80

static void copy(nnbrt_ocl *o, long x, long y, int nd, const long *shape, const long *xs, const long *ys)
{
    long v[4 + 3 * NNBRT_MAX_NDIM * 2];
    long n = 1;
    int d, contiguous = 1;
    for (d = 0; d < nd; ++d) n *= shape[d];
    {
        long run = 1;
        for (d = nd - 1; d >= 0; --d) {
            if (shape[d] != 1 && (xs[d] != run || ys[d] != run)) contiguous = 0;
            run *= shape[d];
        }
    }
    if (contiguous) {
        v[0] = n; v[1] = x; v[2] = y;
        emit(o, "copy16", v, 3, (size_t)(n + 15) / 16, 0);
        return;
    }
    if (nd > 2 * NNBRT_MAX_NDIM || nd < 1) { failf(o, "%s: too many axes", o->fname); return; }
    v[0] = n; v[1] = nd; v[2] = x; v[3] = y;
    for (d = 0; d < nd; ++d) {
        v[4 + d] = shape[d];
        v[4 + nd + d] = xs[d];
        v[4 + 2 * nd + d] = ys[d];
    }
    if (o->cpu && shape[nd - 1] >= 8)
        emit(o, "copy_rows", v, 4 + 3 * nd, (size_t)(n / shape[nd - 1]), 0);
    else
        emit(o, "copy_strided", v, 4 + 3 * nd, (size_t)n, 0);
}

static void binary_at(nnbrt_ocl *o, int op, long a, long b, long y, const nnbrt_tensor *out, const long *sa,
                      const long *sb)
{
    long v[6 + 3 * NNBRT_MAX_NDIM];
    int d, nd = out->ndim;
    v[0] = op; v[1] = (long)out->size; v[2] = nd; v[3] = a; v[4] = b; v[5] = y;
    for (d = 0; d < nd; ++d) {
        v[6 + d] = out->dims[d];
        v[6 + nd + d] = sa[d];
        v[6 + 2 * nd + d] = sb[d];
    }
    emit(o, "binary", v, 6 + 3 * nd, out->size, 0);
}

static long unpack(nnbrt_ocl *o, const nnbrt_tensor *w)
{
    const nnbrt_qw *q = w->q;
    long v[7], dst = reserve(o, w->size, NULL), table;
    if (q->kind == 4) {
        table = off_of(o, q->table);
    } else {
        float step = q->step;
        table = reserve(o, 1, &step);
    }
    v[0] = (long)w->size;
    v[1] = off_of(o, q->words); /* the words sit in the same buffer: an offset in 32-bit units */
    v[2] = (long)q->bits;
    v[3] = q->kind == 4 ? code(o, "Q_LUT") : code(o, "Q_UNIFORM");
    v[4] = table;
    v[5] = q->kind == 4 ? (long)q->K : 1;
    v[6] = dst;
    emit(o, "unpack", v, 7, w->size, 1);
    return dst;
}

/* ---- one function -> launches ---- */

typedef struct { const char *fn, *code; int nargs; } unary_t;
static const unary_t unary_ops[] = {
    {"ReLU", "U_RELU", 0}, {"LeakyReLU", "U_LEAKY_RELU", 1}, {"ReLU6", "U_RELU6", 0},
    {"Sigmoid", "U_SIGMOID", 0}, {"Swish", "U_SWISH", 0}, {"Tanh", "U_TANH", 0}, {"ELU", "U_ELU", 1},
    {"SELU", "U_SELU", 2}, {"HardSigmoid", "U_HARD_SIGMOID", 0}, {"HardTanh", "U_HARD_TANH", 0},
    {"Abs", "U_ABS", 0}, {"Exp", "U_EXP", 0}, {"Log", "U_LOG", 0}, {"SoftPlus", "U_SOFT_PLUS", 1},
    {"Sign", "U_SIGN", 1}, {"AddScalar", "U_ADD_SCALAR", 1}, {"MulScalar", "U_MUL_SCALAR", 1},
    {"PowScalar", "U_POW_SCALAR", 1}, {"RSubScalar", "U_RSUB_SCALAR", 1}, {"RDivScalar", "U_RDIV_SCALAR", 1},
    {"RPowScalar", "U_RPOW_SCALAR", 1}, {"MaximumScalar", "U_MAX_SCALAR", 1},
    {"MinimumScalar", "U_MIN_SCALAR", 1}, {"SoftSign", "U_SOFT_SIGN", 0}, {"Sin", "U_SIN", 0},
    {"Cos", "U_COS", 0}, {"Tan", "U_TAN", 0}, {"Sinh", "U_SINH", 0}, {"Cosh", "U_COSH", 0},
    {"ASin", "U_ASIN", 0}, {"ACos", "U_ACOS", 0}, {"ATan", "U_ATAN", 0}, {"ASinh", "U_ASINH", 0},
    {"ACosh", "U_ACOSH", 0}, {"ATanh", "U_ATANH", 0}, {"Ceil", "U_CEIL", 0}, {"Floor", "U_FLOOR", 0},
    {"Round", "U_ROUND", 0}, {"Erf", "U_ERF", 0}, {"GELU", "U_GELU", 0}, {"LogSigmoid", "U_LOG_SIGMOID", 0},
    {"TanhShrink", "U_TANH_SHRINK", 0}, {"BinarySigmoid", "U_BINARY_SIGMOID", 0},
    {"BinaryTanh", "U_BINARY_TANH", 0},
};
typedef struct { const char *fn, *code; } binary_t;
static const binary_t binary_ops[] = {
    {"Add2", "B_ADD"}, {"BcAdd2", "B_ADD"}, {"Sub2", "B_SUB"}, {"Mul2", "B_MUL"}, {"Div2", "B_DIV"},
    {"Pow2", "B_POW"}, {"Maximum2", "B_MAX"}, {"Minimum2", "B_MIN"}, {"ATan2", "B_ATAN2"},
};

static int fbits(float f)
{
    int i;
    memcpy(&i, &f, sizeof i);
    return i;
}

static long geo(const nnbrt_arg *arg, int i, long dflt)
{
    return arg->count > i ? arg->list[i] : dflt;
}

static void plan_conv(nnbrt_ocl *o, const char *fn, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                      const nnbrt_tensor *out, long yoff)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1], *y = &out[0];
    int dw = !strcmp(fn, "DepthwiseConvolution"), fused = !strcmp(fn, "FusedConv");
    int ba = a->a[0].i, nsp = x->ndim - ba - 1, i, has_bias, res;
    long v[MAXP], xs[NNBRT_MAX_NDIM], ys[NNBRT_MAX_NDIM], wst[NNBRT_MAX_NDIM], batch = 1, cin, cout, group;
    long wo, co[3] = {1, 1, 1}, ksz[3] = {1, 1, 1}, pd[3] = {0, 0, 0}, st[3] = {1, 1, 1}, dl[3] = {1, 1, 1};
    long pk[3] = {1, 1, 1}, ps[3] = {1, 1, 1}, pp[3] = {0, 0, 0}, pool = 0, incl = 1, act = 0;
    if (nsp < 1 || nsp > 3) { failf(o, "%s: %d spatial axes (the OpenCL kernels take 1 to 3)", fn, nsp); return; }
    if (!dw && a->a[5].i) { failf(o, "%s: channel_last", fn); return; }
    for (i = 0; i < ba; ++i) batch *= x->dims[i];
    cin = x->dims[ba];
    cout = y->dims[ba];
    group = dw ? cin : a->a[4].i;
    has_bias = fused ? a->a[14].i != 0 : nin > 2;
    res = fused && a->a[13].i;
    wo = w->q ? unpack(o, w) : off_of(o, w->data);
    cstrides(x, xs);
    cstrides(y, ys);
    cstrides(w, wst);
    for (i = 0; i < nsp; ++i) {
        ksz[i] = w->dims[(dw ? 1 : 2) + i];
        pd[i] = geo(&a->a[1], i, 0);
        st[i] = geo(&a->a[2], i, 1);
        dl[i] = geo(&a->a[3], i, 1);
        co[i] = (x->dims[ba + 1 + i] + 2 * pd[i] - (dl[i] * (ksz[i] - 1) + 1)) / st[i] + 1;
    }
    if (fused && a->a[6].i) {
        int nk = a->a[7].count, lead = nsp - nk;
        if (nk < 1 || nk > nsp) { failf(o, "%s: pool kernel of %d axes", fn, nk); return; }
        pool = a->a[6].i == 1 ? code(o, "POOL_MAX") : code(o, "POOL_AVERAGE");
        incl = a->a[11].i != 0;
        for (i = 0; i < nk; ++i) {
            pk[lead + i] = a->a[7].list[i];
            ps[lead + i] = geo(&a->a[8], i, pk[lead + i]);
            pp[lead + i] = geo(&a->a[9], i, 0);
        }
    }
    if (fused) act = a->a[12].i == 1 ? code(o, "ACT_RELU") : a->a[12].i == 2 ? code(o, "ACT_RELU6") : 0;
    v[0] = (long)y->size; v[1] = off_of(o, x->data); v[2] = wo;
    v[3] = has_bias ? off_of(o, in[2].data) : -1;
    v[4] = res ? off_of(o, in[nin - 1].data) : -1;
    v[5] = yoff >= 0 ? yoff : off_of(o, y->data);
    v[6] = batch; v[7] = cin; v[8] = cout; v[9] = group;
    for (i = 0; i < 3; ++i) {
        v[10 + i] = i < nsp ? x->dims[ba + 1 + i] : 1;
        v[13 + i] = co[i]; v[16 + i] = ksz[i]; v[19 + i] = pd[i]; v[22 + i] = st[i]; v[25 + i] = dl[i];
        v[30 + i] = i < nsp ? xs[ba + 1 + i] : 0;
        v[35 + i] = i < nsp ? wst[(dw ? 1 : 2) + i] : 0;
        v[40 + i] = i < nsp ? ys[ba + 1 + i] : 0;
        v[44 + i] = i < nsp ? y->dims[ba + 1 + i] : 1;
        v[47 + i] = pk[i]; v[50 + i] = ps[i]; v[53 + i] = pp[i];
    }
    v[28] = xs[ba] * cin; v[29] = xs[ba];
    v[33] = wst[0]; v[34] = dw ? 0 : wst[1];
    v[38] = ys[ba] * cout; v[39] = ys[ba];
    v[43] = pool; v[56] = incl; v[57] = act;
    if (code(o, "C_NPARAMS") != 58) { failf(o, "conv.cl's parameter layout changed (C_NPARAMS)"); return; }
    if (nsp == 2 && !dw && group == 1 && !pool && cout >= 8) {
        /* the fast path (conv_fast.cl): weights re-laid once as [C][KH][KW][O padded], 8 pixels x 16 or 32
           channels per work item */
        long nb = cout >= 32 ? 2 : 1, opad = (cout + 16 * nb - 1) / (16 * nb) * (16 * nb);
        long s[16], wt = reserve(o, (size_t)(cin * ksz[0] * ksz[1] * opad), NULL);
        long nob = opad / (16 * nb), nxb = (v[45] + 7) / 8;
        s[0] = cin * ksz[0] * ksz[1] * cout; s[1] = 4; s[2] = wo; s[3] = wt;
        s[4] = cin; s[5] = ksz[0]; s[6] = ksz[1]; s[7] = cout;
        s[8] = v[34]; s[9] = v[35]; s[10] = v[36]; s[11] = v[33];
        s[12] = ksz[0] * ksz[1] * opad; s[13] = ksz[1] * opad; s[14] = opad; s[15] = 1;
        emit(o, "copy_strided", s, 16, (size_t)s[0], 2);
        v[58] = wt; v[59] = opad; v[60] = nob; v[61] = nxb; v[62] = 1;
        emit(o, nb == 2 ? "conv_fast_8x2" : "conv_fast_8x1", v, 63, (size_t)(batch * v[44] * nxb * nob), 0);
    } else if (o->cpu && batch * cout >= 256) /* enough planes to keep every core busy */
        emit(o, "conv_plane", v, 58, (size_t)(batch * cout), 0);
    else
        emit(o, "conv", v, 58, y->size, 0);
}

static void plan_pool(nnbrt_ocl *o, const char *fn, const nnbrt_args *a, const nnbrt_tensor *x,
                      const nnbrt_tensor *y)
{
    int nk = a->a[0].count, first = x->ndim - nk - (a->a[4].i ? 1 : 0), i, two;
    long v[8 + 5 * 4], outer = 1, inner = 1;
    if (nk < 1 || nk > 4 || first < 0) { failf(o, "%s: %d pooled axes", fn, nk); return; }
    for (i = 0; i < first; ++i) outer *= x->dims[i];
    for (i = first + nk; i < x->ndim; ++i) inner *= x->dims[i];
    v[0] = !strcmp(fn, "MaxPooling") ? code(o, "POOL_MAX")
         : !strcmp(fn, "SumPooling") ? code(o, "POOL_SUM") : code(o, "POOL_AVERAGE");
    v[1] = (long)y->size; v[2] = off_of(o, x->data); v[3] = off_of(o, y->data); v[4] = outer; v[5] = inner;
    v[6] = nk; v[7] = !strcmp(fn, "AveragePooling") ? a->a[5].i != 0 : 1;
    for (i = 0; i < nk; ++i) {
        v[8 + i] = x->dims[first + i];
        v[8 + nk + i] = y->dims[first + i];
        v[8 + 2 * nk + i] = a->a[0].list[i];
        v[8 + 3 * nk + i] = geo(&a->a[1], i, a->a[0].list[i]);
        v[8 + 4 * nk + i] = geo(&a->a[3], i, 0);
    }
    two = nk == 2 && inner == 1;
    emit(o, two ? "pool2d" : "pool", v, 8 + 5 * nk, y->size, 0);
}

static void plan_reduce(nnbrt_ocl *o, int op, const int *mask, const nnbrt_tensor *x, const nnbrt_tensor *y)
{
    long v[6 + 4 * NNBRT_MAX_NDIM], xs[NNBRT_MAX_NDIM], os[NNBRT_MAX_NDIM], ost[NNBRT_MAX_NDIM];
    long rs[NNBRT_MAX_NDIM], rst[NNBRT_MAX_NDIM];
    int d, no = 0, nr = 0, k = 0;
    cstrides(x, xs);
    for (d = 0; d < x->ndim; ++d) {
        if (mask[d]) { rs[nr] = x->dims[d]; rst[nr++] = xs[d]; }
        else { os[no] = x->dims[d]; ost[no++] = xs[d]; }
    }
    v[k++] = op; v[k++] = (long)y->size; v[k++] = off_of(o, x->data); v[k++] = off_of(o, y->data);
    v[k++] = no; v[k++] = nr;
    for (d = 0; d < no; ++d) v[k++] = os[d];
    for (d = 0; d < no; ++d) v[k++] = ost[d];
    for (d = 0; d < nr; ++d) v[k++] = rs[d];
    for (d = 0; d < nr; ++d) v[k++] = rst[d];
    emit(o, "reduce", v, k, y->size, 0);
}

static int axis_of(nnbrt_ocl *o, int32_t ax, int nd)
{
    int r = nnbrt_axis(ax, nd);
    if (r < 0) failf(o, "%s: axis %d out of range", o->fname, (int)ax);
    return r < 0 ? 0 : r;
}

static void plan_affine(nnbrt_ocl *o, const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *y)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1];
    long v[9], batch = 1, nin_f = 1, nout = 1;
    int d, ba = a->a[0].i;
    for (d = 0; d < x->ndim; ++d) {
        if (d < ba) batch *= x->dims[d];
        else nin_f *= x->dims[d];
    }
    nout = (long)y->size / (batch ? batch : 1);
    v[0] = batch; v[1] = nin_f; v[2] = nout; v[3] = off_of(o, x->data);
    /* NNB keeps Affine weights output-major ([out, in]), packed or not */
    v[4] = w->q ? unpack(o, w) : off_of(o, w->data);
    v[5] = 1;
    v[6] = nin_f;
    v[7] = nin > 2 ? off_of(o, in[2].data) : -1;
    v[8] = off_of(o, y->data);
    emit(o, "affine", v, 9, (size_t)(batch * nout), 0);
}

static void plan_function(nnbrt_ocl *o, const char *fn, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                          int nout, const nnbrt_tensor *out)
{
    size_t k;
    long v[MAXP], s1[2 * NNBRT_MAX_NDIM], s2[2 * NNBRT_MAX_NDIM], s3[2 * NNBRT_MAX_NDIM];
    int d, i;
    const nnbrt_tensor *x = &in[0], *y = &out[0];
    for (k = 0; k < sizeof unary_ops / sizeof unary_ops[0]; ++k) {
        if (strcmp(fn, unary_ops[k].fn)) continue;
        v[0] = code(o, unary_ops[k].code); v[1] = (long)y->size; v[2] = off_of(o, x->data);
        v[3] = off_of(o, y->data);
        v[4] = unary_ops[k].nargs > 0 ? fbits(a->a[0].f) : 0;
        v[5] = unary_ops[k].nargs > 1 ? fbits(a->a[1].f) : 0;
        emit(o, "unary", v, 6, y->size, 0);
        return;
    }
    for (k = 0; k < sizeof binary_ops / sizeof binary_ops[0]; ++k) {
        if (strcmp(fn, binary_ops[k].fn)) continue;
        bstrides(&in[0], y, s1);
        bstrides(&in[1], y, s2);
        binary_at(o, code(o, binary_ops[k].code), off_of(o, in[0].data), off_of(o, in[1].data),
                  off_of(o, y->data), y, s1, s2);
        return;
    }
    if (!strcmp(fn, "Identity") || !strcmp(fn, "Reshape") || !strcmp(fn, "Dropout")) {
        long xo = off_of(o, x->data), yo = off_of(o, y->data), n = (long)y->size, one = 1;
        if (xo != yo) copy(o, xo, yo, 1, &n, &one, &one);
    } else if (!strcmp(fn, "PReLU")) {
        int ba = axis_of(o, a->a[0].i, x->ndim);
        for (d = 0; d < x->ndim; ++d) s2[d] = (in[1].size > 1 && d == ba) ? 1 : 0;
        cstrides(x, s1);
        binary_at(o, code(o, "B_PRELU"), off_of(o, x->data), off_of(o, in[1].data), off_of(o, y->data), y, s1,
                  s2);
    } else if (!strcmp(fn, "Softmax")) {
        int ax = axis_of(o, a->a[0].i, x->ndim);
        long outer = 1, inner = 1;
        for (d = 0; d < ax; ++d) outer *= x->dims[d];
        for (d = ax + 1; d < x->ndim; ++d) inner *= x->dims[d];
        v[0] = 0; v[1] = outer * inner; v[2] = x->dims[ax]; v[3] = inner; v[4] = off_of(o, x->data);
        v[5] = off_of(o, y->data);
        emit(o, "softmax", v, 6, (size_t)(outer * inner), 0);
    } else if (!strcmp(fn, "Sum") || !strcmp(fn, "Mean") || !strcmp(fn, "Max") || !strcmp(fn, "Min") ||
               !strcmp(fn, "Prod")) {
        int mask[NNBRT_MAX_NDIM] = {0};
        const char *c = !strcmp(fn, "Sum") ? "R_SUM" : !strcmp(fn, "Mean") ? "R_MEAN" : !strcmp(fn, "Max")
                      ? "R_MAX" : !strcmp(fn, "Min") ? "R_MIN" : "R_PROD";
        for (i = 0; i < a->a[0].count; ++i) mask[axis_of(o, a->a[0].list[i], x->ndim)] = 1;
        if (a->a[0].count == 0)
            for (d = 0; d < x->ndim; ++d) mask[d] = 1;
        plan_reduce(o, code(o, c), mask, x, y);
    } else if (!strcmp(fn, "GlobalAveragePooling")) {
        int mask[NNBRT_MAX_NDIM] = {0};
        for (d = 2; d < x->ndim; ++d) mask[d] = 1;
        plan_reduce(o, code(o, "R_MEAN"), mask, x, y);
    } else if (!strcmp(fn, "MaxPooling") || !strcmp(fn, "AveragePooling") || !strcmp(fn, "SumPooling")) {
        plan_pool(o, fn, a, x, y);
    } else if (!strcmp(fn, "Convolution") || !strcmp(fn, "DepthwiseConvolution") || !strcmp(fn, "FusedConv")) {
        plan_conv(o, fn, a, nin, in, out, -1);
    } else if (!strcmp(fn, "Affine")) {
        plan_affine(o, a, nin, in, y);
    } else if (!strcmp(fn, "Deconvolution")) {
        const nnbrt_tensor *w = &in[1];
        int ba = a->a[0].i, nsp = x->ndim - ba - 1;
        long batch = 1;
        if (nsp < 1 || nsp > 3 || a->a[5].i) { failf(o, "%s: layout not supported", fn); return; }
        for (d = 0; d < ba; ++d) batch *= x->dims[d];
        v[0] = (long)y->size; v[1] = off_of(o, x->data); v[2] = off_of(o, w->data);
        v[3] = nin > 2 ? off_of(o, in[2].data) : -1; v[4] = off_of(o, y->data);
        v[5] = batch; v[6] = x->dims[ba]; v[7] = y->dims[ba]; v[8] = a->a[4].i;
        for (i = 0; i < 3; ++i) {
            v[9 + i] = i < nsp ? x->dims[ba + 1 + i] : 1;
            v[12 + i] = i < nsp ? y->dims[ba + 1 + i] : 1;
            v[15 + i] = i < nsp ? w->dims[2 + i] : 1;
            v[18 + i] = i < nsp ? geo(&a->a[1], i, 0) : 0;
            v[21 + i] = i < nsp ? geo(&a->a[2], i, 1) : 1;
            v[24 + i] = i < nsp ? geo(&a->a[3], i, 1) : 1;
        }
        emit(o, "deconv", v, 27, y->size, 0);
    } else if (!strcmp(fn, "BatchMatmul")) {
        const nnbrt_tensor *A = &in[0], *B = &in[1];
        int ta = a->a[0].i != 0, tb = a->a[1].i != 0, nb = y->ndim - 2, la = A->ndim - 2, lb = B->ndim - 2;
        cstrides(A, s1);
        cstrides(B, s2);
        v[0] = (long)y->size; v[1] = y->dims[y->ndim - 2]; v[2] = y->dims[y->ndim - 1];
        v[3] = ta ? A->dims[A->ndim - 2] : A->dims[A->ndim - 1];
        v[4] = off_of(o, A->data); v[5] = off_of(o, B->data); v[6] = off_of(o, y->data);
        v[7] = ta ? 1 : s1[A->ndim - 2]; v[8] = ta ? s1[A->ndim - 2] : 1;
        v[9] = tb ? 1 : s2[B->ndim - 2]; v[10] = tb ? s2[B->ndim - 2] : 1;
        v[11] = nb;
        for (d = 0; d < nb; ++d) {
            int da = d - (nb - la), db = d - (nb - lb);
            v[12 + d] = y->dims[d];
            v[12 + nb + d] = (da < 0 || A->dims[da] == 1) ? 0 : s1[da];
            v[12 + 2 * nb + d] = (db < 0 || B->dims[db] == 1) ? 0 : s2[db];
        }
        emit(o, "batch_matmul", v, 12 + 3 * nb, y->size, 0);
    } else if (!strcmp(fn, "Concatenate") || !strcmp(fn, "Stack")) {
        int stack = fn[0] == 'S', ax = axis_of(o, a->a[0].i, y->ndim);
        long at = 0, yst[NNBRT_MAX_NDIM];
        cstrides(y, yst);
        for (i = 0; i < nin; ++i) {
            cstrides(&in[i], s1);
            for (d = 0; d < in[i].ndim; ++d) {
                s2[d] = in[i].dims[d];
                s3[d] = stack ? yst[d < ax ? d : d + 1] : yst[d];
            }
            copy(o, off_of(o, in[i].data), off_of(o, y->data) + at * yst[ax], in[i].ndim, s2, s1, s3);
            at += stack ? 1 : in[i].dims[ax];
        }
    } else if (!strcmp(fn, "Split")) {
        int ax = axis_of(o, a->a[0].i, x->ndim), n = 0;
        long xst[NNBRT_MAX_NDIM];
        cstrides(x, xst);
        for (d = 0; d < x->ndim; ++d)
            if (d != ax) { s2[n] = x->dims[d]; s1[n++] = xst[d]; }
        for (i = 0; i < nout; ++i) {
            cstrides(&out[i], s3);
            copy(o, off_of(o, x->data) + i * xst[ax], off_of(o, out[i].data), n, s2, s1, s3);
        }
    } else if (!strcmp(fn, "Transpose") || !strcmp(fn, "Flip") || !strcmp(fn, "Slice") ||
               !strcmp(fn, "Broadcast")) {
        long xst[NNBRT_MAX_NDIM], base = off_of(o, x->data);
        cstrides(x, xst);
        cstrides(y, s3);
        for (d = 0; d < y->ndim; ++d) s2[d] = y->dims[d];
        if (fn[0] == 'T') {
            for (d = 0; d < y->ndim; ++d) s1[d] = xst[a->a[0].list[d]];
        } else if (fn[0] == 'F') {
            int flip[NNBRT_MAX_NDIM] = {0};
            for (i = 0; i < a->a[0].count; ++i) flip[axis_of(o, a->a[0].list[i], x->ndim)] ^= 1;
            for (d = 0; d < x->ndim; ++d) {
                s1[d] = flip[d] ? -xst[d] : xst[d];
                if (flip[d]) base += (x->dims[d] - 1) * xst[d];
            }
        } else if (fn[0] == 'S') { /* start/step per leading axis, as the CPU kernel reads them */
            for (d = 0; d < x->ndim; ++d) {
                s1[d] = xst[d] * (d < a->a[0].count ? a->a[2].list[d] : 1);
                base += (d < a->a[0].count ? a->a[0].list[d] : 0) * xst[d];
            }
        } else {
            bstrides(x, y, s1);
        }
        copy(o, base, off_of(o, y->data), y->ndim, s2, s1, s3);
    } else if (!strcmp(fn, "Unpooling")) {
        int nk = a->a[0].count, first = x->ndim - nk, n = 0;
        long xst[NNBRT_MAX_NDIM];
        cstrides(x, xst);
        for (d = 0; d < x->ndim; ++d) {
            s2[n] = x->dims[d];
            s1[n++] = xst[d];
            if (d >= first) { s2[n] = a->a[0].list[d - first]; s1[n++] = 0; }
        }
        {
            long run = 1;
            for (d = n - 1; d >= 0; --d) { s3[d] = run; run *= s2[d]; }
        }
        copy(o, off_of(o, x->data), off_of(o, y->data), n, s2, s1, s3);
    } else if (!strcmp(fn, "Pad")) {
        int np = a->a[0].count / 2, s = x->ndim - np, kk = 0;
        v[kk++] = (long)y->size; v[kk++] = x->ndim; v[kk++] = off_of(o, x->data); v[kk++] = off_of(o, y->data);
        v[kk++] = a->a[1].i == 0 ? code(o, "PAD_CONSTANT") : a->a[1].i == 1 ? code(o, "PAD_REFLECT")
                                                                            : code(o, "PAD_REPEAT");
        v[kk++] = fbits(a->a[2].f);
        for (d = 0; d < x->ndim; ++d) v[kk++] = y->dims[d];
        for (d = 0; d < x->ndim; ++d) v[kk++] = x->dims[d];
        for (d = 0; d < x->ndim; ++d) v[kk++] = d < s ? 0 : a->a[0].list[2 * (d - s)];
        emit(o, "pad", v, kk, y->size, 0);
    } else if (!strcmp(fn, "BatchNormalization")) {
        int no_scale = a->n > 4 ? a->a[4].i : 0, no_bias = a->n > 5 ? a->a[5].i : 0, j = 1;
        int ax = axis_of(o, a->a[0].list[0], x->ndim);
        const float *beta = no_bias ? NULL : in[j++].data, *gamma = no_scale ? NULL : in[j++].data;
        const float *mean = in[j].data, *var = in[j + 1].data;
        long c = x->dims[ax], sc, sh;
        float *tmp;
        if (a->a[3].i) { failf(o, "%s: batch statistics (the OpenCL host runs stored statistics only)", fn); return; }
        tmp = (float *)malloc((size_t)(2 * c) * sizeof(float));
        if (!tmp) { failf(o, "out of memory"); return; }
        for (i = 0; i < c; ++i) {
            float s = (gamma ? gamma[i] : 1.0f) / sqrtf(var[i] + a->a[2].f);
            tmp[i] = s;
            tmp[c + i] = (beta ? beta[i] : 0.0f) - mean[i] * s;
        }
        sc = reserve(o, (size_t)c, tmp);
        sh = reserve(o, (size_t)c, tmp + c);
        free(tmp);
        cstrides(x, s1);
        for (d = 0; d < x->ndim; ++d) s2[d] = d == ax ? 1 : 0;
        binary_at(o, code(o, "B_MUL"), off_of(o, x->data), sc, off_of(o, y->data), y, s1, s2);
        binary_at(o, code(o, "B_ADD"), off_of(o, y->data), sh, off_of(o, y->data), y, s1, s2);
    } else {
        failf(o, "the OpenCL host has no kernel for function %s", fn);
    }
}

/* ---- int8 records (1001-1011, 1014): opencl/q8*.cl, the integer arithmetic of kernels/int8/ ----
   int8 tensors are addressed by byte offsets in the same buffer; the int32 constants (biases, multipliers,
   shifts) are copied into the parameter table, where the launches index them. */

/* byte offset of an int8 tensor in the arena or the image */
static long boff_of(nnbrt_ocl *o, const void *ptr)
{
    const unsigned char *p = (const unsigned char *)ptr;
    if (!p) { failf(o, "%s: a tensor has no storage", o->fname); return 0; }
    if (p >= o->arena && p < o->arena + o->arena_len) return (long)(p - o->arena);
    if (p >= o->image && p < o->image + o->image_len) return (long)(4 * o->A + (size_t)(p - o->image));
    failf(o, "%s: a tensor lies outside the arena and the image", o->fname);
    return 0;
}

/* int32 value k of a type-7 parameter (read in place, any alignment) */
static long i32_at(const nnbrt_tensor *t, size_t k)
{
    int32_t v;
    memcpy(&v, (const unsigned char *)(const void *)t->data + 4 * k, 4);
    return v;
}

/* the n int32 values of t into the parameter table; returns where they start */
static long push_i32(nnbrt_ocl *o, const nnbrt_tensor *t, size_t n)
{
    long at = o->ni, v;
    size_t k;
    if (!t->data || t->size < n) { failf(o, "%s: an int32 parameter is too short", o->fname); return 0; }
    for (k = 0; k < n; ++k) {
        v = i32_at(t, k);
        (void)push_ints(o, &v, 1);
    }
    return at;
}

static long prod_dims(const int32_t *d, int from, int to)
{
    long n = 1;
    int k;
    for (k = from; k < to; ++k) n *= d[k];
    return n;
}

/* x_at: the input's byte offset when it is not a variable's storage (Q8QConv's quantized input), else -1 */
/* The max pool of a Q8Conv / Q8LutConv record (args 6-8: kernel, stride, pad) over its unpooled int8
   output at conv_at (oh x ow), into y. */
static void emit_q8_conv_pool(nnbrt_ocl *o, const char *what, const nnbrt_args *a, const nnbrt_tensor *y,
                              long conv_at, long oh, long ow)
{
    const nnbrt_arg *pk = &a->a[6], *ps = &a->a[7], *pp = &a->a[8];
    const int nk = pk->count, two = nk == 2;
    long u[16];
    if (nk < 1 || nk > 2 || ps->count != nk || pp->count != nk) {
        failf(o, "%s: pool of %d axes", what, nk);
        return;
    }
    u[0] = (long)y->size; u[1] = conv_at; u[2] = boff_of(o, y->data); u[3] = oh; u[4] = ow;
    u[5] = two ? y->dims[y->ndim - 2] : 1; u[6] = y->dims[y->ndim - 1];
    u[7] = two ? pk->list[0] : 1; u[8] = pk->list[nk - 1];
    u[9] = two ? ps->list[0] : 1; u[10] = ps->list[nk - 1];
    u[11] = two ? pp->list[0] : 0; u[12] = pp->list[nk - 1];
    u[13] = 0; u[14] = 1; u[15] = 0;
    emit(o, "q8_pool", u, 16, y->size, 0);
}

static void plan_q8_conv(nnbrt_ocl *o, const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *y,
                         long x_at)
{
    const nnbrt_tensor *x = &in[0], *w = &in[1];
    const int ba = a->a[0].i, res = a->a[10].i, pool = a->a[5].i, nsp = w->ndim - 2;
    long v[44], pd[2] = {0, 0}, st[2] = {1, 1}, dl[2] = {1, 1}, oh, ow, oh0, ow0, cout = w->dims[0], bias, mult, shift, rq;
    int k;
    if (nsp < 1 || nsp > 2 || (res && nin < 7)) { failf(o, "Q8Conv: layout not supported"); return; }
    for (k = 0; k < nsp; ++k) {
        const int ax = nsp == 2 ? k : 1;
        pd[ax] = a->a[1].list[k];
        st[ax] = a->a[2].list[k];
        dl[ax] = a->a[3].list[k];
    }
    v[8] = x->dims[ba];
    v[9] = nsp == 2 ? x->dims[ba + 1] : 1;
    v[10] = x->dims[x->ndim - 1];
    v[12] = nsp == 2 ? w->dims[2] : 1;
    v[13] = w->dims[w->ndim - 1];
    oh = (v[9] + 2 * pd[0] - (dl[0] * (v[12] - 1) + 1)) / st[0] + 1;
    ow = (v[10] + 2 * pd[1] - (dl[1] * (v[13] - 1) + 1)) / st[1] + 1;
    oh0 = oh;
    ow0 = ow;
    if (v[12] == 1 && v[13] == 1 && !pd[0] && !pd[1] && st[0] == 1 && st[1] == 1) {
        /* 1x1: each plane one row (long vector rows) */
        v[10] *= v[9];
        v[9] = 1;
        ow *= oh;
        oh = 1;
    }
    bias = push_i32(o, &in[2], (size_t)cout);
    mult = push_i32(o, &in[3], (size_t)cout);
    shift = push_i32(o, &in[4], (size_t)cout);
    rq = res ? push_i32(o, &in[6], 2 * (size_t)cout) : -1;
    v[0] = (long)y->size; v[1] = x_at >= 0 ? x_at : boff_of(o, x->data); v[2] = boff_of(o, w->data);
    v[3] = bias; v[4] = mult; v[5] = shift; v[6] = boff_of(o, y->data);
    v[7] = prod_dims(x->dims, 0, ba); v[11] = cout; v[14] = oh; v[15] = ow;
    v[16] = pd[0]; v[17] = pd[1]; v[18] = st[0]; v[19] = st[1]; v[20] = dl[0]; v[21] = dl[1];
    v[22] = a->a[4].i; v[23] = x->zero; v[24] = y->zero; v[25] = a->a[12].i; v[26] = a->a[13].i;
    v[27] = res ? boff_of(o, in[5].data) : -1; v[28] = res ? in[5].zero : 0;
    v[29] = rq; v[30] = res ? rq + cout : -1;
    v[31] = 0; v[32] = oh; v[33] = ow; v[34] = v[35] = v[36] = v[37] = 1; v[38] = v[39] = 0;
    if (code(o, "Q8C_NPARAMS") != 40) { failf(o, "q8_conv.cl's parameter layout changed (Q8C_NPARAMS)"); return; }
    if (pool) /* the convolution into scratch (bytes in the tail), then q8_pool */
        v[6] = 4 * reserve(o, (size_t)((v[7] * cout * oh * ow + 3) / 4), NULL);
    if ((st[1] == 1 || st[1] == 2) && (st[0] == st[1] || oh == 1)) {
        /* vector forms (16 pixels per work item, no bounds checks): the input padded with its zero point when the
           convolution pads or a row's last loads could pass the image that follows the arena; narrow stride-1
           rows as the flat form (the padded plane as one row) */
        const long og = cout / (v[22] > 0 ? v[22] : 1), reach = 16 * st[1] + dl[1] * (v[13] - 1) + 16;
        const int flat = st[1] == 1 && ow < 16;
        const char *kn;
        v[40] = v[41] = v[42] = v[43] = 0;
        if (flat || pd[0] || pd[1] || reach > 4 * (long)o->I) {
            long hp = v[9] + 2 * pd[0], wp = (ow + 15) / 16 * 16 * st[1] + dl[1] * (v[13] - 1) + 16, bytes;
            long u[10];
            if (flat) {
                wp = v[10] + 2 * pd[1];
                hp += (reach + wp - 1) / wp + 1; /* rows to spare for the last block's loads */
            }
            bytes = v[7] * v[8] * hp * wp;
            if (bytes > o->q8pad_n) {
                o->q8pad = 4 * reserve(o, (size_t)((bytes + 3) / 4), NULL);
                o->q8pad_n = bytes;
            }
            u[0] = v[7] * v[8] * hp; u[1] = v[1]; u[2] = o->q8pad; u[3] = v[9]; u[4] = v[10]; u[5] = hp; u[6] = wp;
            u[7] = pd[0]; u[8] = pd[1]; u[9] = x->zero;
            emit(o, "q8_pad", u, 10, (size_t)u[0], 0);
            v[1] = o->q8pad; v[9] = hp; v[10] = wp; v[16] = v[17] = 0;
            if (flat) {
                v[41] = wp; v[42] = ow; v[43] = oh;
                v[14] = 1; v[15] = oh * wp;
            }
        }
        if (og % 8 == 0) { /* weights re-laid once as [o/8][c/group][kh][kw][8] in the tail */
            const long k = (long)w->dims[1] * v[12] * v[13], at = reserve(o, (size_t)((cout * k + 3) / 4), NULL);
            const signed char *src = (const signed char *)(const void *)w->data;
            signed char *dst;
            long b, kk, j;
            if (o->failed) return;
            dst = (signed char *)(void *)(o->tail + (at - (long)(o->A + o->I)));
            for (b = 0; b < cout / 8; ++b)
                for (kk = 0; kk < k; ++kk)
                    for (j = 0; j < 8; ++j) dst[(b * k + kk) * 8 + j] = src[(b * 8 + j) * k + kk];
            v[40] = 4 * at;
            kn = st[1] == 2 ? "q8_conv_r8s2" : "q8_conv_r8";
            v[0] = v[7] * (cout / 8) * v[14] * ((v[15] + 15) / 16);
        } else {
            kn = st[1] == 2 ? "q8_conv_v1s2" : "q8_conv_v1";
            v[0] = v[7] * cout * v[14] * ((v[15] + 15) / 16);
        }
        if (code(o, "Q8C_VPARAMS") != 44) { failf(o, "q8_conv.cl's vector parameter layout changed"); return; }
        emit(o, kn, v, 44, (size_t)v[0], 0);
    } else {
        const long og = cout / (v[22] > 0 ? v[22] : 1), ocb = og % 8 == 0 ? 8 : og % 4 == 0 ? 4 : 1;
        v[0] = v[7] * (cout / ocb) * oh * ((ow + 3) / 4);
        emit(o, ocb == 8 ? "q8_conv_t8" : ocb == 4 ? "q8_conv_t4" : "q8_conv_t1", v, 40, (size_t)v[0], 0);
    }
    if (pool) emit_q8_conv_pool(o, "Q8Conv", a, y, v[6], oh0, ow0);
}

static void plan_q8_pool(nnbrt_ocl *o, const nnbrt_args *a, const nnbrt_tensor *x, const nnbrt_tensor *y, int avg)
{
    const int nk = a->a[0].count, two = nk == 2;
    long v[16];
    if (nk < 1 || nk > 2 || a->a[1].count != nk || a->a[3].count != nk) { failf(o, "%s: %d pooled axes", o->fname, nk); return; }
    v[0] = (long)y->size; v[1] = boff_of(o, x->data); v[2] = boff_of(o, y->data);
    v[3] = two ? x->dims[x->ndim - 2] : 1; v[4] = x->dims[x->ndim - 1];
    v[5] = two ? y->dims[y->ndim - 2] : 1; v[6] = y->dims[y->ndim - 1];
    v[7] = two ? a->a[0].list[0] : 1; v[8] = a->a[0].list[nk - 1];
    v[9] = two ? a->a[1].list[0] : 1; v[10] = a->a[1].list[nk - 1];
    v[11] = two ? a->a[3].list[0] : 0; v[12] = a->a[3].list[nk - 1];
    v[13] = avg; v[14] = avg && a->n > 4 ? a->a[4].i != 0 : 1; v[15] = x->zero;
    emit(o, "q8_pool", v, 16, y->size, 0);
}

/* LUT-Q records 1012 Q8LutConv / 1013 Q8LutAffine (opencl/q8_lut.cl): the codes' words, the dictionary and
   rq (biases, multipliers, shifts) copied into the parameter table; g: n, c, h, w, o, kh, kw, oh, ow, pad_h,
   pad_w, stride_h, stride_w, dil_h, dil_w, group (the loader checked every field); lo: the argument index of
   act_min (act_max and lut_bits follow at lo + 1 and lo + 3: Q8LutConv 12, Q8LutAffine 2) */
static void plan_q8_lut(nnbrt_ocl *o, const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *y,
                        const long *g, long y_at, int res, int lo)
{
    const nnbrt_tensor *d = &in[2];
    const long cout = g[4];
    long v[32], kk, pow2 = 1;
    size_t k;
    int j;
    if (d->ndim != 2 || d->dims[0] != cout || (res && nin < 6)) { failf(o, "%s: layout not supported", o->fname); return; }
    kk = d->dims[1];
    for (k = 0; k < d->size; ++k) {
        const long e = i32_at(d, k), mag = e < 0 ? -e : e;
        if (mag & (mag - 1)) pow2 = 0;
    }
    v[0] = g[0] * cout * g[7] * g[8]; v[1] = boff_of(o, in[0].data); v[2] = push_i32(o, &in[1], in[1].size);
    v[3] = push_i32(o, d, d->size); v[4] = push_i32(o, &in[3], 3 * (size_t)cout); v[5] = y_at;
    for (j = 0; j < 16; ++j) v[6 + j] = g[j];
    v[22] = in[0].zero; v[23] = y->zero;
    v[24] = a->a[lo].i; v[25] = a->a[lo + 1].i;
    v[26] = res ? boff_of(o, in[4].data) : -1; v[27] = res ? in[4].zero : 0;
    v[28] = res ? push_i32(o, &in[5], 2 * (size_t)cout) : -1;
    v[29] = kk; v[30] = a->a[lo + 3].i; v[31] = pow2;
    if (code(o, "Q8L_NPARAMS") != 32) { failf(o, "q8_lut.cl's parameter layout changed (Q8L_NPARAMS)"); return; }
    if (g[8] >= 4) { /* 4 pixels of a row per work item, each tap's code decoded once for them */
        v[0] = g[0] * cout * g[7] * ((g[8] + 3) / 4);
        emit(o, "q8_lut_conv4", v, 32, (size_t)v[0], 0);
    } else {
        emit(o, "q8_lut_conv", v, 32, (size_t)v[0], 0);
    }
}

static void plan_q8_lut_conv(nnbrt_ocl *o, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                             const nnbrt_tensor *y)
{
    const nnbrt_tensor *x = &in[0];
    const nnbrt_arg *ws = &a->a[14];
    const int ba = a->a[0].i, res = a->a[10].i, pool = a->a[5].i, nsp = ws->count - 2;
    long g[16], y_at;
    int k;
    if (nsp < 1 || nsp > 2) { failf(o, "Q8LutConv: layout not supported"); return; }
    g[0] = prod_dims(x->dims, 0, ba); g[1] = x->dims[ba];
    g[2] = nsp == 2 ? x->dims[ba + 1] : 1; g[3] = x->dims[x->ndim - 1];
    g[4] = ws->list[0]; g[5] = nsp == 2 ? ws->list[2] : 1; g[6] = ws->list[ws->count - 1];
    g[9] = g[10] = 0; g[11] = g[12] = g[13] = g[14] = 1;
    for (k = 0; k < nsp; ++k) {
        const int ax = nsp == 2 ? k : 1;
        g[9 + ax] = a->a[1].list[k];
        g[11 + ax] = a->a[2].list[k];
        g[13 + ax] = a->a[3].list[k];
    }
    g[7] = (g[2] + 2 * g[9] - (g[13] * (g[5] - 1) + 1)) / g[11] + 1;
    g[8] = (g[3] + 2 * g[10] - (g[14] * (g[6] - 1) + 1)) / g[12] + 1;
    g[15] = a->a[4].i;
    y_at = pool ? 4 * reserve(o, (size_t)((g[0] * g[4] * g[7] * g[8] + 3) / 4), NULL) : boff_of(o, y->data);
    plan_q8_lut(o, a, nin, in, y, g, y_at, res, 12);
    if (pool) emit_q8_conv_pool(o, "Q8LutConv", a, y, y_at, g[7], g[8]);
}

static void plan_q8(nnbrt_ocl *o, const char *fn, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                    const nnbrt_tensor *out)
{
    const nnbrt_tensor *x = &in[0], *y = &out[0];
    long v[16];
    int k;
    if (!strcmp(fn, "Q8Quantize")) {
        v[0] = (long)y->size; v[1] = off_of(o, x->data); v[2] = off_of(o, in[1].data); v[3] = boff_of(o, y->data);
        emit(o, "q8_quantize", v, 4, y->size, 0);
    } else if (!strcmp(fn, "Q8Dequantize")) {
        v[0] = (long)y->size; v[1] = boff_of(o, x->data); v[2] = off_of(o, in[1].data); v[3] = off_of(o, y->data);
        emit(o, "q8_dequantize", v, 4, y->size, 0);
    } else if (!strcmp(fn, "Q8Conv")) {
        plan_q8_conv(o, a, nin, in, y, -1);
    } else if (!strcmp(fn, "Q8QConv")) {
        /* 1014: the float input quantized into a tail region (the whole batch: device memory is not the arena),
           then Q8Conv's launches on it; in[2] (the grid) holds the input's zero point */
        nnbrt_tensor t[5];
        const long at = 4 * reserve(o, (x->size + 3u) / 4u, NULL);
        v[0] = (long)x->size; v[1] = off_of(o, x->data); v[2] = off_of(o, in[1].data); v[3] = at;
        emit(o, "q8_quantize", v, 4, x->size, 0);
        t[0] = in[0];
        t[0].zero = in[2].zero;
        for (k = 1; k < 5; ++k) t[k] = in[k + 2];
        plan_q8_conv(o, a, 5, t, y, at);
    } else if (!strcmp(fn, "Q8Affine")) {
        const int ba = a->a[0].i;
        const long n = prod_dims(x->dims, 0, ba), kk = prod_dims(x->dims, ba, x->ndim), oo = n ? (long)y->size / n : 0;
        v[0] = (long)y->size; v[1] = boff_of(o, x->data); v[2] = boff_of(o, in[1].data);
        v[3] = push_i32(o, &in[2], (size_t)oo); v[4] = push_i32(o, &in[3], (size_t)oo);
        v[5] = push_i32(o, &in[4], (size_t)oo); v[6] = boff_of(o, y->data);
        v[7] = n; v[8] = kk; v[9] = oo; v[10] = x->zero; v[11] = y->zero; v[12] = a->a[2].i; v[13] = a->a[3].i;
        emit(o, "q8_affine", v, 14, y->size, 0);
    } else if (!strcmp(fn, "Q8MaxPool") || !strcmp(fn, "Q8AvgPool")) {
        plan_q8_pool(o, a, x, y, fn[2] == 'A');
    } else if (!strcmp(fn, "Q8GlobalAvgPool")) {
        v[0] = (long)x->dims[0] * x->dims[1]; v[1] = boff_of(o, x->data); v[2] = boff_of(o, y->data);
        v[3] = prod_dims(x->dims, 2, x->ndim); v[4] = x->zero; v[5] = i32_at(&in[1], 0); v[6] = i32_at(&in[2], 0);
        v[7] = y->zero;
        emit(o, "q8_gap", v, 8, (size_t)v[0], 0);
    } else if (!strcmp(fn, "Q8Add")) {
        v[0] = (long)y->size; v[1] = boff_of(o, in[0].data); v[2] = boff_of(o, in[1].data); v[3] = boff_of(o, y->data);
        v[4] = in[0].zero; v[5] = in[1].zero;
        for (k = 0; k < 3; ++k) {
            v[6 + 2 * k] = i32_at(&in[2], (size_t)k);
            v[7 + 2 * k] = i32_at(&in[3], (size_t)k);
        }
        v[12] = y->zero; v[13] = a->a[1].i; v[14] = a->a[2].i;
        emit(o, "q8_add", v, 15, y->size, 0);
    } else if (!strcmp(fn, "Q8Mul")) {
        v[0] = (long)y->size; v[1] = boff_of(o, in[0].data); v[2] = boff_of(o, in[1].data); v[3] = boff_of(o, y->data);
        v[4] = in[0].zero; v[5] = in[1].zero; v[6] = i32_at(&in[2], 0); v[7] = i32_at(&in[3], 0);
        v[8] = y->zero; v[9] = a->a[1].i; v[10] = a->a[2].i;
        emit(o, "q8_mul", v, 11, y->size, 0);
    } else if (!strcmp(fn, "Q8Concat")) {
        const int n = nin - 2, axis = a->a[0].i;
        const long outer = prod_dims(y->dims, 0, axis), y_inner = prod_dims(y->dims, axis, y->ndim);
        long at = 0;
        for (k = 0; k < n; ++k) {
            const long inner = prod_dims(in[k].dims, axis, in[k].ndim);
            v[0] = outer * inner; v[1] = boff_of(o, in[k].data); v[2] = boff_of(o, y->data) + at; v[3] = inner;
            v[4] = y_inner; v[5] = in[k].zero; v[6] = i32_at(&in[n], (size_t)k); v[7] = i32_at(&in[n + 1], (size_t)k);
            v[8] = y->zero;
            emit(o, "q8_rescale", v, 9, (size_t)v[0], 0);
            at += inner;
        }
    } else if (!strcmp(fn, "Q8LutConv")) {
        plan_q8_lut_conv(o, a, nin, in, y);
    } else if (!strcmp(fn, "Q8LutAffine")) {
        const int ba = a->a[0].i;
        const long n = prod_dims(x->dims, 0, ba), kk = prod_dims(x->dims, ba, x->ndim), oo = n ? (long)y->size / n : 0;
        const long g[16] = {n, kk, 1, 1, oo, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
        plan_q8_lut(o, a, nin, in, y, g, boff_of(o, y->data), 0, 2);
    } else if (!strcmp(fn, "Q8Clamp")) {
        v[0] = (long)y->size; v[1] = boff_of(o, x->data); v[2] = boff_of(o, y->data); v[3] = a->a[2].i; v[4] = a->a[3].i;
        emit(o, "q8_clamp8", v, 5, y->size, 0);
    } else {
        failf(o, "the OpenCL host has no kernel for int8 function %s", fn);
    }
}

/* does an output overlap an input that the launch reads elsewhere than at its own index? */
static int overlaps(const char *fn, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out,
                    const nnbrt_args *a)
{
    int i, j, n = nin;
    size_t k;
    for (k = 0; k < sizeof unary_ops / sizeof unary_ops[0]; ++k)
        if (!strcmp(fn, unary_ops[k].fn)) return 0;
    for (k = 0; k < sizeof binary_ops / sizeof binary_ops[0]; ++k)
        if (!strcmp(fn, binary_ops[k].fn)) return 0;
    if (!strcmp(fn, "PReLU") || !strcmp(fn, "BatchNormalization") || !strcmp(fn, "Identity") ||
        !strcmp(fn, "Reshape") || !strcmp(fn, "Dropout"))
        return 0;
    if (!strcmp(fn, "FusedConv") && a->a[13].i) n = nin - 1;
    for (i = 0; i < nout; ++i)
        for (j = 0; j < n; ++j) {
            const float *a0 = out[i].data, *a1 = out[i].data + out[i].size;
            const float *b0 = in[j].data, *b1 = in[j].data + in[j].size;
            if (a0 && b0 && !in[j].q && a0 < b1 && b0 < a1) return 1;
        }
    return 0;
}

static void record(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out)
{
    nnbrt_ocl *o = g_rec;
    const char *fn;
    if (!o || o->failed) return;
    fn = o->fname;
    if (!strncmp(fn, "Q8", 2)) { /* an int8 record: its output never shares storage with an input */
        plan_q8(o, fn, a, nin, in, out);
        return;
    }
    if (overlaps(fn, nin, in, nout, out, a)) {
        /* the output over its own input (the C runtime's in-place depthwise convolution): work items do
           not run in order, so compute into a scratch region and copy */
        long n = (long)out[0].size, one = 1;
        if (nout != 1 || (strcmp(fn, "FusedConv") && strcmp(fn, "Convolution") &&
                          strcmp(fn, "DepthwiseConvolution"))) {
            failf(o, "%s: output stored over its input", fn);
            return;
        }
        if (out[0].size > o->scratch_n) {
            o->scratch = (size_t)reserve(o, out[0].size, NULL);
            o->scratch_n = out[0].size;
        }
        plan_conv(o, fn, a, nin, in, out, (long)o->scratch);
        copy(o, (long)o->scratch, off_of(o, out[0].data), 1, &n, &one, &one);
        return;
    }
    plan_function(o, fn, a, nin, in, nout, out);
}

/* ---- device ---- */

static int pick_device(nnbrt_ocl *o, int index)
{
    cl_platform_id plats[16];
    cl_uint np = 0, p;
    int seen = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || np == 0) {
        failf(o, "no OpenCL platform found; install one (Debian: pocl-opencl-icd, or pip install \"pyopencl[pocl]\")");
        return 1;
    }
    for (p = 0; p < np && p < 16; ++p) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS) continue;
        if (index < seen + (int)nd) {
            cl_device_type type = 0;
            o->dev = devs[index - seen];
            clGetDeviceInfo(o->dev, CL_DEVICE_NAME, sizeof o->devname - 1, o->devname, NULL);
            clGetDeviceInfo(o->dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
            o->cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
            return 0;
        }
        seen += (int)nd;
    }
    failf(o, "no OpenCL device %d (found %d)", index, seen);
    return 1;
}

/* ---- program: built from source once per device and source, then read from the binary cache ---- */

static unsigned long long fnv(unsigned long long h, const char *s)
{
    for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h * 1099511628211ULL;
}

/* $NNB_OPENCL_CACHE, else $XDG_CACHE_HOME/nnb/opencl, else ~/.cache/nnb/opencl (the Python host's cache) */
static int cache_path(nnbrt_ocl *o, char *path, size_t n)
{
    char drv[128] = "", ver[128] = "";
    const char *env = getenv("NNB_OPENCL_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[900];
    unsigned long long h = 1469598103934665603ULL;
    clGetDeviceInfo(o->dev, CL_DRIVER_VERSION, sizeof drv - 1, drv, NULL);
    clGetDeviceInfo(o->dev, CL_DEVICE_VERSION, sizeof ver - 1, ver, NULL);
    h = fnv(fnv(fnv(fnv(h, o->devname), drv), ver), o->src);
    size_t k;
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/nnb/opencl", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/nnb/opencl", home);
    else return 1;
    for (k = 1; dir[k]; ++k) { /* mkdir -p (failures show later as no cache) */
        if (dir[k] != '/') continue;
        dir[k] = '\0';
        (void)mkdir(dir, 0755);
        dir[k] = '/';
    }
    (void)mkdir(dir, 0755);
    return snprintf(path, n, "%s/c-%016llx.bin", dir, h) >= (int)n;
}

static int load_cached(nnbrt_ocl *o, const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *bin;
    long n;
    cl_int e, st;
    size_t len;
    if (!f) return 1;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(bin = (unsigned char *)malloc((size_t)n))) {
        fclose(f);
        return 1;
    }
    len = fread(bin, 1, (size_t)n, f);
    fclose(f);
    if (len != (size_t)n) { free(bin); return 1; }
    o->prg = clCreateProgramWithBinary(o->ctx, 1, &o->dev, &len, (const unsigned char **)&bin, &st, &e);
    free(bin);
    if (e != CL_SUCCESS || st != CL_SUCCESS ||
        clBuildProgram(o->prg, 1, &o->dev, "-cl-std=CL1.2", NULL, NULL) != CL_SUCCESS) {
        if (o->prg) clReleaseProgram(o->prg);
        o->prg = NULL;
        return 1; /* stale or foreign: compile again */
    }
    return 0;
}

static void save_cached(nnbrt_ocl *o, const char *path)
{
    size_t len = 0;
    unsigned char *bin;
    char tmp[1100];
    FILE *f;
    if (clGetProgramInfo(o->prg, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || !len) return;
    if (!(bin = (unsigned char *)malloc(len))) return;
    if (clGetProgramInfo(o->prg, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS) {
        snprintf(tmp, sizeof tmp, "%s.c%lu.tmp", path, (unsigned long)len);
        f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(bin, 1, len, f) == len;
            ok &= fclose(f) == 0;
            if (!ok || rename(tmp, path) != 0) remove(tmp);
        }
    }
    free(bin);
}

static int build(nnbrt_ocl *o)
{
    cl_int e;
    const char *src = o->src;
    char path[1024];
    int cached = !cache_path(o, path, sizeof path);
    if (cached && !load_cached(o, path)) return 0;
    o->prg = clCreateProgramWithSource(o->ctx, 1, &src, NULL, &e);
    if (e != CL_SUCCESS) { failf(o, "clCreateProgramWithSource failed (%d)", (int)e); return 1; }
    if (clBuildProgram(o->prg, 1, &o->dev, "-cl-std=CL1.2", NULL, NULL) != CL_SUCCESS) {
        char log[300] = "";
        size_t n = 0, k;
        clGetProgramBuildInfo(o->prg, o->dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
        log[sizeof log - 1] = '\0';
        for (k = 0; log[k]; ++k)
            if (log[k] == '\n' || log[k] == '\r') log[k] = ' ';
        failf(o, "OpenCL kernel build failed on %s: build log: %s", o->devname, log);
        return 1;
    }
    if (cached) save_cached(o, path);
    return 0;
}

int nnbrt_ocl_open(nnbrt_ocl **out, nnbrt_net *net, const void *image, size_t image_len, void *arena,
                   size_t arena_len, int device, const char *cl_dir, char *err, size_t errlen)
{
    nnbrt_ocl *o;
    nnbrt_header_info h;
    cl_int e;
    cl_ulong maxalloc = 0, global = 0;
    size_t total, l;
    float *host;
    int f, i;
    *out = NULL;
    o = (nnbrt_ocl *)calloc(1, sizeof *o);
    if (!o) { snprintf(err, errlen, "out of memory"); return 1; }
    o->net = net;
    o->arena = (const unsigned char *)arena;
    o->arena_len = arena_len;
    o->image = (const unsigned char *)image;
    o->image_len = image_len;
    o->A = (arena_len / 4 + ALIGN_F) / ALIGN_F * ALIGN_F;
    o->I = (image_len / 4 + ALIGN_F) / ALIGN_F * ALIGN_F;
    if (!cl_dir) cl_dir = getenv("NNBRT_OPENCL_DIR");
    if (!cl_dir) cl_dir = NNBRT_OPENCL_DIR;
    o->src = read_sources(o, cl_dir);
    if (o->failed || pick_device(o, device)) goto fail;
    /* record the launches: one pass of the loader with the recorder in place of the kernels */
    nnbrt_get_header(net, &h);
    g_rec = o;
    nnbrt_ocl_recorder = record;
    for (f = 0; f < (int)h.num_functions && !o->failed; ++f) {
        nnbrt_function(net, f, NULL, &o->fname, NULL, NULL, NULL, NULL);
        nnbrt_run_range(net, f, f + 1);
    }
    nnbrt_ocl_recorder = NULL;
    g_rec = NULL;
    o->fname = "";
    if (o->failed) goto fail;
    o->nin = nnbrt_num_inputs(net);
    o->nout = nnbrt_num_outputs(net);
    if (o->nin > MAX_IO || o->nout > MAX_IO) { failf(o, "too many inputs or outputs"); goto fail; }
    for (i = 0; i < o->nin; ++i) {
        nnbrt_input(net, i, &o->in_ptr[i], NULL, NULL);
        nnbrt_input_size(net, i, &o->in_n[i]);
        o->in_off[i] = off_of(o, o->in_ptr[i]);
    }
    for (i = 0; i < o->nout; ++i) {
        nnbrt_output(net, i, &o->out_ptr[i], NULL, NULL);
        nnbrt_output_size(net, i, &o->out_n[i]);
        o->out_off[i] = off_of(o, o->out_ptr[i]);
    }
    if (o->failed) goto fail;
    total = o->A + o->I + o->ntail;
    clGetDeviceInfo(o->dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
    clGetDeviceInfo(o->dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    if (total * 4 > maxalloc || total * 4 > global || total > 2147483647u) {
        failf(o, "the model needs %.1f MB on the OpenCL device; %s has %.0f MB (at most %.0f MB per buffer)",
              total * 4.0 / 1048576.0, o->devname, global / 1048576.0, maxalloc / 1048576.0);
        goto fail;
    }
    o->ctx = clCreateContext(NULL, 1, &o->dev, NULL, NULL, &e);
    if (e != CL_SUCCESS) { failf(o, "clCreateContext failed (%d)", (int)e); goto fail; }
    o->q = clCreateCommandQueue(o->ctx, o->dev, 0, &e);
    if (e != CL_SUCCESS) { failf(o, "clCreateCommandQueue failed (%d)", (int)e); goto fail; }
    if (build(o)) goto fail;
    host = (float *)calloc(total, sizeof(float));
    if (!host) { failf(o, "out of memory"); goto fail; }
    memcpy(host, arena, arena_len);
    memcpy(host + o->A, image, image_len);
    if (o->ntail) memcpy(host + o->A + o->I, o->tail, o->ntail * sizeof(float));
    o->m = clCreateBuffer(o->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, total * 4, host, &e);
    free(host);
    if (e != CL_SUCCESS) { failf(o, "cannot allocate %.1f MB on the device (%d)", total * 4.0 / 1048576, (int)e); goto fail; }
    if (o->ni == 0) push_ints(o, (const long[]){0}, 1);
    o->P = clCreateBuffer(o->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, (size_t)o->ni * sizeof(int), o->ints, &e);
    if (e != CL_SUCCESS) { failf(o, "clCreateBuffer failed (%d)", (int)e); goto fail; }
    {
        int zero = 0;
        o->bad = clCreateBuffer(o->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof zero, &zero, &e);
        if (e != CL_SUCCESS) { failf(o, "clCreateBuffer failed (%d)", (int)e); goto fail; }
    }
    o->K = (cl_kernel *)calloc((size_t)o->nl + 1, sizeof(cl_kernel));
    o->gsz = (size_t *)calloc((size_t)o->nl + 1, sizeof(size_t));
    o->lsz = (size_t *)calloc((size_t)o->nl + 1, sizeof(size_t));
    if (!o->K || !o->gsz || !o->lsz) { failf(o, "out of memory"); goto fail; }
    for (l = 0; l < (size_t)o->nl; ++l) {
        cl_int p = o->L[l].p;
        size_t wg = 64, kwg = 0;
        o->K[l] = clCreateKernel(o->prg, o->L[l].kernel, &e);
        if (e != CL_SUCCESS) { failf(o, "no kernel %s in the OpenCL program (%d)", o->L[l].kernel, (int)e); goto fail; }
        e = clSetKernelArg(o->K[l], 0, sizeof(cl_mem), &o->m);
        e |= clSetKernelArg(o->K[l], 1, sizeof(cl_mem), &o->P);
        e |= clSetKernelArg(o->K[l], 2, sizeof(cl_int), &p);
        if (o->L[l].setup == 1) {
            e |= clSetKernelArg(o->K[l], 3, sizeof(cl_mem), &o->m); /* the packed words: same buffer */
            e |= clSetKernelArg(o->K[l], 4, sizeof(cl_mem), &o->bad);
        }
        if (e != CL_SUCCESS) { failf(o, "clSetKernelArg failed"); goto fail; }
        if (clGetKernelWorkGroupInfo(o->K[l], o->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) ==
                CL_SUCCESS && kwg > 0 && kwg < wg)
            wg = kwg;
        o->lsz[l] = wg;
        o->gsz[l] = (o->L[l].items + wg - 1) / wg * wg;
    }
    /* the setup launches once (decoding packed weights, re-laying weights for the fast path), then the codes' check */
    for (l = 0; l < (size_t)o->nl; ++l)
        if (o->L[l].setup &&
            clEnqueueNDRangeKernel(o->q, o->K[l], 1, NULL, &o->gsz[l], &o->lsz[l], 0, NULL, NULL) != CL_SUCCESS) {
            failf(o, "enqueueing %s failed", o->L[l].kernel);
            goto fail;
        }
    {
        int bad = 0;
        if (clEnqueueReadBuffer(o->q, o->bad, CL_TRUE, 0, sizeof bad, &bad, 0, NULL, NULL) != CL_SUCCESS || bad) {
            failf(o, "packed weight: a code is outside its LUT table");
            goto fail;
        }
    }
    *out = o;
    return 0;
fail:
    snprintf(err, errlen, "%s", o->msg[0] ? o->msg : "OpenCL host: unknown error");
    nnbrt_ocl_recorder = NULL;
    g_rec = NULL;
    nnbrt_ocl_close(o);
    return 1;
}

int nnbrt_ocl_run(nnbrt_ocl *o, char *err, size_t errlen)
{
    int i, l;
    for (i = 0; i < o->nin; ++i)
        if (clEnqueueWriteBuffer(o->q, o->m, CL_FALSE, (size_t)o->in_off[i] * 4, o->in_n[i] * 4, o->in_ptr[i], 0,
                                 NULL, NULL) != CL_SUCCESS) {
            snprintf(err, errlen, "writing input %d to the device failed", i);
            return 1;
        }
    for (l = 0; l < o->nl; ++l) {
        if (o->L[l].setup) continue;
        if (clEnqueueNDRangeKernel(o->q, o->K[l], 1, NULL, &o->gsz[l], &o->lsz[l], 0, NULL, NULL) != CL_SUCCESS) {
            snprintf(err, errlen, "enqueueing kernel %s failed", o->L[l].kernel);
            return 1;
        }
    }
    for (i = 0; i < o->nout; ++i)
        if (clEnqueueReadBuffer(o->q, o->m, CL_FALSE, (size_t)o->out_off[i] * 4, o->out_n[i] * 4, o->out_ptr[i], 0,
                                NULL, NULL) != CL_SUCCESS) {
            snprintf(err, errlen, "reading output %d from the device failed", i);
            return 1;
        }
    if (clFinish(o->q) != CL_SUCCESS) {
        snprintf(err, errlen, "the OpenCL queue failed");
        return 1;
    }
    return 0;
}

const char *nnbrt_ocl_device_name(const nnbrt_ocl *o) { return o ? o->devname : ""; }

int nnbrt_ocl_num_launches(const nnbrt_ocl *o)
{
    int l, n = 0;
    for (l = 0; o && l < o->nl; ++l) n += !o->L[l].setup;
    return n;
}

void nnbrt_ocl_close(nnbrt_ocl *o)
{
    int l;
    if (!o) return;
    for (l = 0; o->K && l < o->nl; ++l)
        if (o->K[l]) clReleaseKernel(o->K[l]);
    if (o->m) clReleaseMemObject(o->m);
    if (o->P) clReleaseMemObject(o->P);
    if (o->bad) clReleaseMemObject(o->bad);
    if (o->prg) clReleaseProgram(o->prg);
    if (o->q) clReleaseCommandQueue(o->q);
    if (o->ctx) clReleaseContext(o->ctx);
    free(o->K);
    free(o->gsz);
    free(o->lsz);
    free(o->L);
    free(o->ints);
    free(o->tail);
    free(o->src);
    free(o);
}
