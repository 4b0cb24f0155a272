/* nnbrt command line tool.
 *   nnbrt info MODEL.nnb
 *   nnbrt run MODEL.nnb in0.bin [in1.bin ...] [-o OUTPREFIX] [-t REPEAT] [--device cpu|opencl[:N]]
 * Inputs are raw little-endian float32 in the file's input order; outputs
 * are written to OUTPREFIX0.bin, OUTPREFIX1.bin, ... (default prefix "out").
 * Errors print one line to stderr and exit non-zero. */
#define _POSIX_C_SOURCE 199309L
#include "nnbrt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef NNBRT_OPENCL
#include "nnbrt_opencl.h"
#endif

/* Allocations owned by main(); released on every exit path. */
static void *g_img, *g_arena, *g_tmp;

static void cleanup(void)
{
    free(g_img);
    free(g_arena);
    free(g_tmp);
    g_img = g_arena = g_tmp = NULL;
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    void *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "nnbrt: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static int fail_status(const char *path, nnbrt_status st, const nnbrt_diag *d)
{
    char extra[160] = "";
    if (d && d->function_index >= 0)
        sprintf(extra, " (function #%d, id %d%s)", (int)d->function_index, (int)d->function_id,
                st == NNBRT_E_UNSUPPORTED_FUNCTION ? " has no kernel" : "");
    else if (d && d->variable_index >= 0)
        sprintf(extra, " (variable %d)", (int)d->variable_index);
    fprintf(stderr, "nnbrt: %s: %s%s\n", path, nnbrt_status_str(st), extra);
    return 2;
}

static void print_shape(const int32_t *s, int n)
{
    int i;
    printf("[");
    for (i = 0; i < n; ++i) printf("%s%d", i ? ", " : "", (int)s[i]);
    printf("]");
}

static int load(const char *path, void **img, size_t *len, void **arena, nnbrt_net **net)
{
    size_t need;
    nnbrt_diag d;
    nnbrt_status st;
    *img = g_img = read_file(path, len);
    if (!*img) return fail("cannot read model file", path);
    st = nnbrt_arena_size_diag(*img, *len, &need, &d);
    if (st != NNBRT_OK) return fail_status(path, st, &d);
    *arena = g_arena = malloc(need ? need : 1);
    if (!*arena) return fail("out of memory for arena", path);
    st = nnbrt_init_diag(net, *img, *len, *arena, need, &d);
    if (st != NNBRT_OK) return fail_status(path, st, &d);
    return 0;
}

/* "input 0: [1, 28, 28]" for each of the n network inputs or outputs (get: nnbrt_input or nnbrt_output). */
static void print_io(nnbrt_net *net, const char *what, int n,
                     nnbrt_status (*get)(nnbrt_net *, int, float **, const int32_t **, int *))
{
    int i;
    for (i = 0; i < n; ++i) {
        const int32_t *s;
        int nd;
        get(net, i, NULL, &s, &nd);
        printf("%s %d: ", what, i);
        print_shape(s, nd);
        printf("\n");
    }
}

static int cmd_info(const char *path)
{
    void *img, *arena;
    size_t len, need;
    nnbrt_net *net;
    nnbrt_header_info h;
    int i, r = load(path, &img, &len, &arena, &net);
    if (r) return r;
    nnbrt_arena_size(img, len, &need);
    nnbrt_get_header(net, &h);
    printf("file: %s (%lu bytes)\n", path, (unsigned long)len);
    printf("kernels: %s\n", nnbrt_kernel_isa());
    printf("version %u, api_level %u, buffers %u, variables %u, functions %u, inputs %u, outputs %u\n",
           h.version, h.api_level, h.num_buffers, h.num_variables, h.num_functions, h.num_inputs,
           h.num_outputs);
    printf("chunks %u, data_size %u\n", h.num_of_data, h.data_size);
    if (h.version == 1001u) printf("extended: plan arena_bytes %u\n", h.arena_bytes);
    {
        nnbrt_arena_info ai;
        nnbrt_get_arena_info(net, &ai);
        printf("arena bytes: %lu = tables %lu + inputs/outputs %lu + tensors %lu + kernel scratch %lu"
               " + packed weights %lu\n",
               (unsigned long)need, (unsigned long)ai.tables, (unsigned long)ai.io, (unsigned long)ai.tensors,
               (unsigned long)ai.scratch, (unsigned long)nnbrt_packed_bytes(net));
        printf("packed weights: %lu bytes (filled once by nnbrt_init; NNBRT_PACK=0 turns them off)\n",
               (unsigned long)nnbrt_packed_bytes(net));
        if (nnbrt_arena_size_flags(img, len, NNBRT_EXTERNAL_INPUTS, &need) == NNBRT_OK)
            printf("arena bytes with the inputs in caller storage (NNBRT_EXTERNAL_INPUTS): %lu\n",
                   (unsigned long)need);
    }
    printf("work estimate: %llu ops/run\n", (unsigned long long)nnbrt_work_estimate(net));
    print_io(net, "input", (int)h.num_inputs, nnbrt_input);
    print_io(net, "output", (int)h.num_outputs, nnbrt_output);
    printf("variables:\n");
    for (i = 0; i < (int)h.num_variables; ++i) {
        const int32_t *s;
        int nd;
        size_t n;
        int32_t di;
        nnbrt_variable(net, i, &s, &nd, &n, &di);
        printf("  %3d ", i);
        print_shape(s, nd);
        if (di >= 0) {
            printf(" parameter chunk %d\n", (int)di);
        } else if (h.version == 1001u) {
            int32_t pl = 0;
            nnbrt_variable_plan(net, i, &pl);
            if (pl == -2) printf(" network input (private storage)\n");
            else printf(" arena +%d\n", (int)pl);
        } else {
            printf(" buffer %d\n", (int)(-di - 1));
        }
    }
    printf("functions:\n");
    for (i = 0; i < (int)h.num_functions; ++i) {
        int id, nin, nout, k;
        const char *name;
        const int32_t *in, *out;
        nnbrt_function(net, i, &id, &name, &nin, &in, &nout, &out);
        printf("  %3d %s (id %d) in [", i, name, id);
        for (k = 0; k < nin; ++k) printf("%s%d", k ? ", " : "", (int)in[k]);
        printf("] out [");
        for (k = 0; k < nout; ++k) printf("%s%d", k ? ", " : "", (int)out[k]);
        printf("]\n");
    }
    (void)arena;
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *prefix = "out";
    const char *inputs[256];
    int nin = 0, i, repeat = 1, r, profile = 0, ocl_dev = -1;
    void *img, *arena;
    size_t len;
    nnbrt_net *net;
    for (i = 0; i < argc; ++i) {
        if (!strcmp(argv[i], "-o")) {
            if (++i >= argc) return fail("missing value for -o", NULL);
            prefix = argv[i];
        } else if (!strcmp(argv[i], "-t")) {
            if (++i >= argc) return fail("missing value for -t", NULL);
            repeat = atoi(argv[i]);
            if (repeat < 1) return fail("bad value for -t", argv[i]);
        } else if (!strcmp(argv[i], "-p")) {
            profile = 1;
        } else if (!strcmp(argv[i], "--device")) { /* cpu (default) or opencl[:N] (make OPENCL=1) */
            if (++i >= argc) return fail("missing value for --device", NULL);
            if (!strncmp(argv[i], "opencl", 6) && (argv[i][6] == '\0' || argv[i][6] == ':'))
                ocl_dev = argv[i][6] ? atoi(argv[i] + 7) : 0;
            else if (strcmp(argv[i], "cpu"))
                return fail("unknown device (cpu or opencl[:N])", argv[i]);
#ifndef NNBRT_OPENCL
            if (ocl_dev >= 0) return fail("this nnbrt is built without OpenCL (make OPENCL=1)", NULL);
#endif
        } else if (!model) {
            model = argv[i];
        } else {
            if (nin >= 256) return fail("too many inputs", NULL);
            inputs[nin++] = argv[i];
        }
    }
    if (!model) return fail("usage: nnbrt run MODEL.nnb in0.bin ... [-o OUTPREFIX] [-t N] [-p]", NULL);
    if ((r = load(model, &img, &len, &arena, &net)) != 0) return r;
    if (nin != nnbrt_num_inputs(net)) {
        fprintf(stderr, "nnbrt: %s expects %d input file(s), got %d\n", model, nnbrt_num_inputs(net), nin);
        return 1;
    }
    for (i = 0; i < nin; ++i) {
        size_t n, flen;
        float *dst;
        void *buf = g_tmp = read_file(inputs[i], &flen);
        if (!buf) return fail("cannot read input file", inputs[i]);
        nnbrt_input_size(net, i, &n);
        if (flen != n * sizeof(float)) {
            fprintf(stderr, "nnbrt: input %d (%s) has %lu bytes, expected %lu\n", i, inputs[i],
                    (unsigned long)flen, (unsigned long)(n * sizeof(float)));
            return 1;
        }
        nnbrt_input(net, i, &dst, NULL, NULL);
        memcpy(dst, buf, flen);
        free(buf);
        g_tmp = NULL;
    }
#ifdef NNBRT_OPENCL
    if (ocl_dev >= 0) {
        nnbrt_ocl *ocl;
        char err[512];
        struct timespec t0, t1;
        size_t need;
        nnbrt_arena_size(img, len, &need);
        if (nnbrt_ocl_open(&ocl, net, img, len, arena, need, ocl_dev, NULL, err, sizeof err)) return fail(err, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < repeat; ++i)
            if (nnbrt_ocl_run(ocl, err, sizeof err)) {
                nnbrt_ocl_close(ocl);
                return fail(err, NULL);
            }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (repeat > 1)
            fprintf(stderr, "nnbrt: %d runs on %s, %.3f ms/run\n", repeat, nnbrt_ocl_device_name(ocl),
                    ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / repeat);
        nnbrt_ocl_close(ocl);
        profile = -1;
    }
#endif
    if (profile >= 0) {
        struct timespec t0, t1;
        nnbrt_status st;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < repeat; ++i)
            if ((st = nnbrt_run(net)) != NNBRT_OK) return fail_status(model, st, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (repeat > 1)
            fprintf(stderr, "nnbrt: %d runs, %.3f ms/run\n", repeat,
                    ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / repeat);
        if (profile) { /* -p: time of each function over `repeat` runs */
            nnbrt_header_info h;
            int f;
            nnbrt_get_header(net, &h);
            for (f = 0; f < (int)h.num_functions; ++f) {
                const char *name;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (i = 0; i < repeat; ++i) nnbrt_run_range(net, f, f + 1);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                nnbrt_function(net, f, NULL, &name, NULL, NULL, NULL, NULL);
                fprintf(stderr, "  #%-3d %-22s %9.4f ms\n", f, name,
                        ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / repeat);
            }
        }
    }
    for (i = 0; i < nnbrt_num_outputs(net); ++i) {
        char path[4096];
        float *data;
        size_t n;
        FILE *f;
        nnbrt_output(net, i, &data, NULL, NULL);
        nnbrt_output_size(net, i, &n);
        if (strlen(prefix) > sizeof path - 32) return fail("output prefix too long", NULL);
        sprintf(path, "%s%d.bin", prefix, i);
        f = fopen(path, "wb");
        if (!f || fwrite(data, sizeof(float), n, f) != n) {
            if (f) fclose(f);
            return fail("cannot write output file", path);
        }
        fclose(f);
    }
    (void)arena;
    return 0;
}

int main(int argc, char **argv)
{
    int r;
    if (argc >= 3 && !strcmp(argv[1], "info")) {
        r = cmd_info(argv[2]);
        cleanup();
        return r;
    }
    if (argc >= 3 && !strcmp(argv[1], "run")) {
        r = cmd_run(argc - 2, argv + 2);
        cleanup();
        return r;
    }
    fprintf(stderr, "usage: nnbrt info MODEL.nnb | nnbrt run MODEL.nnb in0.bin ... [-o OUTPREFIX] [-t N]\n");
    return 1;
}
