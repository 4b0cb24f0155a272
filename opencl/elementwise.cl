/* Elementwise ops: unary (activations, scalar arithmetic) and broadcasting binary ops. */

#define U_IDENTITY 0
#define U_RELU 1
#define U_LEAKY_RELU 2
#define U_RELU6 3
#define U_SIGMOID 4
#define U_SWISH 5
#define U_TANH 6
#define U_ELU 7
#define U_SELU 8
#define U_HARD_SIGMOID 9
#define U_HARD_TANH 10
#define U_ABS 11
#define U_EXP 12
#define U_LOG 13
#define U_SQRT 14
#define U_SOFT_PLUS 15
#define U_SIGN 16
#define U_ADD_SCALAR 17
#define U_MUL_SCALAR 18
#define U_POW_SCALAR 19
#define U_RSUB_SCALAR 20
#define U_RDIV_SCALAR 21
#define U_RPOW_SCALAR 22
#define U_MAX_SCALAR 23
#define U_MIN_SCALAR 24
#define U_SOFT_SIGN 25
#define U_SIN 26
#define U_COS 27
#define U_TAN 28
#define U_SINH 29
#define U_COSH 30
#define U_ASIN 31
#define U_ACOS 32
#define U_ATAN 33
#define U_ASINH 34
#define U_ACOSH 35
#define U_ATANH 36
#define U_CEIL 37
#define U_FLOOR 38
#define U_ROUND 39
#define U_ERF 40
#define U_GELU 41
#define U_LOG_SIGMOID 42
#define U_TANH_SHRINK 43
#define U_BINARY_SIGMOID 44
#define U_BINARY_TANH 45

float unary_op(int op, float x, float a, float b)
{
    switch (op) {
    case U_RELU: return fmax(x, 0.0f);
    case U_LEAKY_RELU: return x > 0.0f ? x : x * a;
    case U_RELU6: return fmin(fmax(x, 0.0f), 6.0f);
    case U_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case U_SWISH: return x / (1.0f + exp(-x));
    case U_TANH: return tanh(x);
    case U_ELU: return x >= 0.0f ? x : a * expm1(x);
    case U_SELU: return a * (x > 0.0f ? x : b * expm1(x));
    case U_HARD_SIGMOID: return clamp(x * 0.2f + 0.5f, 0.0f, 1.0f);
    case U_HARD_TANH: return clamp(x, -1.0f, 1.0f);
    case U_ABS: return fabs(x);
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_SOFT_PLUS: {
        float z = x * a;
        return (fmax(z, 0.0f) + log1p(exp(-fabs(z)))) / a;
    }
    case U_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : a);
    case U_ADD_SCALAR: return x + a;
    case U_MUL_SCALAR: return x * a;
    case U_POW_SCALAR: return pow(x, a);
    case U_RSUB_SCALAR: return a - x;
    case U_RDIV_SCALAR: return a / x;
    case U_RPOW_SCALAR: return pow(a, x);
    case U_MAX_SCALAR: return fmax(x, a);
    case U_MIN_SCALAR: return fmin(x, a);
    case U_SOFT_SIGN: return x / (1.0f + fabs(x));
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_CEIL: return ceil(x);
    case U_FLOOR: return floor(x);
    case U_ROUND: return round(x);
    case U_ERF: return erf(x);
    case U_GELU: return 0.5f * x * (1.0f + tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case U_LOG_SIGMOID: return x > 0.0f ? -log1p(exp(-x)) : x - log1p(exp(x));
    case U_TANH_SHRINK: return x - tanh(x);
    case U_BINARY_SIGMOID: return x > 0.0f ? 1.0f : 0.0f;
    case U_BINARY_TANH: return x > 0.0f ? 1.0f : -1.0f;
    default: return x;
    }
}

/* P: op, n, x, y, a (float bits), b (float bits) */
__kernel void unary(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    m[PI(3) + i] = unary_op(PI(0), m[PI(2) + i], PF(4), PF(5));
}

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_POW 4
#define B_MAX 5
#define B_MIN 6
#define B_PRELU 7
#define B_ATAN2 8

/* P: op, n, nd, a, b, y, shape[nd], a_stride[nd], b_stride[nd]; y contiguous */
__kernel void binary(KARGS)
{
    int i = get_global_id(0);
    if (i >= PI(1))
        return;
    int nd = PI(2);
    __global const int *shape = P + p + 6;
    float a = m[PI(3) + strided(i, nd, shape, shape + nd)];
    float b = m[PI(4) + strided(i, nd, shape, shape + 2 * nd)];
    float y;
    switch (PI(0)) {
    case B_ADD: y = a + b; break;
    case B_SUB: y = a - b; break;
    case B_MUL: y = a * b; break;
    case B_DIV: y = a / b; break;
    case B_POW: y = pow(a, b); break;
    case B_MAX: y = fmax(a, b); break;
    case B_MIN: y = fmin(a, b); break;
    case B_PRELU: y = a >= 0.0f ? a : a * b; break;
    case B_ATAN2: y = atan2(a, b); break;
    default: y = a; break;
    }
    m[PI(5) + i] = y;
}
