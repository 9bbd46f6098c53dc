/* nn2mcu: the counter behind the per-layer profile (nn.c built with -DNN_PROFILE).
 *
 * NN_COUNTER_QEMU_TIMER0: the CMSDK TIMER0 of the MPS2 boards (0x40000000, 25 MHz, counting
 *   down). Under QEMU with -icount shift=6 every instruction advances it 1.6 ticks, so
 *   instructions = ticks * 5 / 8 (nn2mcu verify converts; QEMU has no cycle model).
 * NN_COUNTER_DWT: the Cortex-M3/M4/M7 cycle counter DWT->CYCCNT; on real hardware the
 *   ticks are cycles. Use it on a board (QEMU does not model it and reads 0).
 */
#ifndef NN_COUNTER_H
#define NN_COUNTER_H

#include <stdint.h>

#if defined(NN_COUNTER_QEMU_TIMER0)
#define NN_TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define NN_TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define NN_TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

static inline void nn_counter_start(void)
{
    NN_TIMER0_CTRL = 0u;
    NN_TIMER0_RELOAD = 0xFFFFFFFFu;
    NN_TIMER0_VALUE = 0xFFFFFFFFu;
    NN_TIMER0_CTRL = 1u; /* enable */
}

/* ticks since nn_counter_start, counting up */
static inline uint32_t nn_counter_read(void)
{
    return 0xFFFFFFFFu - NN_TIMER0_VALUE;
}
#elif defined(NN_COUNTER_DWT)
#define NN_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define NN_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define NN_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define NN_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static inline void nn_counter_start(void)
{
    NN_DEMCR |= 1u << 24;     /* TRCENA */
    NN_DWT_LAR = 0xC5ACCE55u; /* unlock (Cortex-M7) */
    NN_DWT_CYCCNT = 0u;
    NN_DWT_CTRL |= 1u;        /* CYCCNTENA */
}

static inline uint32_t nn_counter_read(void)
{
    return NN_DWT_CYCCNT;
}
#else
#error "nn_counter.h: define NN_COUNTER_QEMU_TIMER0 or NN_COUNTER_DWT (or build without NN_PROFILE)"
#endif

#endif /* NN_COUNTER_H */
