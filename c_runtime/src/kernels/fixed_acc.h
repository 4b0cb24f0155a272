/* The loops of fixed_fast.c for one accumulator type: included once per type with
   FX_T (float or double), FX_N(name) (the names' prefix), FX_INT(v) (the exact integer of a
   sum scaled to units, as int64) and FX_DIRECT (1: the float form, which may accumulate in
   the output plane itself). Exact only under fixed_fast.h's bound,
   which the caller has checked. No include guard: meant to be included more than once. */

/* acc[i] += p0[i] w0 + p1[i] w1 + p2[i] w2 + p3[i] w3 for i < len (four taps per pass over acc) */
static inline FX_ALWAYS void FX_N(tap4)(FX_T *restrict acc, const float *restrict p0, const float *restrict p1,
                                        const float *restrict p2, const float *restrict p3, FX_T w0, FX_T w1,
                                        FX_T w2, FX_T w3, size_t len)
{
    size_t i;
    for (i = 0; i < len; ++i)
        acc[i] += (FX_T)p0[i] * w0 + (FX_T)p1[i] * w1 + (FX_T)p2[i] * w2 + (FX_T)p3[i] * w3;
}

/* Wide form: output rows [r0, r1) of one plane, summed over the input itself (stride 1, no
   padding: sh = sw = 1, one phase plane per channel of psz = cs values) or over the phase-plane
   copy (fx_phases), with row pitch ip, so every tap is one contiguous run of len values (the
   columns past OW of a row are computed and not stored); the Cg x KH x KW taps four at a time.
   Tap (c, kh, kw) reads channel c's phase plane ((kh DH) % sh, (kw DW) % sw) from row
   (kh DH) / sh and column (kw DW) / sw on. */
static inline FX_ALWAYS void FX_N(wide)(FX_T *restrict acc, const float *restrict x0, const float *restrict w,
                                        const nnbrt_geom *g, size_t Cg, size_t cs, size_t psz, size_t ip, size_t sh,
                                        size_t sw, long r0, long r1)
{
    const size_t len = (size_t)(r1 - r0 - 1) * ip + (size_t)g->OW;
    const size_t ksz = (size_t)g->KH * (size_t)g->KW, T = Cg * ksz;
    const float *x = x0 + (size_t)r0 * ip;
    const float *p[4];
    size_t i, t, k;
    for (i = 0; i < len; ++i) acc[i] = 0;
    for (t = 0; t < T; t += 4) {
        const size_t nt = T - t < 4 ? T - t : 4;
        FX_T wv[4] = {0, 0, 0, 0};
        for (k = 0; k < 4; ++k) {
            const size_t u = t + (k < nt ? k : 0), r = u % ksz;
            const size_t dh = r / (size_t)g->KW * (size_t)g->DH, dw = r % (size_t)g->KW * (size_t)g->DW;
            p[k] = x + u / ksz * cs + (dh % sh * sw + dw % sw) * psz + dh / sh * ip + dw / sw;
            if (k < nt) wv[k] = (FX_T)w[u];
        }
        FX_N(tap4)(acc, p[0], p[1], p[2], p[3], wv[0], wv[1], wv[2], wv[3], len);
    }
}

/* Row form (any stride, padding, dilation): output rows [r0, r1), row pitch OW; per tap the
   columns whose input lies inside the row are found once. */
