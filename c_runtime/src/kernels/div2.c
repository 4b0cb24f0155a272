/* Div2 (function id 310): elementwise with numpy-style broadcasting, y = a / b. */
#include "../internal.h"
#include <math.h>

NNBRT_BINARY_KERNEL(nnbrt_k_div2, "Div2", "B", a / b)
