/* Cosh (function id 177): elementwise, y = coshf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_cosh, "Cosh", "", coshf(x))
