/* LUT-Q weights with int8 activations: per-dictionary-entry accumulation (docs/int8.md, "LUT-Q with integer
 * activations"; bit-exact with nnb/quantize/lutq_int8_sim.py).
 *
 * The weights are K-entry codes of `bits` bits, LSB first in little-endian 32-bit words, output-channel major
 * ([o][c/group][kh][kw] as one run of codes per output channel); each output channel has its own integer
 * dictionary dict[o * K + k]. For each output:
 *     S_k = sum of (x - in_zero) over the taps whose code is k        (adds only)
 *     acc = bias[o] + sum_k dict[o][k] * S_k (+ residual)             (K multiplies; pow2: shifts)
 * then the int8 output stage of nnb_i8_conv2d. An Affine is the 1x1 case (h = w = kh = kw = 1, c = inputs). */
#ifndef NNB_LUTQ_H
#define NNB_LUTQ_H

#include "nnb_int8.h"

#define NNB_LUTQ_MAX_K 256
#define NNB_LUTQ_MAX_BITS 8

typedef struct {
    const uint32_t *codes; /* o * (c / group) * kh * kw codes */
    size_t words;          /* 32-bit words at codes (checked: enough for every code) */
    const int32_t *dict;   /* o * k entries */
    int32_t k, bits;       /* 2 <= k <= 256, k <= 2^bits, bits <= 8 */
    int32_t pow2;          /* every entry 0 or +-2^s (s <= 30): the products are shifts */
    int32_t o_first;       /* the convolution computes output channels o_first .. o_first + p->o - 1 of the
                              codes and dictionary (a block of them; bias/mult/shift/y start at that block) */
} nnb_i8_lut;

/* The largest |dict entry| times 256 times the taps per output stays within 2^30, |bias| within 2^29 and the
 * residual's shifts at most 20: no int32 partial sum can overflow. */
int nnb_i8_lutq_ok(const nnb_i8_conv_params *p, const nnb_i8_lut *w, const int32_t *bias, const int32_t *res_shift);
size_t nnb_i8_lutq_scratch(const nnb_i8_conv_params *p, int32_t k);
int nnb_i8_lutq_conv2d(const nnb_i8_conv_params *p, const nnb_i8_lut *w, const int8_t *x, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                       const int32_t *res_shift, int8_t *y, void *scratch, size_t scratch_bytes);

#endif
