/* Maximum2 (function id 45): elementwise with numpy-style broadcasting, y = a > b ? a : b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_maximum2, "Maximum2", "", a > b ? a : b)
