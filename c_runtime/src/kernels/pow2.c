/* Pow2 (function id 311): elementwise with numpy-style broadcasting, y = powf(a, b). */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_pow2, "Pow2", "B", powf(a, b))
