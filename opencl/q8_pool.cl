/* int8 pooling (records 1005 Q8MaxPool, 1006 Q8AvgPool, 1007 Q8GlobalAvgPool), NCHW planes, as
 * c_runtime/src/kernels/int8/pool.c: windows start at o * stride - pad and are clipped to the padded input
 * (ignore_border false: to the input plus pad); taps outside the input never count; max starts at -128; the
 * average is z + round_half_away(sum(x - z) / count), count over the clipped window including the padding
 * (including_pad) or not.
 *
 * q8_pool parameters: 0 work items (planes * oh * ow), 1 x, 2 y, 3 h, 4 w, 5 oh, 6 ow, 7 kh, 8 kw,
 *   9 stride h, 10 stride w, 11 pad h, 12 pad w, 13 average (0 max), 14 including_pad, 15 zero
 * q8_gap parameters: 0 planes, 1 x, 2 y, 3 values per plane, 4 in_zero, 5 mult, 6 shift, 7 out_zero
 */
__kernel void q8_pool(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int h = PI(3), w = PI(4), oh = PI(5), ow = PI(6), ph = PI(11), pw = PI(12), avg = PI(13), z = PI(15);
    const int ox = i % ow, oy = (i / ow) % oh, pl = i / (ow * oh);
    const int y0 = oy * PI(9) - ph, x0 = ox * PI(10) - pw;
    const int y1 = min(y0 + PI(7), h + ph), x1 = min(x0 + PI(8), w + pw);
    const int ya = max(y0, 0), yb = min(y1, h), xa = max(x0, 0), xb = min(x1, w);
    __global const char *x = mb + PI(1) + pl * h * w;
    int acc = avg ? 0 : -128;
    for (int iy = ya; iy < yb; ++iy)
        for (int ix = xa; ix < xb; ++ix) {
            const int v = x[iy * w + ix];
            if (avg)
                acc += v - z;
            else
                acc = max(acc, v);
        }
    if (avg) {
        const int count = PI(14) ? (y1 - y0) * (x1 - x0) : (yb - ya) * (xb - xa);
        acc = count > 0 ? z + q8_round_div(acc, count) : z;
    }
    mb[PI(2) + i] = (char)q8_clamp(acc, -128, 127);
}

__kernel void q8_gap(KARGS)
{
    const int pl = get_global_id(0);
    if (pl >= PI(0))
        return;
    __global char *mb = Q8B(m);
    const int hw = PI(3), zin = PI(4);
    __global const char *x = mb + PI(1) + pl * hw;
    int acc = 0;
    for (int k = 0; k < hw; ++k)
        acc += (int)x[k] - zin;
    mb[PI(2) + pl] = (char)q8_clamp(PI(7) + q8_requant(acc, PI(5), PI(6)), -128, 127);
}
