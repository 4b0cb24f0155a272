/* Shared helpers for kernels: shape checks and broadcasting. */
#include "../internal.h"

int nnbrt_same_shape(const nnbrt_tensor *a, const nnbrt_tensor *b)
{
    int i;
    if (a->ndim != b->ndim) return 0;
    for (i = 0; i < a->ndim; ++i)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

size_t nnbrt_prod(const nnbrt_tensor *t, int from, int to)
{
    size_t p = 1;
    int i;
    for (i = from; i < to; ++i) p *= (size_t)t->dims[i];
    return p;
}

int nnbrt_axis(int32_t axis, int ndim)
{
    if (axis < 0) axis += ndim;
    if (axis < 0 || axis >= ndim) return -1;
    return (int)axis;
}

nnbrt_status nnbrt_check_unary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)a; (void)nin; (void)nout;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static int32_t dim_aligned(const nnbrt_tensor *t, int ndim, int d)
{
    int k = d - (ndim - t->ndim);
    return k < 0 ? 1 : t->dims[k];
}

nnbrt_status nnbrt_check_binary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                const nnbrt_tensor *out, nnbrt_cost *work)
{
    int nd = in[0].ndim > in[1].ndim ? in[0].ndim : in[1].ndim, d;
    (void)a; (void)nin; (void)nout;
    if (out[0].ndim != nd) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < nd; ++d) {
        int32_t da = dim_aligned(&in[0], nd, d), db = dim_aligned(&in[1], nd, d);
        int32_t m = da > db ? da : db;
        if (out[0].dims[d] != m) return NNBRT_E_SHAPE_MISMATCH;
        if ((da != m && da != 1) || (db != m && db != 1)) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = out[0].size;
    return NNBRT_OK;
}

static void strides_aligned(const nnbrt_tensor *t, int ndim, size_t *s)
{
    size_t acc = 1;
    int d;
    for (d = ndim - 1; d >= 0; --d) {
        int32_t n = dim_aligned(t, ndim, d);
        s[d] = n == 1 ? 0 : acc;
        acc *= (size_t)n;
    }
}

void nnbrt_bcast_init(nnbrt_bcast *bc, const nnbrt_tensor *a, const nnbrt_tensor *b,
                      const nnbrt_tensor *out)
{
    int d;
    if (out->ndim == 0) {
        bc->ndim = 1;
        bc->dims[0] = 1;
        bc->sa[0] = bc->sb[0] = 0;
        return;
    }
    bc->ndim = out->ndim;
    for (d = 0; d < out->ndim; ++d) bc->dims[d] = (size_t)out->dims[d];
    strides_aligned(a, out->ndim, bc->sa);
    strides_aligned(b, out->ndim, bc->sb);
}

int nnbrt_bcast_next(const nnbrt_bcast *bc, size_t *idx, size_t *oa, size_t *ob)
{
    int d;
    for (d = bc->ndim - 2; d >= 0; --d) {
        if (++idx[d] < bc->dims[d]) break;
        idx[d] = 0;
    }
    if (d < 0) return 0;
    *oa = *ob = 0;
    for (d = 0; d < bc->ndim - 1; ++d) {
        *oa += idx[d] * bc->sa[d];
        *ob += idx[d] * bc->sb[d];
    }
    return 1;
}

/* Packed weights (docs/nnb_format.md, "Quantized variable types"). Codes
   were validated at load (LUT codes < K), so a LUT code indexes the table
   in the image directly; a uniform code is sign-extended and scaled (no
   table on the stack: the runtime's stack budget is 1 KB on a Cortex-M4).
   Codes are decoded 8 at a time (= `bits` whole bytes, little-endian like
   the words) with the width a constant, so the shifts are compile-time; the
   unaligned head and the tail go one code at a time. */
#define QW_VAL(c) (t ? t[c] : (float)((int32_t)((c) ^ half) - (int32_t)half) * step)

static void qw_codes(const uint32_t *words, uint32_t bits, size_t i, size_t n, const float *t,
                     float step, float *out)
{
    const uint32_t mask = (1u << bits) - 1u, half = 1u << (bits - 1u);
    size_t k, bit = i * bits;
    for (k = 0; k < n; ++k, bit += bits) {
        const size_t w = bit >> 5;
        const uint32_t s = (uint32_t)(bit & 31u);
        uint64_t v = words[w];
        uint32_t c;
        if (s + bits > 32u) v |= (uint64_t)words[w + 1] << 32; /* straddles: the next word exists */
        c = (uint32_t)(v >> s) & mask;
        out[k] = QW_VAL(c);
    }
}

/* 8 codes of B bits are B whole bytes of the stream (little-endian). */
#define QW_BYTES(B)                                                                    \
    for (; k + 8u <= n; k += 8u, p += (B)) {                                           \
        uint64_t v = 0;                                                                \
        int j;                                                                         \
        memcpy(&v, p, (B));                                                            \
        for (j = 0; j < 8; ++j) {                                                      \
            const uint32_t c = (uint32_t)(v >> (j * (B))) & mask;                      \
            out[k + (size_t)j] = QW_VAL(c);                                            \
        }                                                                              \
    }

void nnbrt_qw_decode(const nnbrt_qw *q, size_t first, size_t n, float *out)
{
    const uint32_t bits = q->bits, mask = (1u << bits) - 1u, half = 1u << (bits - 1u);
    const uint32_t *words = q->words;
    const float *t = q->kind == 4 ? q->table : NULL;
    const float step = q->step;
    const uint8_t *p;
    size_t k;
    k = (8u - first % 8u) % 8u; /* head: up to a code index that starts a byte */
    if (k > n) k = n;
    qw_codes(words, bits, first, k, t, step, out);
    p = (const uint8_t *)words + (first + k) / 8u * bits;
    switch (bits) {
    case 1: QW_BYTES(1) break;
    case 2: QW_BYTES(2) break;
    case 3: QW_BYTES(3) break;
    case 4: QW_BYTES(4) break;
    case 5: QW_BYTES(5) break;
    case 6: QW_BYTES(6) break;
    case 7: QW_BYTES(7) break;
    default: QW_BYTES(8) break;
    }
    qw_codes(words, bits, first + k, n - k, t, step, out + k);
}
