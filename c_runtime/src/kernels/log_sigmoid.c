/* LogSigmoid (function id 251): elementwise, y = x > 0.0f ? -log1pf(expf(-x)) : x - log1pf(expf(x)). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_log_sigmoid, "LogSigmoid", "", x > 0.0f ? -log1pf(expf(-x)) : x - log1pf(expf(x)))
