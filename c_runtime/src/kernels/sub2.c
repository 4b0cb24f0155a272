/* Sub2 (function id 308): elementwise with numpy-style broadcasting, y = a - b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_sub2, "Sub2", "B", a - b)
