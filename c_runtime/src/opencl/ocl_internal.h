/* Shared by the OpenCL host (host.c) and its kernel lookup (kernel_hook.c). */
#ifndef NNBRT_OCL_INTERNAL_H
#define NNBRT_OCL_INTERNAL_H

#include "../internal.h"

/* While non-NULL, nnbrt_find_kernel hands the loader kernels whose run is this
   function: nnbrt_run_range then records launches instead of computing. */
extern nnbrt_run_fn nnbrt_ocl_recorder;

#endif
