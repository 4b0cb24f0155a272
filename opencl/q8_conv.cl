/* int8 convolution (record 1003 Q8Conv): Convolution, DepthwiseConvolution (group = C) and FusedConv with
 * its fused ReLU/ReLU6 clamp, residual and max pool; 1-D convolutions run as 2-D with one row.
 *
 * y = clamp(z_y + requant(sum (x - z_x) w + bias [+ requant(r - z_r, res_mult, res_shift)]), act_min, act_max)
 * exactly as c_runtime/src/kernels/int8/conv.c (nnb_i8_conv2d): a tap outside the input is the zero point,
 * so it adds nothing.  With a max pool each work item takes the max of the clamped values over its window
 * (taps outside the convolution output never count), as nnb_i8_max_pool2d does on the whole output.
 *
 * Parameters (byte offsets for int8 tensors, P indices for int32 constants):
 *   0 work items, 1 x, 2 w, 3 bias (P index, -1 none), 4 mult, 5 shift, 6 y,
 *   7 n, 8 c, 9 h, 10 w, 11 o, 12 kh, 13 kw, 14 oh, 15 ow, 16 pad_h, 17 pad_w, 18 stride_h, 19 stride_w,
 *   20 dil_h, 21 dil_w, 22 group, 23 in_zero, 24 out_zero, 25 act_min, 26 act_max,
 *   27 residual (byte offset, -1 none), 28 res_zero, 29 res_mult, 30 res_shift,
 *   31 pool (0/1), 32 pooled oh, 33 pooled ow, 34 pool kh, 35 pool kw, 36 pool stride h, 37 pool stride w,
 *   38 pool pad h, 39 pool pad w
 */
#define Q8C_NPARAMS 40

/* the clamped output value at (nn, oc, oy, ox) */
int q8_conv_at(__global const char *mb, __global const int *P, const int p, int nn, int oc, int oy, int ox)
{
    const int c = PI(8), h = PI(9), wd = PI(10), o = PI(11), kh = PI(12), kw = PI(13);
    const int g = PI(22), cg = c / g, og = o / g, zin = PI(23), dh = PI(20), dw = PI(21);
    const int y0 = oy * PI(18) - PI(16), x0 = ox * PI(19) - PI(17);
    __global const char *x = mb + PI(1) + ((nn * c + (oc / og) * cg) * h) * wd;
    __global const char *w = mb + PI(2) + oc * cg * kh * kw;
    int acc = PI(3) >= 0 ? P[PI(3) + oc] : 0;
    for (int ci = 0; ci < cg; ++ci, x += h * wd)
        for (int ky = 0; ky < kh; ++ky) {
            const int iy = y0 + ky * dh;
            if (iy < 0 || iy >= h)
                continue;
            __global const char *xr = x + iy * wd, *wr = w + (ci * kh + ky) * kw;
            for (int kx = 0; kx < kw; ++kx) {
                const int ix = x0 + kx * dw;
                if (ix >= 0 && ix < wd)
                    acc += ((int)xr[ix] - zin) * (int)wr[kx];
            }
        }
    if (PI(27) >= 0) {
        const int r = mb[PI(27) + ((nn * o + oc) * PI(14) + oy) * PI(15) + ox];
        acc += q8_requant(r - PI(28), P[PI(29) + oc], P[PI(30) + oc]);
    }
    return q8_clamp(PI(24) + q8_requant(acc, P[PI(4) + oc], P[PI(5) + oc]), PI(25), PI(26));
}

/* one output value per work item (pooled with a max pool) */
__kernel void q8_conv(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global char *mb = Q8B(m);
    if (!PI(31)) {
        const int ow = PI(15), oh = PI(14), o = PI(11);
        const int ox = i % ow, oy = (i / ow) % oh, oc = (i / (ow * oh)) % o, nn = i / (ow * oh * o);
        mb[PI(6) + i] = (char)q8_conv_at(mb, P, p, nn, oc, oy, ox);
        return;
    }
    {
        const int pw = PI(33), ph = PI(32), o = PI(11), oh = PI(14), ow = PI(15);
        const int px = i % pw, py = (i / pw) % ph, oc = (i / (pw * ph)) % o, nn = i / (pw * ph * o);
        const int y0 = py * PI(36) - PI(38), x0 = px * PI(37) - PI(39);
        const int y1 = min(y0 + PI(34), oh + PI(38)), x1 = min(x0 + PI(35), ow + PI(39));
        int best = -128;
        for (int yy = max(y0, 0); yy < min(y1, oh); ++yy)
            for (int xx = max(x0, 0); xx < min(x1, ow); ++xx)
                best = max(best, q8_conv_at(mb, P, p, nn, oc, yy, xx));
        mb[PI(6) + i] = (char)best;
    }
}
