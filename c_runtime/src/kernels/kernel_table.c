/* Kernel dispatch table indexed by NNB function id (generated list; edit by hand). */
#include "fixed_mac.h"
#include "../internal.h"

extern const nnbrt_kernel nnbrt_k_affine;
#ifdef NNBRT_INT8 /* int8 records: q8_ops.c and the kernels of kernels/int8/ */
extern const nnbrt_kernel nnbrt_k_q8_quantize;
extern const nnbrt_kernel nnbrt_k_q8_dequantize;
extern const nnbrt_kernel nnbrt_k_q8_conv;
extern const nnbrt_kernel nnbrt_k_q8_affine;
extern const nnbrt_kernel nnbrt_k_q8_max_pool;
extern const nnbrt_kernel nnbrt_k_q8_avg_pool;
extern const nnbrt_kernel nnbrt_k_q8_global_avg_pool;
extern const nnbrt_kernel nnbrt_k_q8_add;
extern const nnbrt_kernel nnbrt_k_q8_mul;
extern const nnbrt_kernel nnbrt_k_q8_concat;
extern const nnbrt_kernel nnbrt_k_q8_clamp;
extern const nnbrt_kernel nnbrt_k_q8_lut_conv;
extern const nnbrt_kernel nnbrt_k_q8_lut_affine;
extern const nnbrt_kernel nnbrt_k_q8_qconv;
#endif
extern const nnbrt_kernel nnbrt_k_fused_conv;
extern const nnbrt_kernel nnbrt_k_depthwise_convolution;
extern const nnbrt_kernel nnbrt_k_global_average_pooling;
extern const nnbrt_kernel nnbrt_k_sigmoid;
extern const nnbrt_kernel nnbrt_k_swish;
extern const nnbrt_kernel nnbrt_k_tanh;
extern const nnbrt_kernel nnbrt_k_relu;
extern const nnbrt_kernel nnbrt_k_softmax;
extern const nnbrt_kernel nnbrt_k_log_softmax;
extern const nnbrt_kernel nnbrt_k_elu;
extern const nnbrt_kernel nnbrt_k_selu;
extern const nnbrt_kernel nnbrt_k_prelu;
extern const nnbrt_kernel nnbrt_k_batch_normalization_v1;
extern const nnbrt_kernel nnbrt_k_sum;
extern const nnbrt_kernel nnbrt_k_mean;
extern const nnbrt_kernel nnbrt_k_prod;
extern const nnbrt_kernel nnbrt_k_add2;
extern const nnbrt_kernel nnbrt_k_r_sub_scalar;
extern const nnbrt_kernel nnbrt_k_r_div_scalar;
extern const nnbrt_kernel nnbrt_k_r_pow_scalar;
extern const nnbrt_kernel nnbrt_k_sign;
extern const nnbrt_kernel nnbrt_k_minimum2;
extern const nnbrt_kernel nnbrt_k_maximum2;
extern const nnbrt_kernel nnbrt_k_minimum_scalar;
extern const nnbrt_kernel nnbrt_k_maximum_scalar;
extern const nnbrt_kernel nnbrt_k_abs;
extern const nnbrt_kernel nnbrt_k_matrix_diag;
extern const nnbrt_kernel nnbrt_k_matrix_diag_part;
extern const nnbrt_kernel nnbrt_k_crelu;
extern const nnbrt_kernel nnbrt_k_exp;
extern const nnbrt_kernel nnbrt_k_log;
extern const nnbrt_kernel nnbrt_k_identity;
extern const nnbrt_kernel nnbrt_k_batch_matmul;
extern const nnbrt_kernel nnbrt_k_round;
extern const nnbrt_kernel nnbrt_k_concatenate;
extern const nnbrt_kernel nnbrt_k_split;
extern const nnbrt_kernel nnbrt_k_stack;
extern const nnbrt_kernel nnbrt_k_slice;
extern const nnbrt_kernel nnbrt_k_transpose;
extern const nnbrt_kernel nnbrt_k_broadcast;
extern const nnbrt_kernel nnbrt_k_flip;
extern const nnbrt_kernel nnbrt_k_reshape_v1;
extern const nnbrt_kernel nnbrt_k_binary_sigmoid;
extern const nnbrt_kernel nnbrt_k_binary_tanh;
extern const nnbrt_kernel nnbrt_k_pad;
extern const nnbrt_kernel nnbrt_k_ceil;
extern const nnbrt_kernel nnbrt_k_floor;
extern const nnbrt_kernel nnbrt_k_reshape;
extern const nnbrt_kernel nnbrt_k_leaky_relu;
extern const nnbrt_kernel nnbrt_k_min;
extern const nnbrt_kernel nnbrt_k_max;
extern const nnbrt_kernel nnbrt_k_sin;
extern const nnbrt_kernel nnbrt_k_cos;
extern const nnbrt_kernel nnbrt_k_tan;
extern const nnbrt_kernel nnbrt_k_sinh;
extern const nnbrt_kernel nnbrt_k_cosh;
extern const nnbrt_kernel nnbrt_k_asin;
extern const nnbrt_kernel nnbrt_k_acos;
extern const nnbrt_kernel nnbrt_k_atan;
extern const nnbrt_kernel nnbrt_k_asinh;
extern const nnbrt_kernel nnbrt_k_acosh;
extern const nnbrt_kernel nnbrt_k_atanh;
extern const nnbrt_kernel nnbrt_k_atan2;
extern const nnbrt_kernel nnbrt_k_gelu;
extern const nnbrt_kernel nnbrt_k_log_sigmoid;
extern const nnbrt_kernel nnbrt_k_soft_sign;
extern const nnbrt_kernel nnbrt_k_tanh_shrink;
extern const nnbrt_kernel nnbrt_k_relu6;
extern const nnbrt_kernel nnbrt_k_hard_sigmoid;
extern const nnbrt_kernel nnbrt_k_hard_tanh;
extern const nnbrt_kernel nnbrt_k_convolution;
extern const nnbrt_kernel nnbrt_k_max_pooling;
extern const nnbrt_kernel nnbrt_k_average_pooling;
extern const nnbrt_kernel nnbrt_k_sum_pooling;
extern const nnbrt_kernel nnbrt_k_unpooling;
extern const nnbrt_kernel nnbrt_k_deconvolution;
extern const nnbrt_kernel nnbrt_k_bc_add2;
extern const nnbrt_kernel nnbrt_k_sub2;
extern const nnbrt_kernel nnbrt_k_mul2;
extern const nnbrt_kernel nnbrt_k_div2;
extern const nnbrt_kernel nnbrt_k_pow2;
extern const nnbrt_kernel nnbrt_k_add_scalar;
extern const nnbrt_kernel nnbrt_k_mul_scalar;
extern const nnbrt_kernel nnbrt_k_pow_scalar;
extern const nnbrt_kernel nnbrt_k_batch_normalization;
extern const nnbrt_kernel nnbrt_k_soft_plus;
extern const nnbrt_kernel nnbrt_k_dropout;
extern const nnbrt_kernel nnbrt_k_erf;

