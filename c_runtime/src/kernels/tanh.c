/* Tanh (function id 13): elementwise, y = tanhf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_tanh, "Tanh", "", tanhf(x))
