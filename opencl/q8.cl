/* int8 kernels (records 1001-1011 of int8 NNB files, docs/nnb_format.md "int8 models"): shared arithmetic.
 *
 * Bit-exact with the C runtime (c_runtime/src/kernels/int8/i8_dot.h) and the numpy simulation
 * (nnb/quantize/int_sim_arith.py): int32 accumulators, gemmlowp's SaturatingRoundingDoublingHighMul in
 * 64-bit integer arithmetic, RoundingDivideByPOT, zero points and clamps; no float anywhere in an integer op.
 *
 * The int8 kernels take the usual three arguments (KARGS, common.cl) and view the same buffer as bytes:
 * int8 tensors are addressed by BYTE offsets (Q8B(m) + offset), float tensors (the network input of
 * Q8Quantize, the output of Q8Dequantize, their tables) by element offsets as everywhere else.  Int32
 * constants (biases, multipliers, shifts) live in the parameter table P: a launch passes where they start.
 */
#define Q8B(m) ((__global char *)(m))
#define Q8_INT32_MIN (-2147483647 - 1)
#define Q8_INT32_MAX 2147483647

/* SaturatingRoundingDoublingHighMul: a * b / 2^31 rounded half away from zero; the one overflow saturates */
int q8_srdhm(int a, int b)
{
    long v;
    if (a == Q8_INT32_MIN && b == Q8_INT32_MIN)
        return Q8_INT32_MAX;
    v = (long)a * (long)b;
    v += v >= 0 ? ((long)1 << 30) : (1 - ((long)1 << 30));
    return v >= 0 ? (int)(v >> 31) : -(int)((-v) >> 31);
}

/* RoundingDivideByPOT: x / 2^e rounded half away from zero (e <= 0: x) */
int q8_rdbp(int x, int e)
{
    int mask, rem, thr;
    if (e <= 0)
        return x;
    if (e > 31)
        e = 31;
    mask = (int)((1u << e) - 1u);
    rem = x & mask;
    thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

/* x * mult * 2^(shift - 31); a left shift saturates to int32 first */
int q8_requant(int x, int mult, int shift)
{
    if (shift > 0) {
        long v = (long)x * ((long)1 << (shift > 31 ? 31 : shift));
        x = v > Q8_INT32_MAX ? Q8_INT32_MAX : v < Q8_INT32_MIN ? Q8_INT32_MIN : (int)v;
        return q8_srdhm(x, mult);
    }
    return q8_rdbp(q8_srdhm(x, mult), -shift);
}

int q8_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* s / n rounded half away from zero (n > 0; |s| <= 255 n, n <= 2^23) */
int q8_round_div(int s, int n)
{
    uint a = s < 0 ? (uint)0 - (uint)s : (uint)s;
    int q = (int)((2u * a + (uint)n) / (2u * (uint)n));
    return s < 0 ? -q : q;
}

/* requant over int32 vectors (tests: the arithmetic on any value, beyond what a model reaches):
   0 n, 1 x, 2 mult, 3 shift, 4 y, all element offsets of int32 arrays in the buffer */
__kernel void q8_requant_vec(KARGS)
{
    const int i = get_global_id(0);
    if (i >= PI(0))
        return;
    __global int *mi = (__global int *)m;
    mi[PI(4) + i] = q8_requant(mi[PI(1) + i], mi[PI(2) + i], mi[PI(3) + i]);
}

/* Q8Conv's output stage, Q8LutConv's too: y[at] = clamp(z_y + requant(acc [+ requant(r[at] - z_r, RMULT, RSHIFT)],
 * MULT, SHIFT), act_min, act_max), Y and r byte offsets into mb.  O points at the launch's run of five parameters
 * out_zero, act_min, act_max, residual (-1 none), res_zero; RMULT and RSHIFT are evaluated only with a residual.
 * A macro, so every kernel compiles as if it were written out: as a function PoCL left it a call per value, which
 * made a store-bound layer (lenet's first convolution) up to 2.7 times slower. */
#define Q8_CONV_OUT(Y, AT, ACC, MULT, SHIFT, O, RMULT, RSHIFT)                                                     \
    do {                                                                                                           \
        int q8_v_ = (ACC);                                                                                         \
        if ((O)[3] >= 0)                                                                                           \
            q8_v_ += q8_requant((int)mb[(O)[3] + (AT)] - (O)[4], (RMULT), (RSHIFT));                               \
        mb[(Y) + (AT)] = (char)q8_clamp((O)[0] + q8_requant(q8_v_, (MULT), (SHIFT)), (O)[1], (O)[2]);              \
    } while (0)

/* The rows of one output's convolution window, in tap order (input channel ci of the group, then ky): a row outside
 * the input runs the statement SKIP and is passed over; for a row inside, xr is the input row and the statements
 * given run once.  Uses the kernel's cg, kh, h, wd, dh, y0 (the window's top row) and x (the group's planes). */
#define Q8_TAP_ROWS(SKIP, ...)                                                                                   \
    for (int ci = 0; ci < cg; ++ci)                                                                              \
        for (int ky = 0; ky < kh; ++ky) {                                                                        \
            const int iy = y0 + ky * dh;                                                                         \
            if (iy < 0 || iy >= h) {                                                                             \
                SKIP;                                                                                            \
                continue;                                                                                        \
            }                                                                                                    \
            __global const char *xr = x + (ci * h + iy) * wd;                                                    \
            __VA_ARGS__                                                                                          \
        }
