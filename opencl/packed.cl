/* Packed LUT-Q / DQ weights (extended NNB variable types 4 and 5, docs/nnb_format.md): codes of `bits` bits,
 * LSB-first in little-endian uint32 words; a LUT code indexes the table, a uniform code (two's complement)
 * times the step is the weight. Decoded on the device into float weights once, when the model is loaded. */

#define Q_LUT 0
#define Q_UNIFORM 1

/* P: n, words (offset in `codes`), bits, kind, table, table_len, y; bad[0] set to 1 on a code outside the LUT */
__kernel void unpack(__global float *m, __global const int *P, const int p, __global const uint *codes,
                     __global int *bad)
{
    int i = get_global_id(0);
    if (i >= PI(0))
        return;
    int bits = PI(2);
    long bit = (long)i * bits;
    __global const uint *w = codes + PI(1) + (int)(bit >> 5);
    int sh = (int)(bit & 31);
    uint v = w[0] >> sh;
    if (sh + bits > 32)
        v |= w[1] << (32 - sh);
    v &= (1u << bits) - 1u;
    float y;
    if (PI(3) == Q_UNIFORM) {
        int c = (int)v;
        if (c >= (1 << (bits - 1)))
            c -= 1 << bits;
        y = (float)c * m[PI(4)];
    } else {
        if ((int)v >= PI(5)) {
            bad[0] = 1;
            v = 0;
        }
        y = m[PI(4) + (int)v];
    }
    m[PI(6) + i] = y;
}
