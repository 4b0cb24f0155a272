/* int8 Affine (record 1004 Q8Affine), weights output-major [o][k] as NNB stores them:
 * y[b][j] = clamp(z_y + requant(bias[j] + sum_k (x[b][k] - z_x) w[j][k], mult[j], shift[j]), act_min, act_max)
 * (c_runtime/src/kernels/int8/affine.c).
 * Parameters: 0 work items (n * o), 1 x, 2 w, 3 bias (P index, -1 none), 4 mult, 5 shift, 6 y, 7 n, 8 k, 9 o,
 *   10 in_zero, 11 out_zero, 12 act_min, 13 act_max
 */
__kernel void q8_affine(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int k = PI(8), o = PI(9), zin = PI(10), j = i % o, b = i / o;
    __global const char *x = mb + PI(1) + b * k, *w = mb + PI(2) + j * k;
    int acc = PI(3) >= 0 ? P[PI(3) + j] : 0;
    for (int t = 0; t < k; ++t)
        acc += ((int)x[t] - zin) * (int)w[t];
    mb[PI(6) + i] = (char)q8_clamp(PI(11) + q8_requant(acc, P[PI(4) + j], P[PI(5) + j]), PI(12), PI(13));
}
