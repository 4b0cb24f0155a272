/* Max / Average / Sum pooling over nk trailing (or channel_last: before-last) axes. */

#define POOL_NONE 0
#define POOL_MAX 1
#define POOL_AVERAGE 2
#define POOL_SUM 3

/* max pooling's step, as nnabla 1.39: the later cell v wins only if greater, so a NaN v is skipped and a NaN m
 * stays (fmax would return the number); each window starts from its first valid cell (a NaN there is the result) */
float pool_max_step(float m, float v)
{
    return v > m ? v : m;
}

/* divisor of one window along one axis (nnabla's rule, nnb/ops/pooling.py _divisor) */
int pool_div(int o, int n, int k, int s, int pd, int including_pad)
{
    int start = o * s - pd;
    int end = min(start + k, n + pd);
    if (including_pad)
        return end - start;
    return min(end, n) - max(start, 0);
}

/* P: op, n, x, y, outer, inner, nk, including_pad, in[nk], out[nk], k[nk], s[nk], pad[nk]
 * x is (outer, in..., inner), y (outer, out..., inner), both contiguous. */
__kernel void pool(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    int op = PI(0), inner = PI(5), nk = PI(6);
    __global const int *in = P + p + 8;
    __global const int *out = in + nk;
    __global const int *ker = out + nk;
    __global const int *st = ker + nk;
    __global const int *pd = st + nk;
    int r = i / inner, c = i % inner;
    int pos[4], taps = 1, insize = 1;
    for (int d = nk - 1; d >= 0; --d) {
        pos[d] = r % out[d];
        r /= out[d];
        taps *= ker[d];
        insize *= in[d];
    }
    int xbase = PI(2) + r * insize * inner + c;
    float acc = op == POOL_MAX ? -INFINITY : 0.0f;
    int first = 1;
    for (int t = 0; t < taps; ++t) {
        int tt = t, off = 0, mul = 1, inside = 1;
        for (int d = nk - 1; d >= 0; --d) {
            int q = pos[d] * st[d] - pd[d] + tt % ker[d];
            tt /= ker[d];
            inside &= (q >= 0) & (q < in[d]);
            off += q * mul;
            mul *= in[d];
        }
        if (!inside)
            continue;
        float v = m[xbase + off * inner];
        acc = op != POOL_MAX ? acc + v : first ? v : pool_max_step(acc, v);
        first = 0;
    }
    if (op == POOL_AVERAGE) {
        int div = 1;
        for (int d = 0; d < nk; ++d)
            div *= pool_div(pos[d], in[d], ker[d], st[d], pd[d], PI(7));
        acc /= (float)div;
    }
    m[PI(3) + i] = acc;
}

/* 2-D pooling over the last two axes (outer = every leading axis, inner = 1): the window clipped to the input
 * once per output instead of a bounds test per tap.  Same parameters as pool with nk = 2. */
__kernel void pool2d(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    int op = PI(0);
    int H = PI(8), W = PI(9), OH = PI(10), OW = PI(11), KH = PI(12), KW = PI(13);
    int SY = PI(14), SX = PI(15), PY = PI(16), PX = PI(17);
    int ox = i % OW, r = i / OW;
    int oy = r % OH;
    r /= OH;
    int y0 = oy * SY - PY, x0 = ox * SX - PX;
    int ya = max(y0, 0), yb = min(y0 + KH, H), xa = max(x0, 0), xb = min(x0 + KW, W);
    __global const float *x = m + PI(2) + r * H * W;
    float acc = op != POOL_MAX ? 0.0f : ya < yb && xa < xb ? x[ya * W + xa] : -INFINITY;
    for (int yy = ya; yy < yb; ++yy)
        for (int xx = xa; xx < xb; ++xx)
            acc = op == POOL_MAX ? pool_max_step(acc, x[yy * W + xx]) : acc + x[yy * W + xx];
    if (op == POOL_AVERAGE)
        acc /= (float)(pool_div(oy, H, KH, SY, PY, PI(7)) * pool_div(ox, W, KW, SX, PX, PI(7)));
    m[PI(3) + i] = acc;
}
