/* Minimal bare-metal program for the cortex-m4 size report (make cortex-m4):
   load and run the NNB image in `nnbrt_model` (a placeholder here; a real
   build links the model's bytes, e.g. from xxd -i or objcopy). M4_BASELINE
   builds the same program without the runtime, to subtract libc/startup. */
#include "nnbrt.h"

const uint32_t nnbrt_model_placeholder[16] = {0};
const void *volatile nnbrt_model = nnbrt_model_placeholder;
volatile size_t nnbrt_model_len = sizeof nnbrt_model_placeholder;
static uint32_t arena[16384];

int main(void)
{
#ifdef M4_BASELINE
    return (int)nnbrt_model_len + (int)arena[nnbrt_model_len % 16384u];
#else
    nnbrt_net *net;
    size_t need;
    if (nnbrt_arena_size(nnbrt_model, nnbrt_model_len, &need) != NNBRT_OK) return 1;
    if (nnbrt_init(&net, nnbrt_model, nnbrt_model_len, arena, sizeof arena) != NNBRT_OK) return 2;
    return nnbrt_run(net) == NNBRT_OK ? 0 : 3;
#endif
}
