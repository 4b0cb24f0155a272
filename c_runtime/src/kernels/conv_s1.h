/* Stride-1 direct form for small and medium ungrouped convolutions
   (resnet8's 3x3 layers: 3-64 channels, 8x8 to 32x32 maps). Included once
   by conv_gemm.c after its vector helpers (GV, gvec, VLD/VST, vrelu from
   conv_act.h), so it is compiled per instruction set with it; only the AVX2 and
   AVX-512 builds (GV >= 8) take layers, the SSE2 baseline and the
   microcontroller/SMALL builds keep the other forms.

       y[oc][p] = act(b[oc] + sum_k W[oc][k] * S_kw[c][p + kh*DH*OW] (+ residual[oc][p]))

   For each kernel column kw the input is copied once per image into a
   shifted plane set S_kw: channel c, row r (the zero-padded input rows,
   IH + 2*PH of them), column ow (OW wide, the output's width) holds padded
   input column ow + kw*DW, zero outside the input. Tap (c, kh, kw) of
   output pixel p = oh*OW + ow is then S_kw[c][p + kh*DH*OW]: every tap
   reads the flat output index range of a tile as contiguous floats, one
   vector covers one or more whole output rows (8x8 maps: two rows per
   AVX-512 vector), and the tile's columns are exactly y's (no junk
   columns, no tile copy). Planes start on 64-byte boundaries, so with OW a
   multiple of the vector width every tap load is aligned.
   The micro-kernel keeps R output channels x NR vectors of flat columns in
   registers over all K (AVX-512: 8 x 3 or 6 x 4 of 16 floats in 24 zmm;
   AVX2: 4 x 3 or 3 x 4 in 12 ymm): per k, NR loads and R broadcast weights
   read in place (each channel's weights are contiguous in k). Bias and
   activation are applied in registers; the residual on the store. The
   last tile of an image overlaps its predecessor and stores only its new
   columns one by one, each residual element read before its output is
   written (the output may alias the residual).
   Scratch: the tap offsets and the shifted planes, at most NNBRT_S1_MAX
   floats of planes (else the other forms). */
#ifndef NNBRT_CONV_S1_H
#define NNBRT_CONV_S1_H

#ifndef NNBRT_S1_MAX
#define NNBRT_S1_MAX 65536 /* floats of shifted planes (256 KB, within L2) */
#endif

typedef struct {
    size_t K;       /* reduction length C*KH*KW */
    size_t P;       /* output pixels per image */
    size_t cs, ks;  /* floats per channel plane (rows x OW, 16-aligned), per kw copy (C planes) */
    size_t rows;    /* plane rows: IH + 2*PH */
    size_t off_floats, pl_floats;
    int R, NR;      /* tile: output channels x vectors */
} splan;

#if GV >= 16 && NNBRT_GEMM_IM2COL_MAX != 0
#if GV >= 16
#define SR_A 8 /* tile A: 8 channels x 3 vectors (24 of 32 zmm accumulate) */
#define SN_A 3
#define SR_B 6 /* tile B: 6 x 4 (rows a multiple of 4 vectors) */
#define SN_B 4
#else
#define SR_A 4 /* 12 of 16 ymm */
#define SN_A 3
#define SR_B 3
#define SN_B 4
#endif

/* unaligned vector loads without a memcpy per lane group (gcc kept arrays of
   memcpy-loaded vectors in memory in the AVX2 build) */
typedef float s1vec __attribute__((vector_size(GV * 4), aligned(4), may_alias));
#define SLD(p) ((gvec)(*(const s1vec *)(const void *)(p)))

