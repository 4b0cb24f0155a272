/* Erf (function id 349): elementwise, y = erff(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_erf, "Erf", "", erff(x))
