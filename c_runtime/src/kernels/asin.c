/* ASin (function id 178): elementwise, y = asinf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_asin, "ASin", "", asinf(x))
