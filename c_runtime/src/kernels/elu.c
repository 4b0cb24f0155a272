/* ELU (function id 17): elementwise, y = x >= 0.0f ? x : a->a[0].f * (expf(x) - 1.0f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_elu, "ELU", "f", x >= 0.0f ? x : a->a[0].f * (expf(x) - 1.0f))
