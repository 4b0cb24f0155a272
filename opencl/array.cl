/* Data movement: one strided copy serves Reshape, Identity, Transpose, Slice, Flip, Broadcast, Tile,
 * Unpooling, Concatenate, Split and Stack (the host expresses each as shapes and strides); Pad by index. */

/* P: n, nd, x, y, shape[nd], x_stride[nd], y_stride[nd] */
__kernel void copy_strided(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    int nd = PI(1);
    __global const int *shape = P + p + 4;
    m[PI(3) + strided(i, nd, shape, shape + 2 * nd)] = m[PI(2) + strided(i, nd, shape, shape + nd)];
}

/* The same parameters; one work item per innermost row (the last axis), for CPU devices and long rows. */
__kernel void copy_rows(KARGS)
{
    int i = get_global_id(0);
    int nd = PI(1);
    __global const int *shape = P + p + 4;
    int len = shape[nd - 1];
    if (i >= PI(0) / len)
        return;
    int xo = PI(2) + strided(i, nd - 1, shape, shape + nd);
    int yo = PI(3) + strided(i, nd - 1, shape, shape + 2 * nd);
    int xs = shape[2 * nd - 1], ys = shape[3 * nd - 1];
    for (int k = 0; k < len; ++k)
        m[yo + k * ys] = m[xo + k * xs];
}

/* P: n, x, y: a contiguous copy, 16 values per work item */
__kernel void copy16(KARGS)
{
    int i = get_global_id(0) * 16, n = PI(0);
    if (i >= n)
        return;
    __global const float *x = m + PI(1) + i;
    __global float *y = m + PI(2) + i;
    if (i + 16 <= n) {
        vstore16(vload16(0, x), 0, y);
    } else {
        for (int k = 0; k < n - i; ++k)
            y[k] = x[k];
    }
}

#define PAD_CONSTANT 0
#define PAD_REFLECT 1
#define PAD_REPEAT 2

/* P: n, nd, x, y, mode, value (float bits), out_shape[nd], in_shape[nd], lo[nd]; x and y contiguous */
__kernel void pad(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    int nd = PI(1), mode = PI(4);
    __global const int *oshape = P + p + 6;
    __global const int *ishape = oshape + nd;
    __global const int *lo = ishape + nd;
    int r = i, off = 0, stride = 1;
    for (int d = nd - 1; d >= 0; --d) {
        int o = r % oshape[d], n = ishape[d];
        r /= oshape[d];
        int k = o - lo[d];
        if (k < 0 || k >= n) {
            if (mode == PAD_CONSTANT) {
                m[PI(3) + i] = PF(5);
                return;
            }
            if (mode == PAD_REPEAT) {
                k = clamp(k, 0, n - 1);
            } else if (n == 1) {
                k = 0;
            } else {
                int period = 2 * (n - 1);
                k %= period;
                if (k < 0)
                    k += period;
                if (k >= n)
                    k = period - k;
            }
        }
        off += k * stride;
        stride *= n;
    }
    m[PI(3) + i] = m[PI(2) + off];
}

/* P: n, y, value (float bits) */
__kernel void fill(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    m[PI(1) + i] = PF(2);
}
