/* ATan2 (function id 241): elementwise with numpy-style broadcasting, y = atan2f(a, b). */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_atan2, "ATan2", "", atan2f(a, b))
