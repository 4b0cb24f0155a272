/* Log (function id 70): elementwise, y = logf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_log, "Log", "", logf(x))
