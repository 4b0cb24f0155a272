/* nnbrt on an OpenCL device: the network the C runtime loaded (same NNB, same
 * arena plan) executed with the kernels of the opencl/ kernel files (.cl) through the OpenCL C API.
 * Optional: built by `make OPENCL=1` against libOpenCL (ocl-icd-opencl-dev).
 *
 *   nnbrt_net *net;  ... nnbrt_init(&net, image, len, arena, arena_len) ...
 *   nnbrt_ocl *ocl;  char err[512];
 *   if (nnbrt_ocl_open(&ocl, net, image, len, arena, arena_len, 0, NULL, err, sizeof err)) { puts(err); }
 *   ... write the inputs (nnbrt_input) ...
 *   nnbrt_ocl_run(ocl, err, sizeof err);   -> the outputs (nnbrt_output) hold the device's results
 *   nnbrt_ocl_close(ocl);
 *
 * Memory is allocated by nnbrt_ocl_open only (host tables and device buffers);
 * a run allocates nothing.  Errors: nonzero return and one line in err.
 */
#ifndef NNBRT_OPENCL_H
#define NNBRT_OPENCL_H

#include "nnbrt.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnbrt_ocl nnbrt_ocl;

/** Plan the network's launches and upload its weights to OpenCL device `device`
    (numbered over all platforms, as `nnb devices` does). `cl_dir`: the directory
    of the .cl files (NULL: $NNBRT_OPENCL_DIR, else the build's opencl/ directory). */
int nnbrt_ocl_open(nnbrt_ocl **ocl, nnbrt_net *net, const void *image, size_t image_len, void *arena,
                   size_t arena_len, int device, const char *cl_dir, char *err, size_t errlen);
/** Copy the inputs to the device, run every launch on one in-order queue, copy the outputs back. */
int nnbrt_ocl_run(nnbrt_ocl *ocl, char *err, size_t errlen);
/** The device's name. */
const char *nnbrt_ocl_device_name(const nnbrt_ocl *ocl);
/** Number of kernel launches of one run. */
int nnbrt_ocl_num_launches(const nnbrt_ocl *ocl);
void nnbrt_ocl_close(nnbrt_ocl *ocl);

#ifdef __cplusplus
}
#endif
#endif
