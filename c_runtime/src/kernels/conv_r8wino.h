/* Winograd F(2x2, 3x3) form of 3x3 stride-1 convolutions (resnet8's 16- to
   64-channel layers at 8x8 to 32x32). Included once by conv_gemm.c after
   its vector helpers (GV, gvec, VLD/VST, vrelu, vput, nnbrt_deint2), so it is
   compiled per instruction set with it; it runs from weights transformed
   once at load (internal.h NNBRT_PREPARE: conv_engine.c's nnbrt_pack_*
   functions call the entry points below), so the REF, SMALL and
   microcontroller builds, emitted C and NNBRT_PACK=0 keep the other forms.

   Each 2x2 output tile (r, t) is A^T [ sum_c (G g G^T) .* (B^T d B) ] A
   with d the 4x4 padded input patch at rows 2r.., columns 2t..:
       U[xi][oc][c] = (G g[oc][c] G^T)[xi]          (at load, xi = 4 x 4)
       V[xi][c][j]  = (B^T d[c][j] B)[xi]            (per call, j = r*TW + t)
       M[xi][oc][j] = sum_c U[xi][oc][c] V[xi][c][j] (16 small GEMMs)
       y tile       = A^T M A + bias (+ residual, activation)
   2.25x fewer multiply-adds than the direct form; the transforms are adds
   only (G has halves), so results stay within float rounding of it.
   Tiles are vectorised along the flat tile index j (GV tiles a vector: a
   vector covers part of a tile row, or whole tile rows of a narrow map), in
   chunks whose V (16 x C x chunk floats) stays in L1/L2:
   - input transform, per channel: each padded input row is split into even
     and odd columns (nnbrt_deint2) and transformed along the row into the four
     values per tile column (R[k][row parity][row/2][t]); R is then linear
     in j for every tap row, so the column transform reads vectors of it.
   - GEMM: per block of WR output channels and per xi, WR channels x 2
     vectors of tiles in registers over C (U packed [block][xi][c][WR]).
   - output transform per channel: 4 result vectors per tile vector, the
     two of each output row interleaved by a shuffle into output order.
   Layers it takes: 3x3, stride and dilation 1, ungrouped, unpooled,
   padding <= 2, C >= 16, OC >= 8, any output size (ResNet-18's 56/28/14/7):
   a vector of tiles may span tile rows (R is linear in j across rows), the
   tiles are rounded up to whole vectors (those past the image read zeros and
   are not stored), and an odd output's last tile row / column is stored in
   part. Vectors inside one tile row of an even map store whole vectors;
   the others store runs of tiles row by row. */
#ifndef NNBRT_CONV_R8WINO_H
#define NNBRT_CONV_R8WINO_H
#include "conv_r8.h"

#ifdef NNBRT_PREPARE
#if GV >= 8 && NNBRT_GEMM_IM2COL_MAX != 0
#if GV >= 16
#define WR 8 /* output channels per GEMM block: 8 x 2 vectors accumulate */
#define WLO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define WHI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#else
#define WR 4
#define WLO 0, 8, 1, 9, 2, 10, 3, 11
#define WHI 4, 12, 5, 13, 6, 14, 7, 15
#endif
#ifndef NNBRT_WINO_V_MAX
#define NNBRT_WINO_V_MAX 32768 /* C x chunk tiles per xi: ResNet-18's 7x7x512 layer in one chunk (its U, 16 MB, read once) */
#endif

typedef struct {
    size_t C, OC, nb;    /* channels, output channels, blocks of WR */
    size_t TH, TW, T;    /* tile rows, tile columns, tiles per image */
    size_t Tp;           /* T rounded up to whole vectors (the tiles past T are computed from zeros, not stored) */
    size_t nt;           /* tiles per chunk: a multiple of GV dividing Tp */
    size_t rrows;        /* rows per parity in R (a chunk's tile rows + 2, at most) */
    size_t eo;           /* floats of each even/odd column buffer (one per padded row, two channels) */
    size_t xs, ms;       /* floats per xi in V and in M */
    size_t rs;           /* floats of one channel's R (two channels' are kept) */
    size_t o_r, o_v, o_m, total; /* scratch float offsets of R, V, M; floats in all (64-byte units) */
} wplan;

static size_t w16(size_t n) { return (n + 15u) & ~(size_t)15u; }

