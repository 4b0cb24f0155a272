/* Tan (function id 175): elementwise, y = tanf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_tan, "Tan", "", tanf(x))
