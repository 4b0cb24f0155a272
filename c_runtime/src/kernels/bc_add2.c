/* BcAdd2 (function id 307): elementwise with numpy-style broadcasting, y = a + b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_bc_add2, "BcAdd2", "B", a + b)