static int mkwplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, wplan *q)
{
    size_t tv, nv;
#ifdef NNBRT_NO_WINO /* -DNNBRT_NO_WINO: the other forms (A/B measurements) */
    return 0;
#endif
    if (group != 1 || (f && f->pool) || g->KH != 3 || g->KW != 3 || g->SH != 1 || g->SW != 1 || g->DH != 1 ||
        g->DW != 1)
        return 0;
    /* 16 input channels or more: on fewer (unet_tiny's 8 -> 16 layer) the transforms cost what the GEMMs save */
    if (g->C < 16 || g->OC < 8 || g->C > 4096 || g->OC > 4096 || g->PH < 0 || g->PW < 0 || g->PH > 2 || g->PW > 2)
        return 0;
    if (g->OH < 2 || g->OW < 2 || g->OH > 4096 || g->OW > 4096) return 0;
    if ((long)g->OH != (long)g->IH + 2L * g->PH - 2 || (long)g->OW != (long)g->IW + 2L * g->PW - 2) return 0;
    q->C = (size_t)g->C;
    q->OC = (size_t)g->OC;
    q->nb = (q->OC + WR - 1) / WR;
    /* odd output sizes: the last tile row / column is half outside (its input past the padding reads zeros) */
    q->TH = ((size_t)g->OH + 1u) / 2u;
    q->TW = ((size_t)g->OW + 1u) / 2u;
    q->T = q->TH * q->TW;
    q->Tp = (q->T + GV - 1u) / GV * GV;
    tv = q->Tp / GV;
    /* vectors per chunk: the most (<= 4, at most the image's) whose V fits NNBRT_WINO_V_MAX, at least one;
       the last chunk may be shorter */
    for (nv = 4; nv > 1; --nv)
        if (nv <= tv && nv * GV * q->C <= NNBRT_WINO_V_MAX) break;
    q->nt = nv * GV;
    q->rrows = q->nt / q->TW + 3u;
    q->eo = w16(q->TW + 2u + GV);
    q->o_r = 8u * q->rrows * q->eo;
    q->rs = w16(8u * q->rrows * q->TW + GV);
    q->o_v = q->o_r + 2u * q->rs;
    /* a line more per xi: the 16 stores (loads) of one tile vector do not all fall in one L1 set */
    q->xs = q->C * q->nt + 16u;
    q->ms = WR * q->nt + 16u;
    q->o_m = q->o_v + 16u * q->xs;
    q->total = q->o_m + 16u * q->ms;
    return 1;
}

size_t nnbrt_wino_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    wplan q;
    if (!mkwplan(group, g, f, &q)) return 0;
    return (16u * q.C * q.nb * WR + q.nb * WR) * sizeof(float);
}

size_t nnbrt_wino_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    wplan q;
    if (!mkwplan(group, g, f, &q)) return 0;
    return q.total * sizeof(float) + 64u; /* + alignment */
}

int nnbrt_wino_pack_first(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    wplan q;
    if (!mkwplan(group, g, f, &q)) return 0;
    /* each transformed weight used by two vectors of tiles or more: ResNet-18's 56x56, 28x28 and 14x14 layers
       (0.70, 0.74, 0.90 of the GEMM's time); its 7x7x512 ones (16 tiles: 1.3x the GEMM's time) read their
       16 MB of U once per 16 tiles */
    return q.T * g->outer >= 2u * GV;
}

/* U = G g G^T per (oc, c), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1], packed
   [block][xi][c][WR] (zero channels pad the last block), then the biases */
