/* Convolution, DepthwiseConvolution, FusedConv (conv + bias + pool + residual + activation) and
 * Deconvolution: the simple path, one work item per output value, any layout through strides.
 * Up to 3 spatial axes (the host pads missing ones with size 1). */

#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_RELU6 2

/* parameter layout of conv (indices into P + p) */
#define C_N_OUT 0
#define C_X 1
#define C_W 2
#define C_B 3      /* -1: no bias */
#define C_R 4      /* -1: no residual (same layout as y) */
#define C_Y 5
#define C_BATCH 6
#define C_CIN 7
#define C_COUT 8
#define C_GROUP 9
#define C_IN 10    /* [3] input spatial */
#define C_CO 13    /* [3] convolution output spatial */
#define C_K 16     /* [3] kernel */
#define C_PAD 19
#define C_STRIDE 22
#define C_DIL 25
#define C_XS 28    /* x strides: n, c, sp[3] */
#define C_WS 33    /* w strides: o, c, k[3] */
#define C_YS 38    /* y strides: n, o, sp[3] */
#define C_POOL 43  /* POOL_NONE, POOL_MAX, POOL_AVERAGE */
#define C_PO 44    /* [3] final (pooled) output spatial */
#define C_PK 47
#define C_PS 50
#define C_PP 53
#define C_PINCL 56
#define C_ACT 57
#define C_NPARAMS 58

float act(int a, float v)
{
    if (a == ACT_RELU)
        return fmax(v, 0.0f);
    if (a == ACT_RELU6)
        return fmin(fmax(v, 0.0f), 6.0f);
    return v;
}

/* one convolution output (before pooling) at spatial position q[3] of output channel o, image n */
float conv_at(__global const float *m, __global const int *Q, int n, int o, int q0, int q1, int q2)
{
    int cg = Q[C_CIN] / Q[C_GROUP], og = Q[C_COUT] / Q[C_GROUP];
    int c0 = (o / og) * cg;
    float acc = Q[C_B] >= 0 ? m[Q[C_B] + o] : 0.0f;
    int i0 = q0 * Q[C_STRIDE] - Q[C_PAD], i1 = q1 * Q[C_STRIDE + 1] - Q[C_PAD + 1];
    int i2 = q2 * Q[C_STRIDE + 2] - Q[C_PAD + 2];
    __global const float *x = m + Q[C_X] + n * Q[C_XS];
    __global const float *w = m + Q[C_W] + o * Q[C_WS];
    for (int c = 0; c < cg; ++c) {
        __global const float *xc = x + (c0 + c) * Q[C_XS + 1];
        __global const float *wc = w + c * Q[C_WS + 1];
        for (int k0 = 0; k0 < Q[C_K]; ++k0) {
            int z0 = i0 + k0 * Q[C_DIL];
            if (z0 < 0 || z0 >= Q[C_IN])
                continue;
            for (int k1 = 0; k1 < Q[C_K + 1]; ++k1) {
                int z1 = i1 + k1 * Q[C_DIL + 1];
                if (z1 < 0 || z1 >= Q[C_IN + 1])
                    continue;
                for (int k2 = 0; k2 < Q[C_K + 2]; ++k2) {
                    int z2 = i2 + k2 * Q[C_DIL + 2];
                    if (z2 < 0 || z2 >= Q[C_IN + 2])
                        continue;
                    acc += xc[z0 * Q[C_XS + 2] + z1 * Q[C_XS + 3] + z2 * Q[C_XS + 4]] *
                           wc[k0 * Q[C_WS + 2] + k1 * Q[C_WS + 3] + k2 * Q[C_WS + 4]];
                }
            }
        }
    }
    return acc;
}

/* one final output (after pooling, residual and activation) at (n, o, f0, f1, f2) */
void conv_out(__global float *m, __global const int *Q, int n, int o, int f0, int f1, int f2)
{
    float v;
    if (Q[C_POOL] == 0) {
        v = conv_at(m, Q, n, o, f0, f1, f2);
    } else {
        int pmax = Q[C_POOL] == 1;
        v = pmax ? -INFINITY : 0.0f;
        int first = 1; /* max: from the window's first valid cell (pool.cl pool_max_step) */
        int s0 = f0 * Q[C_PS] - Q[C_PP], s1 = f1 * Q[C_PS + 1] - Q[C_PP + 1], s2 = f2 * Q[C_PS + 2] - Q[C_PP + 2];
        for (int a = s0; a < s0 + Q[C_PK]; ++a) {
            if (a < 0 || a >= Q[C_CO])
                continue;
            for (int b = s1; b < s1 + Q[C_PK + 1]; ++b) {
                if (b < 0 || b >= Q[C_CO + 1])
                    continue;
                for (int c = s2; c < s2 + Q[C_PK + 2]; ++c) {
                    if (c < 0 || c >= Q[C_CO + 2])
                        continue;
                    float u = conv_at(m, Q, n, o, a, b, c);
                    v = !pmax ? v + u : first ? u : pool_max_step(v, u);
                    first = 0;
                }
            }
        }
        if (!pmax) {
            int incl = Q[C_PINCL];
            v /= (float)(pool_div(f0, Q[C_CO], Q[C_PK], Q[C_PS], Q[C_PP], incl) *
                         pool_div(f1, Q[C_CO + 1], Q[C_PK + 1], Q[C_PS + 1], Q[C_PP + 1], incl) *
                         pool_div(f2, Q[C_CO + 2], Q[C_PK + 2], Q[C_PS + 2], Q[C_PP + 2], incl));
        }
    }
    int yo = n * Q[C_YS] + o * Q[C_YS + 1] + f0 * Q[C_YS + 2] + f1 * Q[C_YS + 3] + f2 * Q[C_YS + 4];
    if (Q[C_R] >= 0)
        v += m[Q[C_R] + yo];
    m[Q[C_Y] + yo] = act(Q[C_ACT], v);
}