static int mksplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, splan *q)
{
    uint64_t rows, cs, pl, nv, IHp;
    if (group != 1 || (f && f->pool) || g->C < 1 || g->OC < 1 || g->OH < 1 || g->OW < 1) return 0;
    if (g->KH == 1 && g->KW == 1) return 0; /* 1x1: too short a reduction per tile (the GEMM forms) */
    /* where it was measured to win: stride-1 rows of 2 vectors or more keep the engine's 32-column
       tiles (as fast); few output channels or a short reduction do not repay the plane copies */
    if (g->SW == 1 && g->OW >= 2 * GV) return 0;
    if (g->OC < 32 || (uint64_t)g->C * (uint64_t)g->KH * (uint64_t)g->KW < 128) return 0;
    if (g->KW > 16 || g->SH > 4 || g->SW > 4 || g->SH < 1 || g->SW < 1 || g->DW < 1 || g->DH < 1) return 0;
    IHp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
    /* plane rows: output rows + the row offset of the lowest tap */
    rows = (uint64_t)g->OH + (uint64_t)(g->KH - 1) * (uint64_t)g->DH / (uint64_t)g->SH;
    if (((uint64_t)g->OH - 1u) * (uint64_t)g->SH + (uint64_t)(g->KH - 1) * (uint64_t)g->DH >= IHp) return 0;
    if (((uint64_t)g->OW - 1u) * (uint64_t)g->SW + (uint64_t)(g->KW - 1) * (uint64_t)g->DW >=
            (uint64_t)g->IW + 2u * (uint64_t)g->PW ||
        (uint64_t)g->IW + 2u * (uint64_t)g->PW > NNBRT_S1_MAX)
        return 0;
    nv = ((uint64_t)g->OH * (uint64_t)g->OW) / GV;
    if (nv < 2) return 0; /* too small for a tile */
    cs = (rows * (uint64_t)g->OW + 15u) & ~(uint64_t)15u;
    pl = cs * (uint64_t)g->C * (uint64_t)g->KW * (uint64_t)g->SH;
    if (pl > NNBRT_S1_MAX) return 0;
    q->K = (size_t)g->C * (size_t)g->KH * (size_t)g->KW; /* <= weight elements (image) */
    q->P = (size_t)g->OH * (size_t)g->OW;
    q->rows = (size_t)rows;
    q->cs = (size_t)cs;
    q->ks = (size_t)cs * (size_t)g->C;
    q->off_floats = (q->K + 15u) & ~(size_t)15u;
    q->pl_floats = (size_t)pl;
    /* tile B when its vectors divide the image's and tile A's do not */
    q->R = SR_A;
    q->NR = SN_A;
    if (nv % SN_B == 0 && nv % SN_A != 0) {
        q->R = SR_B;
        q->NR = SN_B;
    }
    if (nv < (uint64_t)q->NR) q->NR = (int)nv;
    return 1;
}

/* n floats from s to d (s NULL: zeros), by vectors (no library call per short row) */
static void s1_copy(float *d, const float *s, size_t n)
{
    size_t j = 0;
    if (!s) {
        const gvec z = {0};
        for (; j + GV <= n; j += GV) VST(d + j, z);
        for (; j < n; ++j) d[j] = 0.0f;
        return;
    }
    for (; j + GV <= n; j += GV) {
        const gvec v = SLD(s + j);
        VST(d + j, v);
    }
    for (; j < n; ++j) d[j] = s[j];
}

/* d[j] = s[j * SW] for j < n, where s[0 .. avail) may be read: vector
   shuffles for SW == 2 (no staging copy: reading back freshly stored
   vectors at another alignment stalls store forwarding) */
static void s1_gather(float *d, const float *s, size_t n, size_t SW, size_t avail)
{
    size_t j = 0;
    if (SW == 1) {
        s1_copy(d, s, n);
        return;
    }
#if D2V > 1
    if (SW == 2)
        for (; j + D2V <= n && 2u * (j + D2V) <= avail; j += D2V)
            D2ST(d + j, D2_EVENS(D2LD(s + 2u * j), D2LD(s + 2u * j + D2V)));
#endif
    for (; j < n; ++j) d[j] = s[j * SW];
}

/* The shifted planes of one image: plane set (kw, ph) = kw * SH + ph,
   channel c, row j, column ow holds padded input pixel (j*SH + ph,
   ow*SW + kw*DW), zero outside the input. Every float read is written;
   each plane row is one (strided) copy from an input row. */
