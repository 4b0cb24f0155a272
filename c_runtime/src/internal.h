/* Internal definitions shared by the loader and the kernels. */
#ifndef NNBRT_INTERNAL_H
#define NNBRT_INTERNAL_H

#include "nnbrt.h"
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define NNBRT_MAX_ARGS 16
#define NNBRT_NUM_FUNC_IDS 361

/** A bit-packed quantized weight (extended files, docs/nnb_format.md
    "Quantized variable types"): `size` codes of `bits` bits, LSB first in
    little-endian u32 words, output-channel major. Validated at load. */
typedef struct {
    const uint32_t *words; /* the data chunk (in the image) */
    const float *table;    /* kind 4: K floats (in the image); kind 5: NULL */
    float step;            /* kind 5: value = code * step */
    uint32_t kind, bits, K;/* kind 4 LUT or 5 uniform; 0: not quantized */
} nnbrt_qw;

/* ---- load-time preparation ("packed weights") ----
   NNBRT_PREPARE is defined in builds where kernels may keep data prepared
   once by nnbrt_init (e.g. weights re-laid out into a kernel's tile order,
   bias folded in): x86-64/AArch64 hosts with the vector kernels. It is off
   in microcontroller builds (NNBRT_MCU_KERNELS, Cortex-M: weights stay in
   flash, RAM unchanged), SMALL builds (NNBRT_NO_VECTOR_EXT), REF builds
   (NNBRT_REFERENCE_KERNELS) and with -DNNBRT_NO_PREPARE.

   Protocol (see nnbrt_cost below):
   1. A kernel's check may set cost->persist (bytes it wants kept for the
      life of the net) and cost->prepare (the function that fills them).
      The check must give the same answer for the same function every time
      (nnbrt_arena_size and nnbrt_init call it; the answer may depend only on
      the arguments, the tensor shapes/types and the build's ISA choice).
      Functions of more than NNBRT_CHECK_IO inputs + outputs, or without
      inputs, get no region.
   2. nnbrt_arena_size adds a table (8 bytes per such function, 64-aligned)
      and every region (each 64-aligned) to the arena: the "packed weights"
      part (nnbrt_packed_bytes; `nnbrt info` prints it).
   3. nnbrt_init, once the whole file is validated (structure, kernel
      checks, data flow) and fixed-point parameters are staged, calls
      prepare(a, nin, in, nout, out, region) once per such function, in file
      order: in[] hold the parameter data (the image), outputs and
      activations are not to be read. region is 64-byte aligned, persist
      bytes, not zeroed.
   4. At run time the loader hands the region to the kernel as in[0].prep
      (NULL for every other tensor, for functions without a region, and in
      emitted C, which memsets its tensors): the loader walks its table in
      step with the records it decodes anyway (no per-function lookup).
      A kernel must still run correctly with in[0].prep == NULL (REF
      builds, emit-c, NNBRT_PACK=0). */
#if !defined(NNBRT_NO_PREPARE) && !defined(NNBRT_REFERENCE_KERNELS) && !defined(NNBRT_NO_VECTOR_EXT) && \
    !defined(NNBRT_MCU_KERNELS) && defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
#define NNBRT_PREPARE 1
#endif

/** A variable as seen by kernels. dims points into the image. */
typedef struct {
    int ndim;
    const int32_t *dims;
    size_t size;      /* element count (1 for ndim 0) */
    float *data;      /* NULL while only validating, and for packed weights; types 6/7: int8/int32 values */
    const nnbrt_qw *q;/* packed weight (input 1 of Affine/conv kernels only), else NULL */
    int32_t type;     /* variable type: 0 float (also fixed point and SIGN, held as float), 4/5 packed,
                         6 int8 with scale and zero point, 7 int32 (docs/nnb_format.md "int8 models") */
    int32_t zero;     /* type 6: zero point */
    uint32_t nscale;  /* type 6: number of scales (1: per tensor) */
    const uint8_t *scale; /* type 6: nscale little-endian float64 scales in the image */
#ifdef NNBRT_PREPARE
    void *prep;       /* in[0] at run time: the function's load-time prepared region, else NULL */
#endif
} nnbrt_tensor;

#define NNBRT_TYPE_Q8 6
#define NNBRT_TYPE_I32 7

/** One decoded function argument. */
typedef struct {
    int32_t i;            /* int / bool / choice value */
    float f;              /* float value */
    int32_t count;        /* list length */
    const int32_t *list;  /* list values (in the image) */
} nnbrt_arg;

typedef struct {
    int n;
    nnbrt_arg a[NNBRT_MAX_ARGS];
    float *scratch; /* shared scratch area (arena), NULL while validating */
} nnbrt_args;

struct nnbrt_cost_s;
typedef nnbrt_status (*nnbrt_check_fn)(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                                       int nout, const nnbrt_tensor *out, struct nnbrt_cost_s *work);
/* Fills a function's load-time region (see NNBRT_PREPARE above). */
typedef void (*nnbrt_prepare_fn)(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                 const nnbrt_tensor *out, void *region);

/** Filled by a kernel's check: rough op count and scratch bytes needed by
    run; optionally (NNBRT_PREPARE builds) persistent bytes and the function
    that fills them once at load (zeroed by the loader before the check). */
typedef struct nnbrt_cost_s {
    uint64_t work;
    size_t scratch;
    size_t persist;            /* bytes of the load-time region, 0: none */
    nnbrt_prepare_fn prepare;  /* fills it (required when persist > 0) */
} nnbrt_cost;

typedef void (*nnbrt_run_fn)(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                             int nout, const nnbrt_tensor *out);

