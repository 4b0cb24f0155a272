/* Fixed-point (FIXED8/FIXED16) functions computed in integers (docs/int8.md "Fixed point").
   Variables stay held as floats on their grid (value = integer / 2^fp); these kernels
   convert them to integers exactly, accumulate in int64 and round once to the output's
   fp_pos: half away from zero, saturated symmetrically to +-(2^(bits-1) - 1). */
#ifndef NNBRT_FIXED_MAC_H
#define NNBRT_FIXED_MAC_H

#include "../internal.h"

#define NNBRT_FIXED_MAX_IN 3

/* The one rounding rule, for a float value (network inputs, float islands, grid changes):
   q = sign(x) * min(floor(|x| * 2^fp + 0.5), top) in double, NaN -> 0; returns q / 2^fp. */
float nnbrt_fixed_round(float x, int fp, int32_t top);

/* Runs kernel k's function in integers when it has an integer form (Convolution,
   DepthwiseConvolution, Affine, AveragePooling, same-shape Add2) and every input and the
   output are fixed point: fin[i] the inputs' fp_pos, fout and top the output's. Returns 1
   if it ran, 0 if the caller is to run the float kernel (then round its output). */
int nnbrt_fixed_run(const nnbrt_kernel *k, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                    const int *fin, const nnbrt_tensor *out, int fout, int32_t top);

/* Defined by the kernel table: the full table (kernel_table.c) links the integer kernels;
   a table generated for models without FIXED8/FIXED16 variables (tools/gen_kernel_table.py)
   does not, so float firmware carries none of them: there nnbrt_fixed_supported is 0 and
   nnbrt_init refuses a fixed-point file (NNBRT_E_UNSUPPORTED_TYPE). */
extern const int nnbrt_fixed_supported;
int nnbrt_fixed_dispatch(const nnbrt_kernel *k, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                         const int *fin, const nnbrt_tensor *out, int fout, int32_t top);

#endif
