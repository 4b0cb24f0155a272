/* Convolution (id 265; legacy id 1): N x C x (H) x W, weights OC x C/group x (KH) x KW.
   Fast form: the register-blocked engine of conv_engine.c. */
#include "conv_record.h"

#ifdef NNBRT_PREPARE
/* nnbrt_init: the weights (float, in the image or staged) packed for the engine. */
static void prepare(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout, const nnbrt_tensor *out,
                    void *region)
{
    nnbrt_geom g;
    (void)nout;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    nnbrt_pack_fill((size_t)a->a[4].i, &g, NULL, in[1].data, nin == 3 ? in[2].data : NULL, region);
}
#endif

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    nnbrt_geom g;
    nnbrt_status st;
    (void)nout;
    st = nnbrt_conv_check(a, nin, in, &out[0], NNBRT_CONV, &g, work);
    if (st == NNBRT_OK) {
        if (nnbrt_conv_record_scratch((size_t)a->a[4].i, &in[1], &g, work) != NNBRT_OK) return NNBRT_E_SIZE_OVERFLOW;
#ifdef NNBRT_PREPARE
        if (!in[1].q && in[1].type == 0) { /* float weights: packed once at load where the engine has a form */
            work->persist = nnbrt_pack_bytes((size_t)a->a[4].i, &g, NULL);
            work->prepare = work->persist ? prepare : NULL;
            if (work->persist && nnbrt_pack_scratch((size_t)a->a[4].i, &g, NULL) > work->scratch)
                work->scratch = nnbrt_pack_scratch((size_t)a->a[4].i, &g, NULL);
        }
#endif
    }
    return st;
}

/* Packed weight: decoded a block of output channels at a time (conv_engine.c). */
static void run_packed(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out)
{
    nnbrt_geom g;
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
    nnbrt_conv_record_packed((size_t)a->a[4].i, a->scratch, nin, in, out, &g);
}

/* REF builds: plain reference loops. Fast form: the shared engine (conv_engine.c), or the weights
   packed at load. */
static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_geom g;
    (void)nout;
    if (in[1].q) {
        run_packed(a, nin, in, out);
        return;
    }
    nnbrt_conv_geom(a, in, &out[0], NNBRT_CONV, &g);
#ifdef NNBRT_REFERENCE_KERNELS
    nnbrt_conv_record_ref(a->a[4].i, nin, in, out, &g);
#else
#ifdef NNBRT_PREPARE
    if (in[0].prep && nnbrt_pack_conv((size_t)a->a[4].i, a->scratch, in[0].prep, in[0].data, out[0].data, &g, NULL))
        return;
#endif
    nnbrt_conv_forward((size_t)a->a[4].i, a->scratch, nin, in, out, &g);
#endif
}

const nnbrt_kernel nnbrt_k_convolution = {"Convolution", "iiIiIiIiB", 2, 3, 1, 1, check, run};