static inline FX_ALWAYS void FX_N(rows)(FX_T *restrict acc, const float *restrict x0, const float *restrict w0,
                                        const nnbrt_geom *g, size_t Cg, size_t isz, long r0, long r1)
{
    const size_t len = (size_t)(r1 - r0) * (size_t)g->OW;
    size_t c, i;
    long kh, kw, oh, j;
    for (i = 0; i < len; ++i) acc[i] = 0;
    for (c = 0; c < Cg; ++c) {
        const float *w = w0 + c * (size_t)g->KH * (size_t)g->KW;
        for (kh = 0; kh < g->KH; ++kh)
            for (kw = 0; kw < g->KW; ++kw) {
                const FX_T wv = (FX_T)w[kh * g->KW + kw];
                const long base = kw * g->DW - g->PW, sw = g->SW;
                const long lo = base >= 0 ? 0 : (-base + sw - 1) / sw;
                long hi = g->IW - 1 - base < 0 ? 0 : (g->IW - 1 - base) / sw + 1;
                if (hi > g->OW) hi = g->OW;
                if (wv == 0 || lo >= hi) continue;
                for (oh = r0; oh < r1; ++oh) {
                    const long ih = oh * g->SH - g->PH + kh * g->DH;
                    const float *restrict x;
                    FX_T *restrict a;
                    if (ih < 0 || ih >= g->IH) continue;
                    x = x0 + c * isz + (size_t)ih * (size_t)g->IW + (size_t)(lo * sw + base);
                    a = acc + (size_t)(oh - r0) * (size_t)g->OW + (size_t)lo;
                    if (sw == 1)
                        for (j = 0; j < hi - lo; ++j) a[j] += (FX_T)x[j] * wv;
                    else
                        for (j = 0; j < hi - lo; ++j) a[j] += (FX_T)x[j * sw] * wv;
                }
            }
    }
}

/* y[i] = the rounding of acc[i] * s * 2^sh + b (s = 2^(fx + fw): the exact integer sum) */
static inline FX_ALWAYS void FX_N(store)(float *restrict y, const FX_T *restrict acc, size_t n, FX_T s, int sh,
                                         int64_t b, int fa, int fo, int32_t top)
{
    const float inv = nnbrt_fixed_inv(fo);
    size_t i;
    if (fo < fa) {
        const int k = fa - fo;
        const int64_t half = (int64_t)1 << (k - 1);
        for (i = 0; i < n; ++i)
            y[i] = (float)nnbrt_fixed_down((int64_t)((uint64_t)FX_INT(acc[i] * s) << sh) + b, k, half, top) * inv;
    } else {
        for (i = 0; i < n; ++i)
            y[i] = (float)nnbrt_fixed_up((int64_t)((uint64_t)FX_INT(acc[i] * s) << sh) + b, fo - fa, top) * inv;
    }
}

/* The convolution, per image and output channel, the plane in chunks of rows: the wide form
   over the input itself (stride 1, no padding) or, for padding or stride, over a copy of the
   group's Cg input planes in buf, zero-padded and split into SH x SW phase planes (when it
   fits; fx_phases); else the row form. buf: nbytes of 64-byte aligned scratch for the copy
   and the sums; NULL: the float form sums in the output plane itself (row form). */
