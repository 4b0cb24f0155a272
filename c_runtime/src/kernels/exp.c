/* Exp (function id 69): elementwise, y = expf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_exp, "Exp", "", expf(x))