static void fill_shifted(float *pl, const float *x, const nnbrt_geom *g, const splan *q)
{
    const size_t OW = (size_t)g->OW, IW = (size_t)g->IW, PW = (size_t)g->PW, PH = (size_t)g->PH;
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW, IH = (size_t)g->IH, KW = (size_t)g->KW;
    size_t lo[16], hi[16], i0[16], kw, ph, c, r, ih, j;
    for (kw = 0; kw < KW; ++kw) {
        /* output columns [lo, hi) read input columns ow*SW + t, t = kw*DW - PW (i0 at lo) */
        const long t = (long)(kw * (size_t)g->DW) - (long)PW;
        long l = t >= 0 ? 0 : (-t + (long)SW - 1) / (long)SW, h = ((long)IW - t + (long)SW - 1) / (long)SW;
        if (h > (long)OW) h = (long)OW;
        if (h < l) h = l;
        lo[kw] = (size_t)l;
        hi[kw] = (size_t)h;
        i0[kw] = (size_t)(l * (long)SW + t);
    }
    for (kw = 0; kw < KW; ++kw) /* rows outside the input: zeros */
        for (ph = 0; ph < SH; ++ph)
            for (c = 0; c < (size_t)g->C; ++c) {
                float *d = pl + (kw * SH + ph) * q->ks + c * q->cs;
                for (r = 0; r < q->rows; ++r) {
                    const size_t hh = r * SH + ph;
                    if (hh < PH || hh >= PH + IH) s1_copy(d + r * OW, NULL, OW);
                }
            }
    for (c = 0; c < (size_t)g->C; ++c)
        for (ih = 0; ih < IH; ++ih) {
            const size_t hh = ih + PH;
            const float *row = x + (c * IH + ih) * IW;
            if (hh / SH >= q->rows) break;
            for (kw = 0; kw < KW; ++kw) {
                float *d = pl + (kw * SH + hh % SH) * q->ks + c * q->cs + (hh / SH) * OW;
                for (j = 0; j < lo[kw]; ++j) d[j] = 0.0f;
                if (hi[kw] > lo[kw]) s1_gather(d + lo[kw], row + i0[kw], hi[kw] - lo[kw], SW, IW - i0[kw]);
                for (j = hi[kw]; j < OW; ++j) d[j] = 0.0f;
            }
        }
}

/* The overlapped last tile of an image: lanes [j0, n) of r channel rows
   of the tile tv (n floats each) to y (rows P apart), residual rs or NULL,
   each residual element read before its output is written. */
static void s1_tail(const float *tv, int r, int n, float *y, const float *rs, size_t P, int act, int j0)
{
    int i, j;
    for (i = 0; i < r; ++i, tv += n, y += P) {
        if (!rs) {
            for (j = j0; j < n; ++j) y[j] = act ? nnbrt_relu(tv[j], act) : tv[j];
            continue;
        }
        for (j = j0; j < n; ++j) y[j] = act ? nnbrt_relu(tv[j] + rs[j], act) : tv[j] + rs[j];
        rs += P;
    }
}

/* R channels (weights of channel i at w + i*K) x NR vectors from b + off[k]
   (k < K), stored at y (channel rows P apart) with residual rs (same
   layout) or NULL; lanes below j0 (of the NR*GV) were stored already. */
#define SMICRO(NAME, R, NR)                                                                         \
    static void smicro_##NAME##_##NR(const float *b, const uint32_t *off, size_t K, const float *w,     \
                                  const float *bias, float *y, const float *rs, size_t P, int act,  \
                                  int j0)                                                           \
    {                                                                                               \
        gvec acc[R][NR];                                                                            \
        size_t k;                                                                                   \
        int i, t;                                                                                   \
        for (i = 0; i < R; ++i)                                                                     \
            for (t = 0; t < NR; ++t) acc[i][t] = (gvec){0} + (bias ? bias[i] : 0.0f);               \
        for (k = 0; k < K; ++k) {                                                                   \
            gvec bv[NR];                                                                            \
            const float *bk = b + off[k];                                                           \
            for (t = 0; t < NR; ++t) bv[t] = SLD(bk + (size_t)t * GV);                              \
            for (i = 0; i < R; ++i) {                                                               \
                const float s = w[(size_t)i * K + k];                                               \
                for (t = 0; t < NR; ++t) acc[i][t] += s * bv[t];                                    \
            }                                                                                       \
        }                                                                                           \
        if (j0 == 0) {                                                                              \
            for (i = 0; i < R; ++i)                                                                 \
                for (t = 0; t < NR; ++t) {                                                          \
                    const size_t o = (size_t)i * P + (size_t)t * GV;                                \
                    gvec v = acc[i][t];                                                             \
                    if (rs) {                                                                       \
                        gvec r;                                                                     \
                        VLD(r, rs + o);                                                             \
                        v += r;                                                                     \
                    }                                                                               \
                    if (act) v = vrelu(v, act);                                                     \
                    VST(y + o, v);                                                                  \
                }                                                                                   \
        } else {                                                                                    \
            float tv[R * NR * GV];                                                                  \
            for (i = 0; i < R; ++i)                                                                 \
                for (t = 0; t < NR; ++t) VST(tv + (i * NR + t) * GV, acc[i][t]);                    \
            s1_tail(tv, R, NR * GV, y, rs, P, act, j0);                                             \
        }                                                                                           \
    }

