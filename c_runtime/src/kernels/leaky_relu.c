/* LeakyReLU (function id 128): elementwise, y = x > 0.0f ? x : a->a[0].f * x. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_leaky_relu, "LeakyReLU", "fB", x > 0.0f ? x : a->a[0].f * x)
