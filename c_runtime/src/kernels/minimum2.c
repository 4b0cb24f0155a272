/* Minimum2 (function id 44): elementwise with numpy-style broadcasting, y = a < b ? a : b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_minimum2, "Minimum2", "", a < b ? a : b)
