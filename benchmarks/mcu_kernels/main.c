/* Instruction counts of the C runtime on QEMU mps2-an386 (-icount shift=0:
   SysTick counts one tick per 40 instructions). Runs the model once whole,
   then function by function (nnbrt_run_range), and prints
     A <arena bytes>            T <ticks of one nnbrt_run>
     F <index> <ticks>          O <output> <count> <hex float bits>...
   over semihosting; benchmarks/mcu_kernels.py reads it. */
#include <stdint.h>
#include <string.h>
#include "nnbrt.h"
#include "semihost.h"
#include "model.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static uint32_t arena[MCU_ARENA_WORDS];

static uint32_t now(void) { return SYST_CVR; } /* counts down, 24 bits */
static uint32_t since(uint32_t t0) { return (t0 - now()) & 0xFFFFFFu; }

static char *put_u(char *p, uint32_t v, int hex)
{
    char tmp[12];
    int n = 0;
    do {
        const uint32_t d = hex ? v & 15u : v % 10u;
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v = hex ? v >> 4 : v / 10u;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static void line(char tag, uint32_t a, uint32_t b)
{
    char buf[32], *p = buf;
    *p++ = tag;
    *p++ = ' ';
    p = put_u(p, a, 0);
    *p++ = ' ';
    p = put_u(p, b, 0);
    *p++ = '\n';
    *p = 0;
    sh_puts(buf);
}

int main(void)
{
    nnbrt_net *net;
    size_t need;
    uint32_t t0, t;
    int i;
    nnbrt_status st = nnbrt_arena_size(mcu_model, mcu_model_len, &need);
    if (st != NNBRT_OK || need > sizeof arena) {
        sh_puts(st != NNBRT_OK ? "E arena_size failed\n" : "E arena too small\n");
        return 1;
    }
    if (nnbrt_init(&net, mcu_model, mcu_model_len, arena, sizeof arena) != NNBRT_OK) {
        sh_puts("E init failed\n");
        return 1;
    }
    for (i = 0; i < MCU_NIN; ++i) {
        float *d;
        if (nnbrt_input(net, i, &d, NULL, NULL) != NNBRT_OK) return 1;
        memcpy(d, mcu_inputs[i], mcu_input_len[i] * sizeof(float));
    }
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enable, processor clock, no interrupt */
    line('A', (uint32_t)need, 0);
    t0 = now();
    st = nnbrt_run(net);
    t = since(t0);
    if (st != NNBRT_OK) return 1;
    line('T', t, 0);
    for (i = 0; i < MCU_NFUNC; ++i) {
        t0 = now();
        st = nnbrt_run_range(net, i, i + 1);
        t = since(t0);
        if (st != NNBRT_OK) return 1;
        line('F', (uint32_t)i, t);
    }
    for (i = 0; i < nnbrt_num_outputs(net); ++i) {
        float *o;
        const int32_t *shape;
        int nd, k;
        size_t n = 1, j;
        char buf[16 * 9 + 4];
        if (nnbrt_output(net, i, &o, &shape, &nd) != NNBRT_OK) return 1;
        for (k = 0; k < nd; ++k) n *= (size_t)shape[k];
        line('O', (uint32_t)i, (uint32_t)n);
        for (j = 0; j < n;) {
            char *p = buf;
            size_t e = j + 16 < n ? j + 16 : n;
            *p++ = 'V';
            for (; j < e; ++j) {
                uint32_t bits;
                memcpy(&bits, &o[j], 4);
                *p++ = ' ';
                p = put_u(p, bits, 1);
            }
            *p++ = '\n';
            *p = 0;
            sh_puts(buf);
        }
    }
    return 0;
}