void nnbrt_wino_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                          void *dst)
{
    wplan q;
    float *d = (float *)dst;
    size_t oc, c, i, j, xi;
    if (!mkwplan(group, g, f, &q)) return;
    for (oc = 0; oc < q.nb * WR; ++oc)
        for (c = 0; c < q.C; ++c) {
            double t[4][3], u[4][4];
            const float *k = w + (oc * q.C + c) * 9u;
            for (j = 0; j < 3; ++j) {
                const double a = oc < q.OC ? k[j] : 0.0, b = oc < q.OC ? k[3 + j] : 0.0,
                             e = oc < q.OC ? k[6 + j] : 0.0;
                t[0][j] = a;
                t[1][j] = 0.5 * (a + b + e);
                t[2][j] = 0.5 * (a - b + e);
                t[3][j] = e;
            }
            for (i = 0; i < 4; ++i) {
                u[i][0] = t[i][0];
                u[i][1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            for (xi = 0; xi < 16; ++xi)
                d[((oc / WR * 16u + xi) * q.C + c) * WR + oc % WR] = (float)u[xi / 4][xi % 4];
        }
    d += 16u * q.C * q.nb * WR;
    for (oc = 0; oc < q.nb * WR; ++oc) d[oc] = oc < q.OC && bias ? bias[oc] : 0.0f;
}

/* The row transform of one padded input row (even columns e, odd o, TW + 1
   each): r0..r3[t] for the four B^T rows, by vectors then single floats. */
static void wrow(float *restrict r0, float *restrict r1, float *restrict r2, float *restrict r3,
                 const float *restrict e, const float *restrict o, size_t TW)
{
    size_t t = 0;
    for (; t + GV <= TW; t += GV) {
        gvec e0, e1, o0, o1, v;
        VLD(e0, e + t);
        VLD(e1, e + t + 1);
        VLD(o0, o + t);
        VLD(o1, o + t + 1);
        v = e0 - e1;
        VST(r0 + t, v);
        v = o0 + e1;
        VST(r1 + t, v);
        v = e1 - o0;
        VST(r2 + t, v);
        v = o0 - o1;
        VST(r3 + t, v);
    }
    for (; t < TW; ++t) {
        r0[t] = e[t] - e[t + 1];
        r1[t] = o[t] + e[t + 1];
        r2[t] = e[t + 1] - o[t];
        r3[t] = o[t] - o[t + 1];
    }
}

/* R channels x NV vectors of tiles for one xi: V rows (per c) vs floats
   apart from v, U at u (WR per c), results to m (channel rows ms apart). */
#define WMICRO(R, NV)                                                                                   \
    static void wmicro_##R##_##NV(const float *v, size_t vs, size_t C, const float *u, float *m, size_t ms) \
    {                                                                                                   \
        gvec acc[R][NV];                                                                                \
        size_t c;                                                                                       \
        int i, t;                                                                                       \
        for (i = 0; i < R; ++i)                                                                         \
            for (t = 0; t < NV; ++t) acc[i][t] = (gvec){0};                                             \
        for (c = 0; c < C; ++c, v += vs, u += WR) {                                                     \
            gvec b[NV];                                                                                 \
            for (t = 0; t < NV; ++t) VLD(b[t], v + (size_t)t * GV);                                     \
            for (i = 0; i < R; ++i) {                                                                   \
                const float s = u[i];                                                                   \
                for (t = 0; t < NV; ++t) acc[i][t] += s * b[t];                                         \
            }                                                                                           \
        }                                                                                               \
        for (i = 0; i < R; ++i)                                                                         \
            for (t = 0; t < NV; ++t) VST(m + (size_t)i * ms + (size_t)t * GV, acc[i][t]);              \
    }
WMICRO(WR, 2)
WMICRO(WR, 1)

/* y at p (and res at the same offset): act(z (+ res)), one vector (conv_act.h) */
NNBRT_VPUT_FN(vput, gvec, vrelu, VLD, VST)

/* n floats of an output row segment: y = act(t (+ res)) */
static void wseg(float *y, const float *t, const float *res, size_t n, int act)
{
    size_t j = 0;
    for (; j + GV <= n; j += GV) {
        gvec z;
        VLD(z, t + j);
        vput(y, res, j, z, act);
    }
    for (; j < n; ++j) {
        float v = t[j] + (res ? res[j] : 0.0f);
        y[j] = act ? nnbrt_relu(v, act) : v;
    }
}

/* One image: x (C x IH x IW) to y (OC x OH x OW), residual res or NULL */
static void wino_image(const wplan *q, float *s, const float *pk, const float *x, float *y, const float *res,
                       const nnbrt_geom *g, int act)
{
    const size_t TW = q->TW, nt = q->nt, C = q->C, OW = (size_t)g->OW, OH = (size_t)g->OH, P = OH * OW;
    const size_t IH = (size_t)g->IH, IW = (size_t)g->IW, PH = (size_t)g->PH, PW = (size_t)g->PW;
    const size_t ks = 2u * q->rrows * TW; /* R: [k][parity][row][t] */
    float *eb = s, *rb = s + q->o_r, *vb = s + q->o_v, *mb = s + q->o_m;
    const float *bias = pk + 16u * C * q->nb * WR;
    const size_t chs = 4u * q->rrows * q->eo; /* floats of one channel's column buffers */
    size_t j0;
    memset(eb, 0, 2u * chs * sizeof(float)); /* the padding columns stay zero */
    for (j0 = 0; j0 < q->Tp; j0 += nt) {
        const size_t ntc = q->Tp - j0 < nt ? q->Tp - j0 : nt; /* tiles in this chunk (strides stay nt) */
        const size_t r0 = j0 / TW, r1 = (j0 + ntc - 1u) / TW, nrow = 2u * (r1 - r0 + 2u);
        size_t c, b, v, i, xi, rr;
        /* input transform in three steps a channel apart: channel c's rows split into even and odd
           columns, c - 1's transformed along the rows, c - 2's down the columns (a vector read of data
           just stored at another alignment would stall store forwarding) */
        for (c = 0; c <= C + 1u; ++c) {
            if (c < C) {
                float *e = eb + (c % 2u) * chs;
                for (rr = 0; rr < nrow; ++rr, e += 2u * q->eo) {
                    const size_t h = 2u * r0 + rr; /* padded row */
                    if (h >= PH && h - PH < IH) /* even input columns to (PW % 2) at PW / 2, odd to the other */
                        nnbrt_deint2(x + (c * IH + h - PH) * IW, e + (PW % 2u) * q->eo + PW / 2u,
                               e + ((PW + 1u) % 2u) * q->eo + (PW + 1u) / 2u, IW);
                }
            }
            for (rr = 0; c >= 1u && c <= C && rr < nrow; ++rr) {
                const size_t h = 2u * r0 + rr;
                const float *e = eb + ((c - 1u) % 2u) * chs + rr * 2u * q->eo;
                float *r = rb + ((c - 1u) % 2u) * q->rs + ((rr % 2u) * q->rrows + rr / 2u) * TW; /* [k][par][row][t] */
                if (h < PH || h - PH >= IH) {
                    size_t k, t;
                    for (k = 0; k < 4u; ++k)
                        for (t = 0; t < TW; ++t) r[k * ks + t] = 0.0f;
                    continue;
                }
                wrow(r, r + ks, r + 2u * ks, r + 3u * ks, e, e + q->eo, TW);
            }
            for (v = 0; c >= 2u && v < ntc; v += GV) {
                const float *r = rb + (c % 2u) * q->rs + (j0 + v - r0 * TW);
                gvec d[4][4], o[16];
                size_t k, dy;
                for (k = 0; k < 4u; ++k)
                    for (dy = 0; dy < 4u; ++dy) VLD(d[k][dy], r + k * ks + (dy % 2u) * q->rrows * TW + (dy / 2u) * TW);
                for (k = 0; k < 4u; ++k) {
                    o[k] = d[k][0] - d[k][2];
                    o[4 + k] = d[k][1] + d[k][2];
                    o[8 + k] = d[k][2] - d[k][1];
                    o[12 + k] = d[k][1] - d[k][3];
                }
                for (xi = 0; xi < 16u; ++xi) VST(vb + xi * q->xs + (c - 2u) * nt + v, o[xi]);
            }
        }
        /* GEMMs and the output transform, a block of WR output channels at a time */
        for (b = 0; b < q->nb; ++b) {
            const size_t nr = q->OC - b * WR < WR ? q->OC - b * WR : WR;
            for (xi = 0; xi < 16u; ++xi) {
                const float *u = pk + (b * 16u + xi) * C * WR, *vx = vb + xi * q->xs;
                float *m = mb + xi * q->ms;
                for (v = 0; v + 2u * GV <= ntc; v += 2u * GV) wmicro_WR_2(vx + v, nt, C, u, m + v, nt);
                if (v < ntc) wmicro_WR_1(vx + v, nt, C, u, m + v, nt);
            }
            for (i = 0; i < nr; ++i) {
                const size_t oc = b * WR + i;
                float *yc = y + oc * P;
                const float *rc = res ? res + oc * P : NULL;
                const float bv = bias[oc];
                for (v = 0; v < ntc; v += GV) {
                    const float *m = mb + i * nt + v;
                    const size_t j = j0 + v, r = j / TW, t = j % TW;
                    gvec mm[16], s0[4], s1[4], y00, y01, y10, y11, z[4];
                    size_t ky;
                    for (xi = 0; xi < 16u; ++xi) VLD(mm[xi], m + xi * q->ms);
                    for (ky = 0; ky < 4u; ++ky) {
                        s0[ky] = mm[ky * 4u] + mm[ky * 4u + 1u] + mm[ky * 4u + 2u];
                        s1[ky] = mm[ky * 4u + 1u] - mm[ky * 4u + 2u] - mm[ky * 4u + 3u];
                    }
                    y00 = s0[0] + s0[1] + s0[2] + bv;
                    y10 = s0[1] - s0[2] - s0[3] + bv;
                    y01 = s1[0] + s1[1] + s1[2] + bv;
                    y11 = s1[1] - s1[2] - s1[3] + bv;
                    z[0] = NNBRT_VSHUF(gveci, y00, y01, WLO); /* output row 2r: columns 2t, 2t+1, ... */
                    z[1] = NNBRT_VSHUF(gveci, y00, y01, WHI);
                    z[2] = NNBRT_VSHUF(gveci, y10, y11, WLO); /* row 2r + 1 */
                    z[3] = NNBRT_VSHUF(gveci, y10, y11, WHI);
                    if (TW % GV == 0 && OW % 2u == 0 && 2u * r + 1u < OH) { /* the vector: GV tiles of tile row r */
                        const size_t p = 2u * r * OW + 2u * t;
                        vput(yc, rc, p, z[0], act);
                        vput(yc, rc, p + GV, z[1], act);
                        vput(yc, rc, p + OW, z[2], act);
                        vput(yc, rc, p + OW + GV, z[3], act);
                    } else if (OW == GV && j + GV <= q->T && OH % 2u == 0) { /* two tile rows: each half one output row */
                        const size_t p = 2u * r * OW;
                        vput(yc, rc, p, z[0], act);
                        vput(yc, rc, p + 2u * OW, z[1], act);
                        vput(yc, rc, p + OW, z[2], act);
                        vput(yc, rc, p + 3u * OW, z[3], act);
                    } else { /* any other: the vector's tiles by runs within one tile row, clipped to the image */
                        float tb[4 * GV];
                        size_t l, zi;
                        for (zi = 0; zi < 4u; ++zi) VST(tb + zi * GV, z[zi]);
                        for (l = 0; l < GV && j + l < q->T;) {
                            const size_t jj = j + l, rr2 = jj / TW, tt = jj % TW;
                            const size_t nn = GV - l < TW - tt ? GV - l : TW - tt;
                            const size_t cnt = 2u * nn < OW - 2u * tt ? 2u * nn : OW - 2u * tt;
                            size_t p = 2u * rr2 * OW + 2u * tt;
                            wseg(yc + p, tb + 2u * l, rc ? rc + p : NULL, cnt, act);
                            if (2u * rr2 + 1u < OH) {
                                p += OW;
                                wseg(yc + p, tb + 2u * GV + 2u * l, rc ? rc + p : NULL, cnt, act);
                            }
                            l += nn;
                        }
                    }
                }
            }
        }
    }
}

int nnbrt_wino_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                         const nnbrt_fuse *f)
{
    wplan q;
    size_t n, in_n, out_n;
    uintptr_t xa = (uintptr_t)x, ya = (uintptr_t)y;
    float *s;
    if (!pk || !scratch || !mkwplan(group, g, f, &q)) return 0;
    in_n = (size_t)g->C * (size_t)g->IH * (size_t)g->IW;
    out_n = q.OC * (size_t)g->OH * (size_t)g->OW;
    /* an output over its input: the engine's forms (the tiles read rows a chunk ahead) */
    if (ya < xa + g->outer * in_n * sizeof(float) && xa < ya + g->outer * out_n * sizeof(float)) return 0;
    s = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    for (n = 0; n < g->outer; ++n)
        wino_image(&q, s, (const float *)pk, x + n * in_n, y + n * out_n, f && f->res ? f->res + n * out_n : NULL, g,
                   f ? f->act : 0);
    return 1;
}
#else
size_t nnbrt_wino_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    (void)group;
    (void)g;
    (void)f;
    return 0;
}
size_t nnbrt_wino_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    (void)group;
    (void)g;
    (void)f;
    return 0;
}
void nnbrt_wino_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                          void *dst)
{
    (void)group;
    (void)g;
    (void)f;
    (void)w;
    (void)bias;
    (void)dst;
}
int nnbrt_wino_pack_first(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    (void)group;
    (void)g;
    (void)f;
    return 0;
}
int nnbrt_wino_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                         const nnbrt_fuse *f)
{
    (void)group;
    (void)scratch;
    (void)pk;
    (void)x;
    (void)y;
    (void)g;
    (void)f;
    return 0;
}
#endif
#endif /* NNBRT_PREPARE */

#endif
