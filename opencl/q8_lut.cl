/* LUT-Q weights with int8 activations (records 1012 Q8LutConv, 1013 Q8LutAffine; docs/int8.md "LUT-Q with
 * integer activations"), the integers of c_runtime/src/kernels/int8/lutq.c and nnb/quantize/lutq_int8_sim.py:
 *     S_k = sum of (x - in_zero) over the taps whose code is k       (adds only; a padded tap adds 0)
 *     acc = bias[o] + sum_k D[o][k] * S_k                           (pow2 dictionary: S_k shifted, as lutq.c)
 * then Q8Conv's output stage (residual requantized and added, requantization, zero point, clamp; a fused max
 * pool runs as the convolution into scratch, then q8_pool).  Every partial sum stays within int32 (the loader
 * and the reader check |D| * 256 * taps <= 2^30 and |bias| < 2^29), so the order of the additions does not
 * change the result.  An Affine is the 1x1 case (h = w = kh = kw = 1, c = inputs, codes output-major).
 *
 * The codes are read on the device from the int32 words of the record (in P): code t of output channel o is
 * bits (o * taps + t) * lut_bits .. + lut_bits - 1, LSB first, and may straddle two words (any lut_bits 1-8).
 *
 * q8_lut_conv: one output value per work item.  Parameters (byte offsets for int8 tensors, P indices for int32):
 *   0 work items (n * o * oh * ow), 1 x, 2 codes, 3 dict (o, K), 4 rq (biases, multipliers, shifts: 3 o), 5 y,
 *   6 n, 7 c, 8 h, 9 w, 10 o, 11 kh, 12 kw, 13 oh, 14 ow, 15 pad_h, 16 pad_w, 17 stride_h, 18 stride_w,
 *   19 dil_h, 20 dil_w, 21 group, 22 in_zero, 23 out_zero, 24 act_min, 25 act_max,
 *   26 residual (byte offset, -1 none), 27 res_zero, 28 res_rq (multipliers, shifts: 2 o; -1 none),
 *   29 K, 30 lut_bits, 31 pow2 (every entry 0 or +-2^s)
 */
#define Q8L_NPARAMS 32
#define Q8L_BUCKETS 16 /* K up to this: per-entry sums S_k in private memory; above: each tap's D[code] at once */

/* code number t (from the start of the codes) of `bits` bits, LSB first in little-endian int32 words */
uint q8l_code(__global const int *words, uint t, uint bits)
{
    const uint bit = t * bits, at = bit >> 5, s = bit & 31u;
    uint v = (uint)words[at] >> s;
    if (s + bits > 32u)
        v |= (uint)words[at + 1] << (32u - s);
    return v & ((1u << bits) - 1u);
}

/* D * s, the shift form for a power-of-two dictionary as lutq.c computes it (s << log2|D|, negated for D < 0) */
int q8l_product(int d, int s, int pow2)
{
    uint mag, e;
    if (!pow2)
        return d * s;
    if (d == 0)
        return 0;
    mag = d < 0 ? 0u - (uint)d : (uint)d;
    e = 31u - clz(mag);
    return d > 0 ? (int)((uint)s << e) : -(int)((uint)s << e);
}

/* Every tap of one output's window in code order (t counts taps, rows outside the input skipped whole):
 * xr is the input row of tap (ci, ky), kx its column; the statements given run once per tap. */
#define Q8L_TAPS(...) Q8_TAP_ROWS(t += (uint)kw, for (int kx = 0; kx < kw; ++kx, ++t) { __VA_ARGS__ })

/* Both kernels' prologue for PX pixels of one output row per work item (parameter 0: the work-item count
 * n * o * oh * ceil(ow / PX); a work item past it returns): the geometry, the work item's image nn, output channel oc,
 * row oy and first column ox0, its window's corner (y0, x0), the codes' words and first code, the channel's
 * dictionary D and x, the input planes of its group */
