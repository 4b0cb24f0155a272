/* ACosh (function id 182): elementwise, y = acoshf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_acosh, "ACosh", "", acoshf(x))
