/*
 * nnbrt.h - allocation-free float32 runtime for nnabla NNB model files.
 *
 * Usage:
 *   size_t need;
 *   nnbrt_status st = nnbrt_arena_size(image, image_len, &need);
 *   void *arena = <caller storage of `need` bytes, any alignment>;
 *   nnbrt_net *net;
 *   st = nnbrt_init(&net, image, image_len, arena, need);
 *   float *in; const int32_t *shape; int ndim;
 *   nnbrt_input(net, 0, &in, &shape, &ndim);   ... fill in[] ...
 *   st = nnbrt_run(net);
 *   nnbrt_output(net, 0, &out, &shape, &ndim);
 *
 * Properties:
 * - The library never allocates memory, never prints and never exits. The
 *   network context (one data pointer per variable, the working set of the
 *   function being run) and every working buffer live in the caller's
 *   arena; function records, shapes, arguments and parameters are read in
 *   place from the image (flash on a microcontroller), so the arena is the
 *   tensors + kernel scratch + under 1 KB of tables on a 32-bit target.
 * - Stack: on a Cortex-M4 the loader's own frames are 232 B above a
 *   kernel's check in nnbrt_init and 48 B above a kernel's run in nnbrt_run
 *   (c_runtime/tools/stack_usage.py prints the deepest paths).
 * - `image` (the NNB file contents) must be 4-byte aligned and stay alive
 *   and unmodified while the net is used: parameters and shapes are read in
 *   place. The library never writes to the image.
 * - Every field of the file is validated before use (header, index table,
 *   list references, shapes, parameter sizes, buffer references, function
 *   input/output counts, argument values and output shapes), and so is
 *   the data flow (nnbrt_init): every tensor is written before it is read
 *   in file order, a function's output shares storage with its input only
 *   as an exact alias the kernel is declared safe for, no function writes a
 *   parameter or a network input, and two tensors live at the same time
 *   never share storage (v2/v3 buffers and the extended plan alike). The
 *   arena is at most NNBRT_MAX_ARENA. A corrupt or hostile file yields an
 *   error status, never an out-of-bounds access.
 * - Chunk offsets in the index table must be 4-aligned and non-decreasing
 *   (the converter writes chunks in order); a chunk extends to the offset
 *   of the next one, and every list/record/parameter must fit in its chunk.
 * - Network inputs and outputs get private storage, so inputs survive a
 *   run and `nnbrt_run` may be called repeatedly.
 * - FLOAT, FIXED16 and FIXED8 variables (v2/v3 files; value = integer /
 *   2^fp_pos). Fixed-point variables are held as floats: parameters are
 *   dequantised into the arena by nnbrt_init, and every fixed-point
 *   network input and function output is rounded to its grid (round half
 *   up, saturating) when written, so values are exactly what the fixed
 *   type can store; arithmetic inside a kernel is float (upstream's
 *   integer kernels may differ by one step of rounding). The I/O API stays
 *   float. SIGN and other types are rejected with
 *   NNBRT_E_UNSUPPORTED_TYPE. channel_last=true is rejected.
 * - NNB versions 2 and 3 (v2: buffer sizes in elements, v3 in bytes) with
 *   api_level <= NNBRT_MAX_API_LEVEL are accepted, and nnb's extended
 *   format (version 1001, docs/nnb_format.md): buffer variables live at
 *   the plan's offsets in one arena region (validated: inside arena_bytes,
 *   4-aligned, an output overlapping an input only where the function can
 *   work in place), network inputs get private storage and are never
 *   written, outputs are read where the plan puts them (valid until the
 *   next nnbrt_run), and extended function ids (1000 FusedConv) are
 *   allowed.
 * - Extended files may hold the weight of Affine, Convolution,
 *   DepthwiseConvolution and FusedConv bit-packed (variable types 4 LUT and
 *   5 uniform with a quant descriptor, docs/nnb_format.md); every
 *   descriptor field and every LUT code is validated at load
 *   (NNBRT_E_BAD_QUANT), and kernels decode a block of output channels at
 *   a time into a few KB of scratch. Little-endian hosts (as everywhere).
 * - Extended files may hold a calibrated int8 model (docs/nnb_format.md
 *   "int8 models"; built with -DNNBRT_INT8 and src/kernels/int8/, as the
 *   Makefile does): variable type 6 (int8 with a float64 scale and a zero
 *   point, one byte per value in the arena) and 7 (int32 parameters), records
 *   1001-1014: 1001-1011 (Q8Quantize, Q8Dequantize, Q8Conv, Q8Affine,
 *   Q8MaxPool, Q8AvgPool, Q8GlobalAvgPool, Q8Add, Q8Mul, Q8Concat, Q8Clamp)
 *   and 1014 (Q8QConv: a first convolution that quantizes the float network
 *   input one sample at a time into its kernel scratch, so no int8 copy of
 *   the input is in the arena) run by src/kernels/q8_ops.c, 1012/1013
 *   (Q8LutConv, Q8LutAffine: LUT-Q codes with int8 activations) by
 *   src/kernels/int8/lutq_ops.c, on the nnb_i8_* kernels. Network inputs and outputs
 *   stay float (quantized on entry, dequantized at the end), so this API is
 *   unchanged; float kernels refuse int8/int32 tensors
 *   (NNBRT_E_UNSUPPORTED_TYPE) and every int8 record checks its types,
 *   shapes, arguments and integer constants at load.
 */
