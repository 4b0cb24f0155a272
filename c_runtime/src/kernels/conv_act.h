/* The float convolution kernels' store epilogue: ReLU (act 1) / ReLU6 (act 2)
   of a float and of a GNU C vector, and one output vector act(z (+ res))
   stored. conv_gemm.c (with conv_gemm_big.h, conv_s1.h, conv_r8wino.h),
   conv_dwflat.c and conv_engine.c each pick their own vector width, so the
   vector helpers are instantiated per kernel with its types:
     NNBRT_VACT_FN(name, vf, vi)   static vf name(vf v, int act) (act != 0)
     NNBRT_VPUT_FN(name, vf, vact, LD, ST)
                                   static void name(float *y, const float *res, size_t p, vf z, int act):
                                   y[p..] = act(z + res[p..]) (res NULL: none; act 0: none), res read
                                   before y is written (res may be y)
   A NaN becomes 0 under both activations, in every form: v > 0 is false for
   it (the bit masks clear it; the float form takes the 0 branch). */
#ifndef NNBRT_CONV_ACT_H
#define NNBRT_CONV_ACT_H

/* act(v) for act 1 (max(v, 0)) or 2 (min(max(v, 0), 6)); callers test act first, as in
   act ? nnbrt_relu(x, act) : x, which the compiler can take out of a loop */
static inline float nnbrt_relu(float v, int act)
{
    v = v > 0.0f ? v : 0.0f;
    return act == 2 && v > 6.0f ? 6.0f : v;
}

/* act(v), v unchanged for act 0 */
static inline float nnbrt_act1(float v, int act)
{
    if (!act) return v;
    return nnbrt_relu(v, act);
}

/* bit masks: GNU C has no vector ?: */
#define NNBRT_VACT_FN(name, vf, vi)                                                                                    \
    static vf name(vf v, int act)                                                                                      \
    {                                                                                                                  \
        const vf zero = {0}, six = zero + 6.0f;                                                                        \
        vi m = v > zero;                                                                                               \
        v = (vf)((vi)v & m);                                                                                           \
        if (act == 2) {                                                                                                \
            m = v > six;                                                                                               \
            v = (vf)(((vi)v & ~m) | ((vi)six & m));                                                                    \
        }                                                                                                              \
        return v;                                                                                                      \
    }

#define NNBRT_VPUT_FN(name, vf, vact, LD, ST)                                                                          \
    static inline void name(float *y, const float *res, size_t p, vf z, int act)                                       \
    {                                                                                                                  \
        if (res) {                                                                                                     \
            vf r_;                                                                                                     \
            LD(r_, res + p);                                                                                           \
            z += r_;                                                                                                   \
        }                                                                                                              \
        if (act) z = vact(z, act);                                                                                     \
        ST(y + p, z);                                                                                                  \
    }

#endif
