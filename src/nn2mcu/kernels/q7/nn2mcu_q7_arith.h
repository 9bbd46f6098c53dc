/*
 * nn2mcu portable kernels: the q7 output stage shared by the convolution and
 * fully-connected kernels, free of undefined behaviour.
 *
 * The Cortex-M kernels start a 32-bit accumulator at (bias << bias_shift) +
 * NN_ROUND(out_shift), add the products (wrapping on overflow), shift it right
 * arithmetically and saturate to int8. Here the sum is kept in 64 bits and wrapped
 * to 32 once (the same result, as wrapping commutes with addition), the bias is
 * scaled by multiplication, and the floor shift of a negative value is written with
 * complements.
 */
#ifndef NN2MCU_Q7_ARITH_H
#define NN2MCU_Q7_ARITH_H

#include <stdint.h>

#include "nn2mcu_simd.h"

static inline int64_t nn2mcu_q7_start(int8_t bias, uint16_t bias_shift, uint16_t out_shift)
{
    int64_t start = (int64_t)bias * ((int64_t)1 << bias_shift);
    if (out_shift > 0) {
        start += (int64_t)1 << (out_shift - 1);
    }
    return start;
}

static inline int8_t nn2mcu_q7_finish(int64_t sum, uint16_t out_shift)
{
    uint32_t bits = (uint32_t)(uint64_t)sum; /* the int32 accumulator's two's complement bits */
    int64_t wrapped = bits < 0x80000000u ? (int64_t)bits : (int64_t)bits - ((int64_t)1 << 32);
    int64_t shifted = wrapped >= 0 ? wrapped >> out_shift : ~((~wrapped) >> out_shift);
    if (shifted > 127) {
        return 127;
    }
    if (shifted < -128) {
        return -128;
    }
    return (int8_t)shifted;
}

/* the same for an accumulator already wrapped to 32 bits (start and sum modulo 2^32) */
static inline uint32_t nn2mcu_q7_start32(int8_t bias, uint16_t bias_shift, uint16_t out_shift)
{
    return (uint32_t)(uint64_t)nn2mcu_q7_start(bias, bias_shift, out_shift);
}

static inline int8_t nn2mcu_q7_finish32(uint32_t bits, uint16_t out_shift)
{
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(NN2MCU_NO_SIMD)
    /* GCC and Clang convert to int32_t modulo 2^32 and shift right arithmetically;
       out_shift < 32 as in CMSIS-NN, whose accumulators are 32 bits too */
    return (int8_t)__ssat((int32_t)bits >> out_shift, 8);
#else
    return nn2mcu_q7_finish((int64_t)bits, out_shift);
#endif
}

#endif /* NN2MCU_Q7_ARITH_H */