#ifndef NNBRT_H
#define NNBRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols; the library is built with -fvisibility=hidden so only
   these are exported from libnnbrt.so. */
#if defined(NNBRT_BUILD) && defined(__GNUC__)
#define NNBRT_API __attribute__((visibility("default")))
#else
#define NNBRT_API
#endif

#define NNBRT_MAX_API_LEVEL 44
/** Largest number of dimensions of a variable. */
#define NNBRT_MAX_NDIM 8
/** Largest number of inputs or outputs of one function. */
#define NNBRT_MAX_FN_IO 64
/** Largest arena nnbrt_arena_size accepts (bytes; a build may set its own,
    e.g. -DNNBRT_MAX_ARENA=262144 for a board): a file asking for more is
    refused with NNBRT_E_ARENA_LIMIT instead of a huge allocation. */
#ifndef NNBRT_MAX_ARENA
#define NNBRT_MAX_ARENA ((size_t)256u << 20)
#endif

typedef enum {
    NNBRT_OK = 0,
    NNBRT_E_NULL_ARG,             /**< a required pointer argument is NULL */
    NNBRT_E_MISALIGNED,           /**< image is not 4-byte aligned */
    NNBRT_E_TRUNCATED,            /**< file shorter than header/index/data area */
    NNBRT_E_BAD_VERSION,          /**< version not 2, 3 or 1001, or bad extended header */
    NNBRT_E_API_LEVEL,            /**< api_level above NNBRT_MAX_API_LEVEL */
    NNBRT_E_BAD_CHUNK_INDEX,      /**< a list names a chunk >= num_of_data */
    NNBRT_E_BAD_OFFSET,           /**< index entry outside data area, not 4-aligned or decreasing */
    NNBRT_E_BAD_LIST_LENGTH,      /**< a {size, chunk} list does not fit in its chunk */
    NNBRT_E_BAD_SHAPE,            /**< dim <= 0, too many dims, or size overflow */
    NNBRT_E_BAD_VARIABLE,         /**< bad variable record (id, variable id out of range, writing a parameter) */
    NNBRT_E_UNSUPPORTED_TYPE,     /**< variable type other than FLOAT/FIXED16/FIXED8 (fixed: v2/v3 only) */
    NNBRT_E_BAD_DATA_SIZE,        /**< parameter data chunk too small for the shape */
    NNBRT_E_BAD_BUFFER_REF,       /**< buffer index out of range or buffer too small */
    NNBRT_E_BAD_IO_COUNT,         /**< wrong number of function inputs/outputs */
    NNBRT_E_BAD_ARGUMENT,         /**< argument value out of range / record too short */
    NNBRT_E_UNSUPPORTED_ARGUMENT, /**< valid but unsupported argument (channel_last, 3-D, ...) */
    NNBRT_E_SHAPE_MISMATCH,       /**< variable shapes inconsistent with the function */
    NNBRT_E_UNSUPPORTED_FUNCTION, /**< function id without a kernel (see nnbrt_diag) */
    NNBRT_E_ARENA_TOO_SMALL,      /**< arena_len below nnbrt_arena_size() */
    NNBRT_E_BAD_INDEX,            /**< input/output index out of range */
    NNBRT_E_SIZE_OVERFLOW,        /**< arena size does not fit in size_t */
    NNBRT_E_BAD_PLAN,             /**< extended file: bad arena plan (offset, alignment, aliasing) */
    NNBRT_E_BAD_QUANT,            /**< extended file: bad quantized (packed) weight or descriptor */
    NNBRT_E_READ_BEFORE_WRITE,    /**< a function reads a tensor no earlier function writes (file order), or no function writes a network output */
    NNBRT_E_BAD_ALIAS,            /**< a function's output shares storage with its input where the kernel cannot work in place, or with another output */
    NNBRT_E_LIVE_OVERLAP,         /**< a function writes over a tensor that is still to be read (two live tensors share storage) */
    NNBRT_E_ARENA_LIMIT,          /**< the arena the file needs is above NNBRT_MAX_ARENA */
    NNBRT_STATUS_COUNT
} nnbrt_status;

