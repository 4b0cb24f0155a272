/* A classifier head in one launch (CPU devices, Python host): a reduction of contiguous rows (GlobalAveragePooling,
 * a pooling window as large as the plane) followed by the Affine that reads it.  One work item per image: the
 * image's RA_MAX or fewer pooled features stay in private memory, then each output is their dot product with a
 * weight column.  P: images, features per image, row length, x, scale (float bits), op (R_SUM, R_MAX),
 *    w, w input stride, w output stride, bias (-1: none), y, outputs */
#define RA_MAX 1024

__kernel void rows_affine(KARGS)
{
    const int n = get_global_id(0);
    if (n >= PI(0))
        return;
    const int I = PI(1), len = PI(2), mx = PI(5) == R_MAX, ws = PI(7), wo = PI(8), O = PI(11);
    const float scale = PF(4);
    float f[RA_MAX];
    for (int r = 0; r < I; ++r)
        f[r] = row_reduce(m + PI(3) + (n * I + r) * len, len, mx) * scale; /* reduce.cl */
    for (int o = 0; o < O; ++o) {
        __global const float *w = m + PI(6) + o * wo;
        float acc = 0.0f;
        for (int k = 0; k < I; ++k)
            acc += f[k] * w[k * ws];
        if (PI(9) >= 0)
            acc += m[PI(9) + o];
        m[PI(10) + n * O + o] = acc;
    }
}
