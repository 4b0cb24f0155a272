/* Mul2 (function id 309): elementwise with numpy-style broadcasting, y = a * b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_mul2, "Mul2", "B", a * b)