/* smicro_NAME_NR: NAME A (SR_A channels), B (SR_B), 4 or 1 */
#define SMICROS(NAME, R) SMICRO(NAME, R, 1) SMICRO(NAME, R, 2) SMICRO(NAME, R, 3) SMICRO(NAME, R, 4)
SMICROS(A, SR_A)
SMICROS(B, SR_B)
SMICROS(4, 4)
SMICROS(1, 1)

typedef void (*smicro_fn)(const float *, const uint32_t *, size_t, const float *, const float *, float *,
                          const float *, size_t, int, int);
#define SROW(NAME) {smicro_##NAME##_1, smicro_##NAME##_2, smicro_##NAME##_3, smicro_##NAME##_4}
/* channel-block sizes, largest first; the row of r is the first whose size is <= r */
static const int s1_sizes[] = {SR_A, SR_B, 4, 1};
static const smicro_fn s1_tab[4][4] = {SROW(A), SROW(B), SROW(4), SROW(1)};

/* the micro-kernel of r channels (SR_A, SR_B, 4 or 1) x nr vectors (1..4) */
static smicro_fn s1_micro(int r, int nr)
{
    int i = 0;
    while (s1_sizes[i] != r) ++i;
    return s1_tab[i][nr - 1];
}

static void s1_conv(const splan *q, float *scratch, const float *x, const float *w, const float *bias, float *y,
                    const nnbrt_geom *g, const nnbrt_fuse *f)
{
    float *base = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    uint32_t *off = (uint32_t *)(void *)base;
    float *pl = base + q->off_floats;
    const size_t OW = (size_t)g->OW, OC = (size_t)g->OC;
    const int act = f ? f->act : 0;
    size_t c, kh, kw, k = 0, n;
    for (c = 0; c < (size_t)g->C; ++c)
        for (kh = 0; kh < (size_t)g->KH; ++kh)
            for (kw = 0; kw < (size_t)g->KW; ++kw, ++k)
                off[k] = (uint32_t)((kw * (size_t)g->SH + kh * (size_t)g->DH % (size_t)g->SH) * q->ks + c * q->cs +
                                    kh * (size_t)g->DH / (size_t)g->SH * OW);
    for (n = 0; n < g->outer; ++n) {
        const size_t yo = n * OC * q->P;
        const float *res = f && f->res ? f->res + yo : NULL;
        size_t p = 0, done = 0;
        fill_shifted(pl, x + n * (size_t)g->C * (size_t)g->IH * (size_t)g->IW, g, q);
        while (done < q->P) {
            size_t oc = 0, ps;
            int nr = q->NR, j0;
            /* the tail: fewer vectors if they cover it, else the last tile overlaps */
            while (nr > 1 && p + (size_t)(nr - 1) * GV >= q->P) --nr;
            ps = p + (size_t)nr * GV > q->P ? q->P - (size_t)nr * GV : p;
            j0 = (int)(done - ps);
            while (oc < OC) {
                const size_t left = OC - oc;
                const int r = left >= (size_t)q->R ? q->R : left >= 4 ? 4 : 1;
                const size_t o = oc * q->P + ps;
                s1_micro(r, nr)(pl + ps, off, q->K, w + oc * q->K, bias ? bias + oc : NULL, y + yo + o,
                                res ? res + o : NULL, q->P, act, j0);
                oc += (size_t)r;
            }
            p = ps + (size_t)nr * GV;
            done = p;
        }
    }
}
#else
NO_FORM(splan, mksplan, s1_conv)
#endif

#endif
