/* Round (function id 73): elementwise, y = roundf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_round, "Round", "", roundf(x))