static const nnbrt_entry nnbrt_kernels[NNBRT_NUM_FUNC_IDS] = {
    [0] = {&nnbrt_k_affine, NULL},
    [2] = {&nnbrt_k_depthwise_convolution, NULL},
    [7] = {&nnbrt_k_global_average_pooling, NULL},
    [11] = {&nnbrt_k_sigmoid, NULL},
    [12] = {&nnbrt_k_swish, NULL},
    [13] = {&nnbrt_k_tanh, NULL},
    [14] = {&nnbrt_k_relu, NULL},
    [16] = {&nnbrt_k_softmax, NULL},
    [17] = {&nnbrt_k_elu, NULL},
    [18] = {&nnbrt_k_selu, NULL},
    [21] = {&nnbrt_k_prelu, NULL},
    [22] = {&nnbrt_k_batch_normalization_v1, NULL},
    [24] = {&nnbrt_k_sum, NULL},
    [25] = {&nnbrt_k_mean, NULL},
    [28] = {&nnbrt_k_prod, NULL},
    [31] = {&nnbrt_k_add2, NULL},
    [40] = {&nnbrt_k_r_sub_scalar, NULL},
    [41] = {&nnbrt_k_r_div_scalar, NULL},
    [42] = {&nnbrt_k_r_pow_scalar, NULL},
    [43] = {&nnbrt_k_sign, NULL},
    [44] = {&nnbrt_k_minimum2, NULL},
    [45] = {&nnbrt_k_maximum2, NULL},
    [46] = {&nnbrt_k_minimum_scalar, NULL},
    [47] = {&nnbrt_k_maximum_scalar, NULL},
    [68] = {&nnbrt_k_abs, NULL},
    [69] = {&nnbrt_k_exp, NULL},
    [70] = {&nnbrt_k_log, NULL},
    [71] = {&nnbrt_k_identity, NULL},
    [72] = {&nnbrt_k_batch_matmul, NULL},
    [73] = {&nnbrt_k_round, NULL},
    [74] = {&nnbrt_k_concatenate, NULL},
    [75] = {&nnbrt_k_split, NULL},
    [76] = {&nnbrt_k_stack, NULL},
    [77] = {&nnbrt_k_slice, NULL},
    [78] = {&nnbrt_k_transpose, NULL},
    [79] = {&nnbrt_k_broadcast, NULL},
    [81] = {&nnbrt_k_flip, NULL},
    [83] = {&nnbrt_k_reshape_v1, NULL},
    [105] = {&nnbrt_k_binary_sigmoid, NULL},
    [106] = {&nnbrt_k_binary_tanh, NULL},
    [123] = {&nnbrt_k_pad, NULL},
    [124] = {&nnbrt_k_ceil, NULL},
    [125] = {&nnbrt_k_floor, NULL},
    [126] = {&nnbrt_k_reshape, NULL},
    [128] = {&nnbrt_k_leaky_relu, NULL},
    [130] = {&nnbrt_k_min, NULL},
    [132] = {&nnbrt_k_max, NULL},
    [173] = {&nnbrt_k_sin, NULL},
    [174] = {&nnbrt_k_cos, NULL},
    [175] = {&nnbrt_k_tan, NULL},
    [176] = {&nnbrt_k_sinh, NULL},
    [177] = {&nnbrt_k_cosh, NULL},
    [178] = {&nnbrt_k_asin, NULL},
    [179] = {&nnbrt_k_acos, NULL},
    [180] = {&nnbrt_k_atan, NULL},
    [181] = {&nnbrt_k_asinh, NULL},
    [182] = {&nnbrt_k_acosh, NULL},
    [183] = {&nnbrt_k_atanh, NULL},
    [241] = {&nnbrt_k_atan2, NULL},
    [245] = {&nnbrt_k_gelu, NULL},
    [251] = {&nnbrt_k_log_sigmoid, NULL},
    [253] = {&nnbrt_k_soft_sign, NULL},
    [254] = {&nnbrt_k_tanh_shrink, NULL},
    [256] = {&nnbrt_k_relu6, NULL},
    [259] = {&nnbrt_k_hard_sigmoid, NULL},
    [261] = {&nnbrt_k_hard_tanh, NULL},
    [265] = {&nnbrt_k_convolution, NULL},
    [266] = {&nnbrt_k_max_pooling, NULL},
    [267] = {&nnbrt_k_average_pooling, NULL},
    [268] = {&nnbrt_k_sum_pooling, NULL},
    [269] = {&nnbrt_k_log_softmax, NULL},
    [287] = {&nnbrt_k_unpooling, NULL},
    [292] = {&nnbrt_k_deconvolution, NULL},
    [307] = {&nnbrt_k_bc_add2, NULL},
    [308] = {&nnbrt_k_sub2, NULL},
    [309] = {&nnbrt_k_mul2, NULL},
    [310] = {&nnbrt_k_div2, NULL},
    [311] = {&nnbrt_k_pow2, NULL},
    [312] = {&nnbrt_k_add_scalar, NULL},
    [313] = {&nnbrt_k_mul_scalar, NULL},
    [314] = {&nnbrt_k_pow_scalar, NULL},
    [326] = {&nnbrt_k_batch_normalization, NULL},
    [335] = {&nnbrt_k_soft_plus, NULL},
    [336] = {&nnbrt_k_dropout, NULL},
    [349] = {&nnbrt_k_erf, NULL},
    [84] = {&nnbrt_k_matrix_diag, NULL},
    [85] = {&nnbrt_k_matrix_diag_part, NULL},
    [19] = {&nnbrt_k_crelu, NULL},
    /* Legacy ids (files converted with a lower --api): older argument codes;
       arguments they lack read as 0 (channel_last=false, no output_padding). */
    [1] = {&nnbrt_k_convolution, "iiIiIiIi"},
    [3] = {&nnbrt_k_deconvolution, "iiIiIiIi"},
    [279] = {&nnbrt_k_deconvolution, "iiIiIiIiB"},
    [5] = {&nnbrt_k_max_pooling, "iIiIBiI"},
    [8] = {&nnbrt_k_sum_pooling, "iIiIBiI"},
    [9] = {&nnbrt_k_unpooling, "iI"},
    [15] = {&nnbrt_k_leaky_relu, "f"},
    [26] = {&nnbrt_k_max, "iIB"},
    [27] = {&nnbrt_k_min, "iIB"},
    [33] = {&nnbrt_k_sub2, ""},
    [34] = {&nnbrt_k_mul2, ""},
    [35] = {&nnbrt_k_div2, ""},
    [36] = {&nnbrt_k_pow2, ""},
    [37] = {&nnbrt_k_add_scalar, "f"},
    [38] = {&nnbrt_k_mul_scalar, "f"},
    [39] = {&nnbrt_k_pow_scalar, "f"},
    [86] = {&nnbrt_k_dropout, "fi"},
    [249] = {&nnbrt_k_hard_sigmoid, ""},
};

