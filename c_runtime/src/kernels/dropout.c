/* Dropout (function id 336): elementwise, y = x. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_dropout, "Dropout", "fiB", x)
