/* The OpenCL build's kernel lookup: the CPU kernel table (kernel_table.c, included
 * under another name) and, while the OpenCL host records a network's launches,
 * the same kernels with their run replaced by the recorder (host.c).  The loader
 * validates and decodes every function exactly as for the CPU; only the call of
 * the kernel goes elsewhere. */
#define nnbrt_find_kernel nnbrt_find_cpu_kernel
#include "../kernels/kernel_table.c"
#undef nnbrt_find_kernel

#include "ocl_internal.h"

const nnbrt_entry *nnbrt_find_kernel(uint32_t id);

nnbrt_run_fn nnbrt_ocl_recorder = NULL; /* set by host.c while recording */

#define NNBRT_OCL_EXT_SLOTS 16
static nnbrt_kernel wrapped[NNBRT_NUM_FUNC_IDS + NNBRT_OCL_EXT_SLOTS];
static nnbrt_entry wrapped_entry[NNBRT_NUM_FUNC_IDS + NNBRT_OCL_EXT_SLOTS];

const nnbrt_entry *nnbrt_find_kernel(uint32_t id)
{
    const nnbrt_entry *e = nnbrt_find_cpu_kernel(id);
    uint32_t slot;
    if (!e || !nnbrt_ocl_recorder) return e;
    if (id < NNBRT_NUM_FUNC_IDS) {
        slot = id;
    } else if (id - NNBRT_EXT_FIRST_ID < NNBRT_OCL_EXT_SLOTS) {
        slot = NNBRT_NUM_FUNC_IDS + (id - NNBRT_EXT_FIRST_ID);
    } else {
        return e;
    }
    wrapped[slot] = *e->k;
    wrapped[slot].run = nnbrt_ocl_recorder;
    wrapped_entry[slot].k = &wrapped[slot];
    wrapped_entry[slot].argcode = e->argcode;
    return &wrapped_entry[slot];
}
