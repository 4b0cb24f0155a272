/* Identity (function id 71): elementwise, y = x. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_identity, "Identity", "", x)