static const nnbrt_entry nnbrt_ext_kernels[] = {
    {&nnbrt_k_fused_conv, NULL}, /* 1000 FusedConv */
#ifdef NNBRT_INT8
    {&nnbrt_k_q8_quantize, NULL}, /* 1001 Q8Quantize (q8_ops.c) */
    {&nnbrt_k_q8_dequantize, NULL}, /* 1002 Q8Dequantize (q8_ops.c) */
    {&nnbrt_k_q8_conv, NULL}, /* 1003 Q8Conv (q8_ops.c) */
    {&nnbrt_k_q8_affine, NULL}, /* 1004 Q8Affine (q8_ops.c) */
    {&nnbrt_k_q8_max_pool, NULL}, /* 1005 Q8MaxPool (q8_ops.c) */
    {&nnbrt_k_q8_avg_pool, NULL}, /* 1006 Q8AvgPool (q8_ops.c) */
    {&nnbrt_k_q8_global_avg_pool, NULL}, /* 1007 Q8GlobalAvgPool (q8_ops.c) */
    {&nnbrt_k_q8_add, NULL}, /* 1008 Q8Add (q8_ops.c) */
    {&nnbrt_k_q8_mul, NULL}, /* 1009 Q8Mul (q8_ops.c) */
    {&nnbrt_k_q8_concat, NULL}, /* 1010 Q8Concat (q8_ops.c) */
    {&nnbrt_k_q8_clamp, NULL}, /* 1011 Q8Clamp (q8_ops.c) */
    {&nnbrt_k_q8_lut_conv, NULL}, /* 1012 Q8LutConv (int8/lutq_ops.c) */
    {&nnbrt_k_q8_lut_affine, NULL}, /* 1013 Q8LutAffine (int8/lutq_ops.c) */
    {&nnbrt_k_q8_qconv, NULL}, /* 1014 Q8QConv (q8_ops.c) */
#endif
};

const nnbrt_entry *nnbrt_find_kernel(uint32_t id)
{
    if (id < NNBRT_NUM_FUNC_IDS) return nnbrt_kernels[id].k ? &nnbrt_kernels[id] : NULL;
    if (id - NNBRT_EXT_FIRST_ID < sizeof nnbrt_ext_kernels / sizeof nnbrt_ext_kernels[0])
        return &nnbrt_ext_kernels[id - NNBRT_EXT_FIRST_ID];
    return NULL;
}

/* Fixed-point files compute in integers (fixed_mac.h). */
const int nnbrt_fixed_supported = 1;

int nnbrt_fixed_dispatch(const nnbrt_kernel *k, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                         const int *fin, const nnbrt_tensor *out, int fout, int32_t top)
{
    return nnbrt_fixed_run(k, a, nin, in, fin, out, fout, top);
}
