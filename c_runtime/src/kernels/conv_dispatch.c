/* Run-time instruction-set dispatch of the convolution engine (built with
   DISPATCH=1 on x86-64, see conv_util.h): the plain engine entry points
   call the _avx512, _avx2 or _base variant. The choice is made once, at
   the first call (nnbrt_arena_size / nnbrt_init validate every layer
   through the *_scratch functions, so a network's scratch sizes and its
   kernels always come from the same variant): the widest the CPU and OS
   support, or a narrower one named by the environment variable NNBRT_ISA
   (base, avx2, avx512), for tests and comparisons. */
#include "conv_util.h"

#if defined(NNBRT_PREPARE) || defined(NNBRT_DISPATCH)
#include <stdlib.h>
#endif

#ifdef NNBRT_PREPARE
static int g_pack = -1;

int nnbrt_pack_enabled(void)
{
    if (g_pack < 0) {
        const char *e = getenv("NNBRT_PACK");
        g_pack = !(e && !strcmp(e, "0")); /* the same value whichever thread stores it */
    }
    return g_pack;
}
#endif

#ifdef NNBRT_DISPATCH

#define DECLARE(sfx)                                                                                    \
    size_t nnbrt_conv_engine_scratch##sfx(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);     \
    void nnbrt_conv_engine##sfx(size_t group, float *scratch, const float *x, const float *w,          \
                                const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f); \
    size_t nnbrt_conv_scratch##sfx(size_t group, const nnbrt_geom *g);                                 \
    void nnbrt_conv_forward##sfx(size_t group, float *scratch, int nin, const nnbrt_tensor *in,        \
                                 const nnbrt_tensor *out, const nnbrt_geom *g);                        \
    size_t nnbrt_qconv_scratch##sfx(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);           \
    void nnbrt_qconv##sfx(size_t group, float *scratch, const float *x, const nnbrt_qw *w,              \
                          const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f);      \
    void nnbrt_sgemm##sfx(size_t M, size_t N, size_t K, const float *A, const float *B, size_t ldb,    \
                          float *C, size_t ldc);                                                       \
    size_t nnbrt_pack_bytes##sfx(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);              \
    void nnbrt_pack_fill##sfx(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w,   \
                              const float *bias, void *dst);                                           \
    size_t nnbrt_pack_scratch##sfx(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);            \
    int nnbrt_pack_conv##sfx(size_t group, float *scratch, const void *pk, const float *x, float *y,    \
                             const nnbrt_geom *g, const nnbrt_fuse *f);
DECLARE(_base)
DECLARE(_avx2)
DECLARE(_avx512)

enum { ISA_BASE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static int g_isa = -1;

static int isa(void)
{
    if (g_isa < 0) {
        const char *want = getenv("NNBRT_ISA");
        int best = ISA_BASE;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = ISA_AVX2;
        if (best == ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
            best = ISA_AVX512;
        if (want && !strcmp(want, "base")) best = ISA_BASE;
        else if (want && !strcmp(want, "avx2") && best > ISA_AVX2) best = ISA_AVX2;
        g_isa = best; /* the same value whichever thread stores it */
    }
    return g_isa;
}

const char *nnbrt_kernel_isa(void)
{
    static const char *const names[] = {"x86-64 dispatch: base (SSE2)", "x86-64 dispatch: avx2",
                                        "x86-64 dispatch: avx512"};
    return names[isa()];
}

#define PICK(fn, args)                                                                              \
    (isa() == ISA_AVX512 ? fn##_avx512 args : isa() == ISA_AVX2 ? fn##_avx2 args : fn##_base args)

size_t nnbrt_conv_engine_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return PICK(nnbrt_conv_engine_scratch, (group, g, f));
}

void nnbrt_conv_engine(size_t group, float *scratch, const float *x, const float *w, const float *bias,
                       float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    PICK(nnbrt_conv_engine, (group, scratch, x, w, bias, y, g, f));
}

size_t nnbrt_conv_scratch(size_t group, const nnbrt_geom *g)
{
    return PICK(nnbrt_conv_scratch, (group, g));
}

void nnbrt_conv_forward(size_t group, float *scratch, int nin, const nnbrt_tensor *in, const nnbrt_tensor *out,
                        const nnbrt_geom *g)
{
    PICK(nnbrt_conv_forward, (group, scratch, nin, in, out, g));
}

size_t nnbrt_qconv_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return PICK(nnbrt_qconv_scratch, (group, g, f));
}

void nnbrt_qconv(size_t group, float *scratch, const float *x, const nnbrt_qw *w, const float *bias, float *y,
                 const nnbrt_geom *g, const nnbrt_fuse *f)
{
    PICK(nnbrt_qconv, (group, scratch, x, w, bias, y, g, f));
}

void nnbrt_sgemm(size_t M, size_t N, size_t K, const float *A, const float *B, size_t ldb, float *C, size_t ldc)
{
    PICK(nnbrt_sgemm, (M, N, K, A, B, ldb, C, ldc));
}

size_t nnbrt_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return PICK(nnbrt_pack_bytes, (group, g, f));
}

void nnbrt_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                     void *dst)
{
    PICK(nnbrt_pack_fill, (group, g, f, w, bias, dst));
}

size_t nnbrt_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return PICK(nnbrt_pack_scratch, (group, g, f));
}

int nnbrt_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                    const nnbrt_fuse *f)
{
    return PICK(nnbrt_pack_conv, (group, scratch, pk, x, y, g, f));
}
#else
/* Builds without dispatch: the kernels were compiled for one target. */
const char *nnbrt_kernel_isa(void)
{
#if defined(NNBRT_REFERENCE_KERNELS)
    return "reference (plain loops)";
#elif defined(NNBRT_NO_VECTOR_EXT) || !defined(__GNUC__)
    return "scalar";
#elif defined(__AVX512F__)
    return "compiled: avx512";
#elif defined(__AVX2__)
    return "compiled: avx2";
#elif defined(__AVX__)
    return "compiled: avx";
#elif defined(__ARM_NEON)
    return "compiled: neon";
#else
    return "compiled: 4-float vectors";
#endif
}
#endif
