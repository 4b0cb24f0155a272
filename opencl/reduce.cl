/* Reductions (Sum, Mean, Max, Min, Prod, GlobalAveragePooling) and Softmax / LogSoftmax. */

#define R_SUM 0
#define R_MEAN 1
#define R_MAX 2
#define R_MIN 3
#define R_PROD 4

/* P: op, n, x, y, nd_o, nd_r, o_shape[nd_o], o_stride[nd_o], r_shape[nd_r], r_stride[nd_r]; y contiguous.
 * One work item per output: it walks the reduced axes of its input slice. */
__kernel void reduce(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    int op = PI(0), ndo = PI(4), ndr = PI(5);
    __global const int *oshape = P + p + 6;
    __global const int *rshape = oshape + 2 * ndo;
    int base = PI(2) + strided(i, ndo, oshape, oshape + ndo);
    int count = 1;
    for (int d = 0; d < ndr; ++d)
        count *= rshape[d];
    float acc = op == R_MAX ? -INFINITY : (op == R_MIN ? INFINITY : (op == R_PROD ? 1.0f : 0.0f));
    for (int k = 0; k < count; ++k) {
        float v = m[base + strided(k, ndr, rshape, rshape + ndr)];
        switch (op) {
        case R_MAX: acc = fmax(acc, v); break;
        case R_MIN: acc = fmin(acc, v); break;
        case R_PROD: acc *= v; break;
        default: acc += v; break;
        }
    }
    if (op == R_MEAN)
        acc /= (float)count;
    m[PI(3) + i] = acc;
}

/* P: log (0 softmax, 1 log-softmax), rows, len, inner, x, y; x and y contiguous (outer, len, inner) */
__kernel void softmax(KARGS)
{
    int r = get_global_id(0);
    if (r >= PI(1))
        return;
    int len = PI(2), inner = PI(3);
    int base = (r / inner) * len * inner + r % inner;
    __global const float *x = m + PI(4) + base;
    __global float *y = m + PI(5) + base;
    float mx = -INFINITY;
    for (int k = 0; k < len; ++k)
        mx = fmax(mx, x[k * inner]);
    float s = 0.0f;
    for (int k = 0; k < len; ++k)
        s += exp(x[k * inner] - mx);
    if (PI(0)) {
        float ls = log(s);
        for (int k = 0; k < len; ++k)
            y[k * inner] = x[k * inner] - mx - ls;
    } else {
        for (int k = 0; k < len; ++k)
            y[k * inner] = exp(x[k * inner] - mx) / s;
    }
}

/* Sum (mx 0) or max (mx 1) of len contiguous values, 16 lanes at a time; rows_affine (head_fused.cl) uses it too. */
float row_reduce(__global const float *x, int len, int mx)
{
    float16 a = mx ? (float16)(-INFINITY) : (float16)(0.0f);
    int k = 0;
    for (; k + 16 <= len; k += 16) {
        float16 v = vload16(0, x + k);
        a = mx ? fmax(a, v) : a + v;
    }
    float8 h = mx ? fmax(a.lo, a.hi) : a.lo + a.hi;
    float4 q = mx ? fmax(h.lo, h.hi) : h.lo + h.hi;
    float2 d = mx ? fmax(q.lo, q.hi) : q.lo + q.hi;
    float acc = mx ? fmax(d.x, d.y) : d.x + d.y;
    for (; k < len; ++k)
        acc = mx ? fmax(acc, x[k]) : acc + x[k];
    return acc;
}

/* Sum, mean or max of contiguous rows (GlobalAveragePooling, a pooling window as large as the plane, a reduction
 * over the trailing axes): one work item per row.
 * P: op (R_SUM, R_MAX; a mean is a sum with a scale), rows, len, x, y, scale (float bits); y[r] = scale * op(row r) */
__kernel void rows_reduce(KARGS)
{
    int r = get_global_id(0);
    if (r >= PI(1))
        return;
    const int len = PI(2);
    m[PI(4) + r] = row_reduce(m + PI(3) + r * len, len, PI(0) == R_MAX) * PF(5);
}