static inline FX_ALWAYS void FX_N(conv)(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in,
                                        const int *fin, const nnbrt_tensor *out, int fout, int32_t top,
                                        void *buf, size_t nbytes)
{
    const size_t Cg = (size_t)g->C / G, OCg = (size_t)g->OC / G, ksz = (size_t)g->KH * (size_t)g->KW;
    const size_t isz = (size_t)g->IH * (size_t)g->IW, osz = (size_t)g->OH * (size_t)g->OW;
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW;
    const size_t qh = ((size_t)g->IH + 2u * (size_t)g->PH + SH - 1u) / SH;
    const size_t qw = ((size_t)g->IW + 2u * (size_t)g->PW + SW - 1u) / SW;
    const size_t psz = qh * qw, pbytes = (Cg * SH * SW * psz * sizeof(float) + 63u) / 64u * 64u;
    const int fxw = fin[0] + fin[1], fa = nin > 2 && fin[2] > fxw ? fin[2] : fxw;
    const int direct = buf && SH == 1 && SW == 1 && g->PH == 0 && g->PW == 0 &&
                       g->OH + g->DH * (g->KH - 1) <= g->IH && g->OW + g->DW * (g->KW - 1) <= g->IW;
    const int copy = buf && !direct && (size_t)g->OW + (size_t)(g->DW * (g->KW - 1)) / SW <= qw &&
                     (size_t)g->OH + (size_t)(g->DH * (g->KH - 1)) / SH <= qh && pbytes + qw * sizeof(FX_T) <= nbytes;
    const size_t ip = copy ? qw : (size_t)g->IW, pitch = direct || copy ? ip : (size_t)g->OW;
    const size_t nacc = (nbytes - (copy ? pbytes : 0u)) / sizeof(FX_T);
    const long rows = buf ? (long)(nacc / pitch) : g->OH;
    const float sb = nin > 2 ? (float)(1u << fin[2]) : 1.0f;
    float *xq = copy ? (float *)buf : NULL;
    FX_T *abuf = buf ? (FX_T *)(void *)((char *)buf + (copy ? pbytes : 0u)) : NULL;
    FX_T s = 1;
    size_t n, oc;
    long r0, oh;
    int k;
    for (k = 0; k < fxw; ++k) s *= 2;
    for (n = 0; n < g->outer; ++n)
        for (oc = 0; oc < (size_t)g->OC; ++oc) {
            const float *x0 = in[0].data + (n * (size_t)g->C + oc / OCg * Cg) * isz;
            const float *w0 = in[1].data + oc * Cg * ksz;
            float *y = out->data + (n * (size_t)g->OC + oc) * osz;
            const int64_t b =
                nin > 2 ? (int64_t)(int32_t)(in[2].data[oc] * sb) * ((int64_t)1 << (fa - fin[2])) : 0;
            if (xq && oc % OCg == 0) fx_phases(xq, x0, g, Cg, qh, qw);
            for (r0 = 0; r0 < g->OH; r0 += rows) {
                const long r1 = g->OH - r0 < rows ? g->OH : r0 + rows;
                FX_T *acc = abuf;
#if FX_DIRECT
                if (!buf) acc = y + (size_t)r0 * (size_t)g->OW;
#endif
                if (copy)
                    FX_N(wide)(acc, xq, w0, g, Cg, SH * SW * psz, psz, qw, SH, SW, r0, r1);
                else if (direct)
                    FX_N(wide)(acc, x0, w0, g, Cg, isz, isz, (size_t)g->IW, 1u, 1u, r0, r1);
                else
                    FX_N(rows)(acc, x0, w0, g, Cg, isz, r0, r1);
                for (oh = r0; oh < r1; ++oh)
                    FX_N(store)(y + oh * g->OW, acc + (size_t)(oh - r0) * pitch, (size_t)g->OW, s, fa - fxw, b, fa,
                                fout, top);
            }
        }
}

/* Affine: x (outer x inner), W^T[o][k], optional bias[o]; FIXED_LANES partial sums per dot. */
static inline FX_ALWAYS void FX_N(affine)(size_t outer, size_t inner, size_t M, int nin, const nnbrt_tensor *in,
                                          const int *fin, const nnbrt_tensor *out, int fout, int32_t top)
{
    const int fxw = fin[0] + fin[1], fa = nin > 2 && fin[2] > fxw ? fin[2] : fxw;
    const float sb = nin > 2 ? (float)(1u << fin[2]) : 1.0f;
    FX_T s = 1;
    size_t r, o, k, j;
    int e;
    for (e = 0; e < fxw; ++e) s *= 2;
    for (r = 0; r < outer; ++r)
        for (o = 0; o < M; ++o) {
            const float *restrict x = in[0].data + r * inner, *restrict w = in[1].data + o * inner;
            FX_T l[FIXED_LANES], t = 0;
            int64_t v;
            for (j = 0; j < FIXED_LANES; ++j) l[j] = 0;
            for (k = 0; k + FIXED_LANES <= inner; k += FIXED_LANES)
                for (j = 0; j < FIXED_LANES; ++j) l[j] += (FX_T)x[k + j] * (FX_T)w[k + j];
            for (; k < inner; ++k) l[0] += (FX_T)x[k] * (FX_T)w[k];
            for (j = 0; j < FIXED_LANES; ++j) t += l[j];
            v = FX_INT(t * s) * ((int64_t)1 << (fa - fxw));
            if (nin > 2) v += (int64_t)(int32_t)(in[2].data[o] * sb) * ((int64_t)1 << (fa - fin[2]));
            out->data[r * M + o] = nnbrt_fixed_finish1(v, fa, fout, top);
        }
}
