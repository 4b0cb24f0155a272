/* TanhShrink (function id 254): elementwise, y = x - tanhf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_tanh_shrink, "TanhShrink", "", x - tanhf(x))
