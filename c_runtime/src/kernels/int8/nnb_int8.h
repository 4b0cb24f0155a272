/* int8 kernels of nnb (issue 13): integer-only inference, bit-exact with the numpy
 * integer simulation in nnb/quantize/int_sim.py (arithmetic: docs/int8.md).
 *
 * Tensors are NCHW int8 with one (scale, zero point) each; weights are int8,
 * symmetric, one scale per output channel; biases int32. A rescale is a Q31
 * multiplier and a shift: x * mult * 2^(shift - 31), rounded as gemmlowp's
 * SaturatingRoundingDoublingHighMul + RoundingDivideByPOT (TFLite, CMSIS-NN).
 * No kernel allocates: the convolution takes a caller-provided int16 scratch
 * of nnb_i8_conv_scratch() elements. Every function checks its geometry and
 * returns NNB_I8_OK or NNB_I8_EINVAL without touching memory on error.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP) the dot products use
 * dual 16-bit multiply-accumulates (__smlad); NNB_I8_EMULATE_DSP compiles the
 * same path on any host with portable stand-ins for the intrinsics, so the
 * two paths can be compared bit for bit. */
#ifndef NNB_INT8_H
#define NNB_INT8_H

#include <stddef.h>
#include <stdint.h>

#define NNB_I8_OK 0
#define NNB_I8_EINVAL (-1)

int32_t nnb_i8_srdhm(int32_t a, int32_t b);
int32_t nnb_i8_rdbp(int32_t x, int32_t exponent);
int32_t nnb_i8_requantize(int32_t x, int32_t mult, int32_t shift);
int nnb_i8_dsp_path(void); /* 1 when the dual-MAC path is compiled in */
/* x86-64 builds: the instruction-set level the convolution uses (0 portable loops, 1 AVX2 depthwise,
 * 2 AVX-512 VNNI GEMM too), the CPU's best unless NNB_I8_ISA=base|avx2 or a cap >= 0 given here (tests,
 * comparisons; cap < 0 only asks). Other builds: 0. */
int nnb_i8_isa_level(int cap);

/* Requantize a vector of int32 accumulators: y = clamp(zero + requantize(acc), lo, hi). */
int nnb_i8_requantize_vec(size_t n, const int32_t *acc, int32_t mult, int32_t shift, int32_t zero,
                          int32_t lo, int32_t hi, int8_t *y);

typedef struct {
    int32_t n, c, h, w;           /* input */
    int32_t o, kh, kw;            /* weight [o][c/group][kh][kw] */
    int32_t oh, ow;               /* output (checked against the geometry) */
    int32_t pad_h, pad_w, stride_h, stride_w, dil_h, dil_w, group;
    int32_t in_zero, out_zero, act_min, act_max;
    int32_t res_zero;             /* residual input's zero point (when residual != NULL) */
} nnb_i8_conv_params;

size_t nnb_i8_conv_scratch(const nnb_i8_conv_params *p);
/* y = clamp(out_zero + requant(sum (x - in_zero) * w + bias [+ requant(res - res_zero, res_mult, res_shift)]),
 * act_min, act_max); depthwise = group == c, 1x1 = kh == kw == 1. bias/residual may be NULL. */
int nnb_i8_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                  const int32_t *res_shift, int8_t *y, int16_t *scratch, size_t scratch_len);

/* Affine: x [n][k], w output-major [o][k], y [n][o]. */
int nnb_i8_affine(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                  int32_t act_min, int32_t act_max, int8_t *y);

typedef struct {
    int32_t n, c, h, w, oh, ow;
    int32_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    int32_t including_pad; /* average: the divisor counts padding */
} nnb_i8_pool_params;

/* Geometry shared by the int8 records' checks (kernels/q8_ops.c, int8/lutq_ops.c); lim bounds the padding,
   dilation (convolution) and kernel (pool) each record accepts. One window dimension's output size, or -1:
   convolution (n + 2p - (d(k-1)+1)) / s + 1; nnabla's pooling (ignore_border: (n + 2p - k)/s + 1, else
   (n + p - 1)/s + 1). */
static inline int32_t nnb_i8_conv_out(int32_t n, int32_t k, int32_t p, int32_t s, int32_t d, int32_t lim)
{
    const int64_t span = (int64_t)d * (k - 1) + 1, num = (int64_t)n + 2 * (int64_t)p - span;
    if (k < 1 || p < 0 || s < 1 || d < 1 || p > lim || d > lim || num < 0) return -1;
    return (int32_t)(num / s + 1);
}

static inline int32_t nnb_i8_pool_out(int32_t n, int32_t k, int32_t s, int32_t p, int ib, int32_t lim)
{
    int64_t num;
    if (k < 1 || s < 1 || p < 0 || p > lim || k > lim) return -1;
    num = ib ? (int64_t)n + 2 * (int64_t)p - k : (int64_t)n + p - 1;
    if (num < 0) return -1;
    return (int32_t)(num / s + 1);
}

/* The window of a pool over the last nsp (1 or 2) dims with outputs o[nsp] (kern, stride, pad: nsp values
   each): 0, or -1 when (kh + pad_h) * (kw + pad_w) > 2^23. */
static inline int nnb_i8_pool_window(nnb_i8_pool_params *p, int nsp, const int32_t *o, const int32_t *kern,
                                     const int32_t *stride, const int32_t *pad)
{
    p->oh = nsp == 2 ? o[0] : 1;
    p->ow = o[nsp - 1];
    p->kh = nsp == 2 ? kern[0] : 1;
    p->kw = kern[nsp - 1];
    p->stride_h = nsp == 2 ? stride[0] : 1;
    p->stride_w = stride[nsp - 1];
    p->pad_h = nsp == 2 ? pad[0] : 0;
    p->pad_w = pad[nsp - 1];
    return (int64_t)(p->kh + p->pad_h) * (p->kw + p->pad_w) > (1 << 23) ? -1 : 0;
}

int nnb_i8_max_pool2d(const nnb_i8_pool_params *p, const int8_t *x, int8_t *y);
/* y = zero + round_half_away(sum(x - zero) / count); input and output share scale and zero point. */
int nnb_i8_avg_pool2d(const nnb_i8_pool_params *p, const int8_t *x, int32_t zero, int8_t *y);
/* GlobalAveragePooling onto its own grid: y = clamp(out_zero + requant(sum(x - in_zero))), the multiplier
 * s_in / (hw * s_out) folding the divide in. */
int nnb_i8_global_avg_pool(int32_t n, int32_t c, int32_t hw, const int8_t *x, int32_t in_zero, int32_t mult,
                           int32_t shift, int32_t out_zero, int8_t *y);

/* TFLite's Add: mult/shift[0..1] rescale the inputs (<< 20) to a common grid, [2] to the output. */
int nnb_i8_add(size_t n, const int8_t *a, int32_t a_zero, const int8_t *b, int32_t b_zero,
               const int32_t mult[3], const int32_t shift[3], int32_t out_zero, int32_t act_min, int32_t act_max,
               int8_t *y);
int nnb_i8_mul(size_t n, const int8_t *a, int32_t a_zero, const int8_t *b, int32_t b_zero, int32_t mult,
               int32_t shift, int32_t out_zero, int32_t act_min, int32_t act_max, int8_t *y);
/* One input of a Concatenate (or any change of grid): y = clamp(out_zero + requant(x - in_zero)). */
int nnb_i8_rescale(size_t n, const int8_t *x, int32_t in_zero, int32_t mult, int32_t shift, int32_t out_zero,
                   int8_t *y);

#endif
