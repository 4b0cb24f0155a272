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

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)nout;
    nnbrt_conv_record_run(NNBRT_CONV, a, nin, in, out); /* conv_record.h */
}

const nnbrt_kernel nnbrt_k_convolution = {"Convolution", "iiIiIiIiB", 2, 3, 1, 1, check, run};
