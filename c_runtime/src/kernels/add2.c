/* Add2 (function id 31): elementwise with numpy-style broadcasting, y = a + b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_add2, "Add2", "B", a + b)
