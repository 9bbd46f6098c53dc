/*
 * nn2mcu portable kernels: CMSIS-NN's s8 requantization (arm_nn_requantize, v7.0.0),
 * written without undefined behaviour: 32-bit wrap-around through uint32_t, and arithmetic
 * right shifts of negative values through complements (or, under GCC and Clang, which
 * define >> of a negative value as arithmetic, the shift itself).
 *
 * Default (two roundings): x = wrap32(val << max(shift, 0));
 *   h = wrap32((x * multiplier + 2^30) >> 31); result = h / 2^max(-shift, 0), ties away
 *   from zero.
 * CMSIS_NN_USE_SINGLE_ROUNDING: t = wrap32((val * multiplier) >> (30 - shift));
 *   result = (t + 1) >> 1.
 */
#ifndef NN2MCU_S8_ARITH_H
#define NN2MCU_S8_ARITH_H

#include <stdint.h>

static inline int32_t nn2mcu_wrap32(int64_t value)
{
    uint32_t bits = (uint32_t)(uint64_t)value;
    return bits < 0x80000000u ? (int32_t)bits : -(int32_t)(0xFFFFFFFFu - bits) - 1;
}

static inline int64_t nn2mcu_asr64(int64_t value, int shift)
{
/* GCC and Clang define >> of a negative value as arithmetic; NN2MCU_PORTABLE_SHIFTS tests the rest */
#if defined(__GNUC__) && !defined(NN2MCU_PORTABLE_SHIFTS)
    return value >> shift;
#else
    return value >= 0 ? value >> shift : ~((~value) >> shift);
#endif
}

static inline int32_t nn2mcu_asr32(int32_t value, int32_t shift)
{
#if defined(__GNUC__) && !defined(NN2MCU_PORTABLE_SHIFTS)
    return value >> shift;
#else
    return value >= 0 ? value >> shift : ~((~value) >> shift);
#endif
}

static inline int32_t nn2mcu_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
#ifdef CMSIS_NN_USE_SINGLE_ROUNDING
    int32_t truncated = nn2mcu_wrap32(nn2mcu_asr64((int64_t)value * multiplier, 30 - shift));
    return (int32_t)nn2mcu_asr64((int64_t)truncated + 1, 1);
#else
    if (shift >= 0) {
        int32_t scaled = nn2mcu_wrap32((int64_t)value * ((int64_t)1 << shift));
        return nn2mcu_wrap32(nn2mcu_asr64((int64_t)scaled * multiplier + ((int64_t)1 << 30), 31));
    }
    /* x / 2^e rounded half away from zero, e = -shift >= 1: y = x - 1 for negative x
       (INT32_MIN stays itself), t = floor(y / 2^(e-1)); the result ceil(t / 2) is
       floor(x / 2^e), plus one exactly when the remainder exceeds half (x < 0) or reaches
       it (x >= 0), as CMSIS-NN's remainder-and-threshold form computes */
    int32_t high = nn2mcu_wrap32(nn2mcu_asr64((int64_t)value * multiplier + ((int64_t)1 << 30), 31));
    int32_t y = high > INT32_MIN ? high + nn2mcu_asr32(high, 31) : high;
    int32_t t = nn2mcu_asr32(y, -shift - 1);
    return nn2mcu_asr32(t, 1) + (t & 1); /* ceil(t / 2), without overflow */
#endif
}

/* requantize, add the output offset, clamp to the activation range (exactly: the
   clamp happens before the offset is added, against the range shifted by it) */
static inline int8_t nn2mcu_s8_output(int32_t accumulator, int32_t multiplier, int32_t shift, int32_t offset,
                                      int32_t act_min, int32_t act_max)
{
    int32_t value = nn2mcu_requantize(accumulator, multiplier, shift);
    int32_t low = act_min - offset, high = act_max - offset;
    value = value < low ? low : value;
    value = value > high ? high : value;
    return (int8_t)(value + offset);
}

#endif /* NN2MCU_S8_ARITH_H */
