/* nnb OpenCL kernels: shared conventions (OpenCL C 1.2, no extensions).
 *
 * Every kernel takes the same three leading arguments:
 *   m  the one float buffer holding the arena (the plan's offsets), the network
 *      inputs and the float parameters; tensors are addressed by element offsets
 *   P  the int buffer of launch parameters (shapes, strides, offsets; floats as bits)
 *   p  where this launch's parameters start in P
 * so one program serves every model and a launch is fully described by its ints.
 * The host (nnb/backends/opencl_plan.py, c_runtime/src/opencl) writes P.
 */
#define PI(k) (P[p + (k)])
#define PF(k) (as_float(P[p + (k)]))
#define KARGS __global float *m, __global const int *P, const int p

/* element offset of flat index i (row-major over shape[nd]) with the given strides */
int strided(int i, int nd, __global const int *shape, __global const int *stride)
{
    int off = 0;
    for (int d = nd - 1; d >= 0; --d) {
        int s = shape[d];
        off += (i % s) * stride[d];
        i /= s;
    }
    return off;
}