typedef struct {
    const char *name;
    const char *argcode;   /* i f B, "iI" list; "" for none */
    int min_in, max_in, min_out, max_out;
    nnbrt_check_fn check;
    nnbrt_run_fn run;
} nnbrt_kernel;

/* Dispatch entry: kernel and, for legacy ids, the older argument code. */
typedef struct {
    const nnbrt_kernel *k;
    const char *argcode; /* NULL: k->argcode */
} nnbrt_entry;

/* First extended (nnb-only) function id: 1000 FusedConv. */
#define NNBRT_EXT_FIRST_ID 1000u
/* int8 records (kernels/q8_ops.c): the only kernels that take type 6/7 tensors. */
#define NNBRT_Q8_FIRST_ID 1001u
#define NNBRT_Q8_LAST_ID 1014u /* 1012-1013: LUT-Q int8 records (kernels/int8/lutq_ops.c); 1014 Q8QConv */
/* Kernel of a function id (legacy ids included), NULL if none. Defined by
   kernels/kernel_table.c, or by a generated per-model table that lists
   only the ids one model uses (so the linker drops the other kernels). */
const nnbrt_entry *nnbrt_find_kernel(uint32_t id);

/* ---- helpers for kernels (common.c) ---- */
int nnbrt_same_shape(const nnbrt_tensor *a, const nnbrt_tensor *b);
size_t nnbrt_prod(const nnbrt_tensor *t, int from, int to); /* product of dims[from..to) */
/* In is one tensor, out one tensor of same shape. */
nnbrt_status nnbrt_check_unary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *work);
/* Numpy-style broadcast check of in[0], in[1] -> out. */
nnbrt_status nnbrt_check_binary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                const nnbrt_tensor *out, nnbrt_cost *work);
/* Broadcast iteration setup: strides (0 on broadcast dims) per output dim. */
typedef struct {
    int ndim;              /* dims of output, merged; innermost last */
    size_t dims[NNBRT_MAX_NDIM];
    size_t sa[NNBRT_MAX_NDIM], sb[NNBRT_MAX_NDIM];
} nnbrt_bcast;
void nnbrt_bcast_init(nnbrt_bcast *bc, const nnbrt_tensor *a, const nnbrt_tensor *b,
                      const nnbrt_tensor *out);
/* Advance idx (outer dims, excluding the innermost) and offsets; returns 0 when done. */
int nnbrt_bcast_next(const nnbrt_bcast *bc, size_t *idx, size_t *oa, size_t *ob);

/* Packed weights: decode codes first .. first+n-1 into out (float). */
void nnbrt_qw_decode(const nnbrt_qw *q, size_t first, size_t n, float *out);
/* Decoded weights per block (floats of kernel scratch): a block is whole
   output channels, at least one. */
#ifndef NNBRT_QBLOCK_WEIGHTS
#define NNBRT_QBLOCK_WEIGHTS 2048
#endif

/* Normalise an axis argument (allows negative), returns -1 when out of range. */
int nnbrt_axis(int32_t axis, int ndim);

/* Elementwise unary kernel definition. */
#define NNBRT_UNARY_KERNEL(sym, NAME, ARGCODE, EXPR)                                      \
    static void sym##_run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,   \
                          const nnbrt_tensor *out)                                          \
    {                                                                                       \
        const float *xp = in[0].data;                                                       \
        float *yp = out[0].data;                                                            \
        size_t n = out[0].size, k;                                                          \
        (void)a; (void)nin; (void)nout;                                                     \
        for (k = 0; k < n; ++k) {                                                           \
            const float x = xp[k];                                                          \
            yp[k] = (EXPR);                                                                 \
        }                                                                                   \
    }                                                                                       \
    const nnbrt_kernel sym = {NAME, ARGCODE, 1, 1, 1, 1, nnbrt_check_unary, sym##_run};

/* Elementwise binary kernel with broadcasting. */
#define NNBRT_BINARY_KERNEL(sym, NAME, ARGCODE, EXPR)                                     \
    static void sym##_run(const nnbrt_args *args, int nin, const nnbrt_tensor *in,          \
                          int nout, const nnbrt_tensor *out)                                \
    {                                                                                       \
        const float *ap = in[0].data, *bp = in[1].data;                                     \
        float *yp = out[0].data;                                                            \
        (void)args; (void)nin; (void)nout;                                                  \
        if (in[0].size == out[0].size && in[1].size == out[0].size) {                       \
            size_t k, n = out[0].size;                                                      \
            for (k = 0; k < n; ++k) {                                                       \
                const float a = ap[k], b = bp[k];                                           \
                yp[k] = (EXPR);                                                             \
            }                                                                               \
        } else {                                                                            \
            nnbrt_bcast bc;                                                                 \
            size_t idx[NNBRT_MAX_NDIM] = {0}, oa = 0, ob = 0, oy = 0;                       \
            nnbrt_bcast_init(&bc, &in[0], &in[1], &out[0]);                                 \
            do {                                                                            \
                const size_t n = bc.dims[bc.ndim - 1];                                      \
                const size_t sa = bc.sa[bc.ndim - 1], sb = bc.sb[bc.ndim - 1];              \
                size_t k;                                                                   \
                for (k = 0; k < n; ++k) {                                                   \
                    const float a = ap[oa + k * sa], b = bp[ob + k * sb];                   \
                    yp[oy + k] = (EXPR);                                                    \
                }                                                                           \
                oy += n;                                                                    \
            } while (nnbrt_bcast_next(&bc, idx, &oa, &ob));                                 \
        }                                                                                   \
    }                                                                                       \
    const nnbrt_kernel sym = {NAME, ARGCODE, 2, 2, 1, 1, nnbrt_check_binary, sym##_run};

#endif