/** Static, human readable description of a status ("ok", "truncated file", ...). */
NNBRT_API const char *nnbrt_status_str(nnbrt_status st);

/** Which convolution kernels this build runs: e.g. "x86-64 dispatch: avx512" (default x86-64
 *  build: chosen at run time from the CPU, or by the environment variable NNBRT_ISA = base |
 *  avx2 | avx512), "compiled: avx2" (NATIVE=1), "scalar" (microcontroller configuration). */
NNBRT_API const char *nnbrt_kernel_isa(void);

/** Where validation failed (filled by the *_diag variants; -1 = not applicable). */
typedef struct {
    int32_t function_index; /**< index of the offending function record */
    int32_t function_id;    /**< its type (function id), e.g. for UNSUPPORTED_FUNCTION */
    int32_t variable_index; /**< index of the offending variable */
} nnbrt_diag;

typedef struct nnbrt_net nnbrt_net;

/**
 * Validate the whole image and compute the arena bytes nnbrt_init needs:
 * context (image view, a data pointer per variable, the running function's
 * arguments and tensors), the file's working buffers (sizes
 * from its buffer list; extended files: the plan region of arena_bytes),
 * private input/output storage (extended files: inputs only), kernel scratch (the
 * fast convolution keeps zero-padded input rows there; nnbrt_init's data-flow
 * table, 20 bytes a variable, lives over the private storage and tensors and
 * takes scratch only for what they cannot hold; with NNBRT_SCRATCH_IN_PLAN,
 * the default on 32-bit Arm, each function's scratch goes into the plan's
 * free space at its step and only the excess is counted) and 63 bytes of
 * alignment slack. Returns NNBRT_OK and sets *bytes, or an error status
 * (NNBRT_E_ARENA_LIMIT above NNBRT_MAX_ARENA). nnbrt_init with that many
 * bytes accepts the file, or refuses it for its data flow
 * (NNBRT_E_READ_BEFORE_WRITE, NNBRT_E_LIVE_OVERLAP: checked in the arena)
 * or, for a function of more than 8 inputs + outputs (Concatenate, Stack,
 * Split), for its shapes (checked with tensors in the arena; sizing keeps
 * its stack small). Neither needs more bytes than computed here.
 */
NNBRT_API nnbrt_status nnbrt_arena_size(const void *image, size_t image_len, size_t *bytes);
/** Same as nnbrt_arena_size, and reports where validation failed (diag may be NULL). */
NNBRT_API nnbrt_status nnbrt_arena_size_diag(const void *image, size_t image_len, size_t *bytes,
                                   nnbrt_diag *diag);

/**
 * Validate the image and build a network in `arena` (arena_len bytes, any
 * alignment, must be >= nnbrt_arena_size()). On success *net points into
 * the arena. Input storage is zero-initialised.
 */
NNBRT_API nnbrt_status nnbrt_init(nnbrt_net **net, const void *image, size_t image_len,
                        void *arena, size_t arena_len);
NNBRT_API nnbrt_status nnbrt_init_diag(nnbrt_net **net, const void *image, size_t image_len,
                             void *arena, size_t arena_len, nnbrt_diag *diag);

/** Flags of nnbrt_arena_size_flags / nnbrt_init_flags. NNBRT_EXTERNAL_INPUTS:
    the arena holds no storage for the network inputs; before nnbrt_run the
    caller points each input at its own float buffer with nnbrt_set_input
    (e.g. a sensor buffer; the runtime never writes it, except that
    fixed-point inputs of v2/v3 files are rounded to their grid in place).
    nnbrt_run returns NNBRT_E_NULL_ARG while an input is unset. The arena is
    then the tensors + kernel scratch + tables. */