#define Q8L_HEAD(PX)                                                                                               \
    const int i = get_global_id(0);                                                                                \
    __global const int *Q = P + p;                                                                                 \
    if (i >= Q[0])                                                                                                 \
        return;                                                                                                    \
    __global char *mb = Q8B(m);                                                                                    \
    const int c = Q[7], h = Q[8], wd = Q[9], o = Q[10], kh = Q[11], kw = Q[12], oh = Q[13], ow = Q[14];            \
    const int g = Q[21], cg = c / g, og = o / g, zin = Q[22], K = Q[29], pow2 = Q[31], sw = Q[18];                 \
    const uint bits = (uint)Q[30];                                                                                 \
    const int nxb = (ow + (PX) - 1) / (PX);                                                                        \
    const int xb = i % nxb, oy = (i / nxb) % oh, oc = (i / (nxb * oh)) % o, nn = i / (nxb * oh * o);               \
    const int ox0 = xb * (PX), y0 = oy * Q[17] - Q[15], x0 = ox0 * sw - Q[16], dh = Q[19], dw = Q[20];             \
    const uint taps = (uint)(cg * kh * kw), first = (uint)oc * taps;                                               \
    __global const int *words = P + Q[2];                                                                          \
    __global const int *D = P + Q[3] + oc * K;                                                                     \
    __global const char *x = mb + Q[1] + (nn * c + (oc / og) * cg) * h * wd;                                       \
    const int bias = P[Q[4] + oc];                                                                                 \
    uint t = 0;

/* Each tap's entry added as D[code] * (x - in_zero) (pow2: the shift form) for the PX pixels, into acc[PX] */
#define Q8L_DIRECT(PX)                                                                                             \
    Q8L_TAPS(const int d = D[q8l_code(words, first + t, bits)], xi = x0 + kx * dw;                                 \
             for (int q = 0; q < (PX); ++q) {                                                                      \
                 const int ix = xi + q * sw;                                                                       \
                 if (ix >= 0 && ix < wd) acc[q] += q8l_product(d, (int)xr[ix] - zin, pow2);                        \
             })

/* Q8Conv's output stage (q8.cl) for the PX pixels acc[PX] of a work item's row from column ox0 */
#define Q8L_STORE(PX)                                                                                              \
    for (int q = 0; q < (PX) && ox0 + q < ow; ++q)                                                                 \
        Q8_CONV_OUT(Q[5], ((nn * o + oc) * oh + oy) * ow + ox0 + q, acc[q], P[Q[4] + o + oc],                     \
                    P[Q[4] + 2 * o + oc], Q + 23, P[Q[28] + oc], P[Q[28] + o + oc]);

/* q8_lut_conv: one output value per work item; K up to Q8L_BUCKETS sums S_k first, a larger K adds D[code] per tap */
__kernel void q8_lut_conv(KARGS)
{
    Q8L_HEAD(1)
    int acc[1] = {bias};
    if (K <= Q8L_BUCKETS) {
        int S[Q8L_BUCKETS];
        for (int k = 0; k < Q8L_BUCKETS; ++k)
            S[k] = 0;
        Q8L_TAPS(const int ix = x0 + kx * dw;
                 if (ix >= 0 && ix < wd) S[q8l_code(words, first + t, bits) & (Q8L_BUCKETS - 1)] += (int)xr[ix] - zin;)
        for (int k = 0; k < K; ++k)
            acc[0] += q8l_product(D[k], S[k], pow2);
    } else {
        Q8L_DIRECT(1)
    }
    Q8L_STORE(1)
}

/* q8_lut_conv4: q8_lut_conv for 4 neighbouring pixels of one output row per work item; each tap's code is decoded
 * once for the 4 pixels and its entry added as D[code] * (x - in_zero) (pow2: the same shift form) -- by the bound
 * above the same int32 sum as sum_k D[k] S_k in any order. */
#define Q8L_PX 4
__kernel void q8_lut_conv4(KARGS)
{
    Q8L_HEAD(Q8L_PX)
    int acc[Q8L_PX] = {bias, bias, bias, bias};
    Q8L_DIRECT(Q8L_PX)
    Q8L_STORE(Q8L_PX)
}
