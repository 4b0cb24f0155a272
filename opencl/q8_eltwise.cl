/* int8 element-wise records: 1001 Q8Quantize, 1002 Q8Dequantize, 1008 Q8Add, 1009 Q8Mul, 1010 Q8Concat (one
 * launch per input: its rescale onto the output grid), 1011 Q8Clamp; as c_runtime/src/kernels/q8_ops.c and
 * kernels/int8/eltwise.c.
 *
 * q8_quantize: 0 n, 1 x (float element offset), 2 thresholds (255 floats), 3 y
 *   y = -128 + #{k : x >= t[k]} (float compares only; NaN gives -128), as q8_ops.c's binary search
 * q8_dequantize: 0 n, 1 x, 2 table (256 floats), 3 y (float element offset); y = table[x + 128]
 * q8_add: 0 n, 1 a, 2 b, 3 y, 4 a_zero, 5 b_zero, 6-11 mult/shift of a, b, the sum, 12 out_zero, 13 lo, 14 hi
 *   TFLite's Add: both inputs (q - z) << 20 rescaled, summed, rescaled to the output grid
 * q8_mul: 0 n, 1 a, 2 b, 3 y, 4 a_zero, 5 b_zero, 6 mult, 7 shift, 8 out_zero, 9 lo, 10 hi
 * q8_rescale: 0 work items (outer * inner), 1 x, 2 y (where this input starts), 3 inner, 4 y's outer stride,
 *   5 in_zero, 6 mult, 7 shift, 8 out_zero
 * q8_clamp8: 0 n, 1 x, 2 y, 3 lo, 4 hi
 */
#define Q8_ADD_LEFT_SHIFT 20

__kernel void q8_quantize(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    const float v = m[PI(1) + i];
    __global const float *t = m + PI(2);
    int c = 0; /* #{k : v >= t[k]}, a prefix of the sorted thresholds: found by binary lifting, no branches */
    for (int s = 128; s > 0; s >>= 1)
        c += (c + s <= 255 && v >= t[min(c + s, 255) - 1]) ? s : 0;
    Q8B(m)[PI(3) + i] = (char)(c - 128);
}

__kernel void q8_dequantize(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    m[PI(3) + i] = m[PI(2) + (int)Q8B(m)[PI(1) + i] + 128];
}

__kernel void q8_add(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int sa = q8_requant(((int)mb[PI(1) + i] - PI(4)) * (1 << Q8_ADD_LEFT_SHIFT), PI(6), PI(7));
    const int sb = q8_requant(((int)mb[PI(2) + i] - PI(5)) * (1 << Q8_ADD_LEFT_SHIFT), PI(8), PI(9));
    mb[PI(3) + i] = (char)q8_clamp(PI(12) + q8_requant(sa + sb, PI(10), PI(11)), PI(13), PI(14));
}

__kernel void q8_mul(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int acc = ((int)mb[PI(1) + i] - PI(4)) * ((int)mb[PI(2) + i] - PI(5));
    mb[PI(3) + i] = (char)q8_clamp(PI(8) + q8_requant(acc, PI(6), PI(7)), PI(9), PI(10));
}

__kernel void q8_rescale(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int inner = PI(3), k = i % inner, o = i / inner;
    const int v = q8_requant((int)mb[PI(1) + i] - PI(5), PI(6), PI(7));
    mb[PI(2) + o * PI(4) + k] = (char)q8_clamp(PI(8) + v, -128, 127);
}

__kernel void q8_clamp8(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    mb[PI(2) + i] = (char)q8_clamp((int)mb[PI(1) + i], PI(3), PI(4));
}
