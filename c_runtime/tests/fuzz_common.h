/* What the two NNB fuzzers share (fuzz_nnb.c byte-level, fuzz_fields.c
   field-aware): the xorshift generator, input values, reading a seed file, and the i/o
   count of a function record. Each program defines `rng_state` (its own
   starting value) before including this file. */
#ifndef NNB_FUZZ_COMMON_H
#define NNB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnbrt.h"

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }

/* Every network input filled with values in [-10, 10], steps of 0.01. */
static void fill_inputs(nnbrt_net *net)
{
    int k;
    for (k = 0; k < nnbrt_num_inputs(net); ++k) {
        float *d;
        size_t e, j;
        nnbrt_input(net, k, &d, NULL, NULL);
        nnbrt_input_size(net, k, &e);
        for (j = 0; j < e; ++j) d[j] = (float)((int)below(2001) - 1000) / 100.0f;
    }
}

/* The whole file into a malloc'd buffer. 1: read (*data, *len set);
   0: empty or larger than max_bytes (skip it); -1: cannot open; -2: out of memory or a short read. */
static int read_seed(const char *path, size_t max_bytes, uint8_t **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    long n;
    int ok = 0;
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n > 0 && (size_t)n <= max_bytes) {
        *data = malloc((size_t)n);
        ok = *data && fread(*data, 1, (size_t)n, fp) == (size_t)n ? 1 : -2;
        *len = (size_t)n;
    }
    fclose(fp);
    return ok;
}

/* nin + nout of function record f of an image (0 if unreadable): functions
   of more than 8 inputs + outputs get their kernel check in nnbrt_init only
   (nnbrt.h), so init may refuse what sizing accepted. */
static uint32_t fn_io(const uint8_t *b, size_t len, int32_t f)
{
    uint32_t h[14], k, off, rec;
    size_t hdr, data, p;
    if (len < 56 || f < 0) return 0;
    for (k = 0; k < 14; ++k) memcpy(&h[k], b + 4 * k, 4);
    hdr = h[0] == 1001 ? 88 : 56;
    if (len < hdr || h[12] > (len - hdr) / 4 || h[7] >= h[12]) return 0;
    data = hdr + 4 * (size_t)h[12];
    memcpy(&off, b + hdr + 4 * (size_t)h[7], 4);
    p = data + off + 4 * (size_t)f;
    if (p > len || len - p < 4) return 0;
    memcpy(&rec, b + p, 4);
    if (rec >= h[12]) return 0;
    memcpy(&off, b + hdr + 4 * (size_t)rec, 4);
    p = data + off;
    if (p > len || len - p < 16) return 0;
    memcpy(&k, b + p + 4, 4);
    memcpy(&off, b + p + 12, 4);
    return k + off;
}

#endif