#define NNBRT_EXTERNAL_INPUTS 1u
NNBRT_API nnbrt_status nnbrt_arena_size_flags(const void *image, size_t image_len, unsigned flags,
                                              size_t *bytes);
NNBRT_API nnbrt_status nnbrt_init_flags(nnbrt_net **net, const void *image, size_t image_len,
                                        void *arena, size_t arena_len, unsigned flags);
/** Point network input i at the caller's storage (any net; required with NNBRT_EXTERNAL_INPUTS). */
NNBRT_API nnbrt_status nnbrt_set_input(nnbrt_net *net, int i, float *data);

/** Run all functions in file order. */
NNBRT_API nnbrt_status nnbrt_run(nnbrt_net *net);

/** Run functions [first, last) only (profiling, debugging; bounds are clamped). */
NNBRT_API nnbrt_status nnbrt_run_range(nnbrt_net *net, int first, int last);

/** Number of network inputs/outputs (0 if net is NULL). */
NNBRT_API int nnbrt_num_inputs(const nnbrt_net *net);
NNBRT_API int nnbrt_num_outputs(const nnbrt_net *net);

/**
 * Access input/output i: *data receives the float32 storage (write inputs
 * before nnbrt_run, read outputs after), *shape the dims (pointing into the
 * image), *ndim their count. Any out pointer may be NULL.
 */
NNBRT_API nnbrt_status nnbrt_input(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim);
NNBRT_API nnbrt_status nnbrt_output(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim);
/** Element counts of input/output i. */
NNBRT_API nnbrt_status nnbrt_input_size(const nnbrt_net *net, int i, size_t *elements);
NNBRT_API nnbrt_status nnbrt_output_size(const nnbrt_net *net, int i, size_t *elements);

/** Informational accessors (used by the CLI `info` command). */
typedef struct {
    uint32_t version, api_level;
    uint32_t num_buffers, num_variables, num_functions, num_inputs, num_outputs;
    uint32_t num_of_data, data_size;
    uint32_t arena_bytes, plan_size; /**< extended files (version 1001); 0 otherwise */
} nnbrt_header_info;
NNBRT_API nnbrt_status nnbrt_get_header(const nnbrt_net *net, nnbrt_header_info *info);
/** What the caller's arena holds (bytes; total = nnbrt_arena_size): the
    runtime's tables (network context, a data pointer per variable, the
    running function's tensors), private input/output
    storage (and float staging of fixed-point parameters), the tensors (the
    extended plan, or the v2/v3 buffers), the largest kernel scratch
    (with alignment slack) and the packed weights (nnbrt_packed_bytes:
    total - tables - io - tensors - scratch). */
typedef struct {
    size_t tables, io, tensors, scratch, total;
} nnbrt_arena_info;
NNBRT_API nnbrt_status nnbrt_get_arena_info(const nnbrt_net *net, nnbrt_arena_info *info);
/** Packed weights: bytes of the caller's arena that nnbrt_init filled once
    with weights re-laid out for the kernels (x86-64/AArch64 host builds,
    for the layers where it pays, e.g. 1x1 convolutions; 0 in
    microcontroller, SMALL and REF builds, and with the environment variable
    NNBRT_PACK=0). Included in nnbrt_arena_size. 0 if net is NULL. */
NNBRT_API size_t nnbrt_packed_bytes(const nnbrt_net *net);
/** Variable v: shape, element count, data_index (>=0 parameter chunk, <0 buffer -(k+1)). */
NNBRT_API nnbrt_status nnbrt_variable(const nnbrt_net *net, int v, const int32_t **shape, int *ndim,
                            size_t *elements, int32_t *data_index);
/** Extended files: plan entry of variable v (arena byte offset, -1 parameter, -2 network input); 0 for v2/v3. */
NNBRT_API nnbrt_status nnbrt_variable_plan(const nnbrt_net *net, int v, int32_t *plan);
/** Function f: id, name ("?" if unknown), input/output variable ids. */
NNBRT_API nnbrt_status nnbrt_function(const nnbrt_net *net, int f, int *id, const char **name,
                            int *nin, const int32_t **inputs, int *nout, const int32_t **outputs);
/** Rough operation count of one nnbrt_run (for budgeting, e.g. in fuzzing). */
NNBRT_API uint64_t nnbrt_work_estimate(const nnbrt_net *net);

#ifdef __cplusplus
}
#endif
#endif