__kernel void conv(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    if (i >= Q[C_N_OUT])
        return;
    int r = i;
    int f2 = r % Q[C_PO + 2]; r /= Q[C_PO + 2];
    int f1 = r % Q[C_PO + 1]; r /= Q[C_PO + 1];
    int f0 = r % Q[C_PO]; r /= Q[C_PO];
    conv_out(m, Q, r / Q[C_COUT], r % Q[C_COUT], f0, f1, f2);
}

/* The same, one work item per output plane (n, o): CPU devices, where long work items run faster. */
__kernel void conv_plane(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    if (i >= Q[C_BATCH] * Q[C_COUT])
        return;
    for (int f0 = 0; f0 < Q[C_PO]; ++f0)
        for (int f1 = 0; f1 < Q[C_PO + 1]; ++f1)
            for (int f2 = 0; f2 < Q[C_PO + 2]; ++f2)
                conv_out(m, Q, i / Q[C_COUT], i % Q[C_COUT], f0, f1, f2);
}

/* Deconvolution (NC..., contiguous), gathered: y[n, o, q] = b[o] + sum over the group's input channels c and
 * taps k with q + pad - k * dil = t * stride, 0 <= t < in, of x[n, c, t] * w[c, o % (O/G), k].
 * P: n, x, w, b, y, batch, C, O, G, in[3], out[3], k[3], pad[3], stride[3], dil[3] */
void deconv_at(__global float *m, __global const int *Q, int n, int o, int q0, int q1, int q2)
{
    __global const int *in = Q + 9, *out = Q + 12, *k = Q + 15, *pd = Q + 18, *st = Q + 21, *dl = Q + 24;
    int C = Q[6], O = Q[7], G = Q[8];
    int cg = C / G, og = O / G, g = o / og, ol = o % og;
    int insz = in[0] * in[1] * in[2], ksz = k[0] * k[1] * k[2];
    float acc = Q[3] >= 0 ? m[Q[3] + o] : 0.0f;
    for (int k0 = 0; k0 < k[0]; ++k0) {
        int t0 = q0 + pd[0] - k0 * dl[0];
        if (t0 < 0 || t0 % st[0])
            continue;
        t0 /= st[0];
        if (t0 >= in[0])
            continue;
        for (int k1 = 0; k1 < k[1]; ++k1) {
            int t1 = q1 + pd[1] - k1 * dl[1];
            if (t1 < 0 || t1 % st[1])
                continue;
            t1 /= st[1];
            if (t1 >= in[1])
                continue;
            for (int k2 = 0; k2 < k[2]; ++k2) {
                int t2 = q2 + pd[2] - k2 * dl[2];
                if (t2 < 0 || t2 % st[2])
                    continue;
                t2 /= st[2];
                if (t2 >= in[2])
                    continue;
                int xo = (t0 * in[1] + t1) * in[2] + t2;
                int wo = (k0 * k[1] + k1) * k[2] + k2;
                for (int c = g * cg; c < (g + 1) * cg; ++c)
                    acc += m[Q[1] + (n * C + c) * insz + xo] * m[Q[2] + (c * og + ol) * ksz + wo];
            }
        }
    }
    m[Q[4] + ((n * O + o) * out[0] + q0) * out[1] * out[2] + q1 * out[2] + q2] = acc;
}

__kernel void deconv(KARGS)
{
    int i = get_global_id(0);
    __global const int *Q = P + p;
    if (i >= Q[0])
        return;
    __global const int *out = Q + 12;
    int r = i;
    int q2 = r % out[2]; r /= out[2];
    int q1 = r % out[1]; r /= out[1];
    int q0 = r % out[0]; r /= out[0];
    deconv_at(m, Q, r / Q[7], r % Q[7], q0, q1, q2);
}
