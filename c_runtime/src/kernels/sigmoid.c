/* Sigmoid (function id 11): elementwise, y = 1.0f / (1.0f + expf(-x)). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_sigmoid, "Sigmoid", "", 1.0f / (1.0f + expf(-x)))
