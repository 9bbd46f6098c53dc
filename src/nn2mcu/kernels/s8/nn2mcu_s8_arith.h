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

/* nn2mcu_requantize for a multiplier >= 0 and a shift from -31 to -2 (what TFLite's quantized
   multipliers below 1/4 are), in one rounding of one 64-bit sum: with e = -shift and
   h = floor((value * multiplier + 2^30) / 2^31), the rounding division of h by 2^e (ties
   away from zero) is floor((h + 2^(e-1) - [h < 0]) / 2^e), which equals
   floor((value * multiplier + 2^30 + (2^(e-1) - [value < 0]) * 2^31) / 2^(31+e)): a
   multiplier >= 0 makes h < 0 only for value < 0, and value < 0 with h = 0 gives 0 either
   way. The sum is one multiply-accumulate (SMLAL) onto a nudge whose words are
   2^(e-2) - [value < 0] and 2^30 + [value < 0] * 2^31; the result is its high word shifted
   right by e - 1. Under CMSIS_NN_USE_SINGLE_ROUNDING it is nn2mcu_requantize. */
/* nn2mcu_requantize_fast from a channel's two constants: nudge_high = 2^(e-2) and
   exponent = e - 1 (nn2mcu_fast_high, nn2mcu_fast_exponent); double rounding only. */
static inline int32_t nn2mcu_requantize_parts(int32_t value, int32_t multiplier, uint32_t nudge_high, int32_t exponent)
{
    const int32_t negative = nn2mcu_asr32(value, 31); /* 0 or -1 */
    const uint32_t low = 0x40000000u + ((uint32_t)negative << 31);
    const uint64_t nudge = ((uint64_t)(nudge_high + (uint32_t)negative) << 32) | low;
    const uint64_t sum = nudge + (uint64_t)((int64_t)value * multiplier);
    return nn2mcu_asr32(nn2mcu_wrap32((int64_t)(sum >> 32)), exponent);
}

static inline uint32_t nn2mcu_fast_high(int32_t shift)
{
    return 0x40000000u >> (uint32_t)(32 + shift);
}

static inline int32_t nn2mcu_fast_exponent(int32_t shift)
{
    return -shift - 1;
}

static inline int32_t nn2mcu_requantize_fast(int32_t value, int32_t multiplier, int32_t shift)
{
#ifdef CMSIS_NN_USE_SINGLE_ROUNDING
    return nn2mcu_requantize(value, multiplier, shift);
#else
    return nn2mcu_requantize_parts(value, multiplier, nn2mcu_fast_high(shift), nn2mcu_fast_exponent(shift));
#endif
}

/* Whether every one of count channels may take nn2mcu_requantize_parts (never under
   CMSIS_NN_USE_SINGLE_ROUNDING). */
static inline int nn2mcu_fast_channels(const int32_t *multiplier, const int32_t *shift, int32_t count)
{
#ifdef CMSIS_NN_USE_SINGLE_ROUNDING
    (void)multiplier;
    (void)shift;
    (void)count;
    return 0; /* nn2mcu_requantize_parts is the double rounding's */
#endif
    for (int32_t i = 0; i < count; i++) {
        if (multiplier[i] < 0 || shift[i] > -2 || shift[i] < -31) {
            return 0;
        }
    }
    return 1;
}

/* A requantized value plus the output offset, clamped to the activation range (exactly:
   the clamp happens before the offset is added, against the range shifted by it). */
static inline int8_t nn2mcu_s8_clamp(int32_t value, int32_t offset, int32_t act_min, int32_t act_max)
{
    int32_t low = act_min - offset, high = act_max - offset;
    value = value < low ? low : value;
    value = value > high ? high : value;
    return (int8_t)(value + offset);
}

/* requantize, add the output offset, clamp to the activation range */
static inline int8_t nn2mcu_s8_output(int32_t accumulator, int32_t multiplier, int32_t shift, int32_t offset,
                                      int32_t act_min, int32_t act_max)
{
    return nn2mcu_s8_clamp(nn2mcu_requantize(accumulator, multiplier, shift), offset, act_min, act_max);
}

/* nn2mcu_s8_output through nn2mcu_requantize_fast (its conditions hold) */
static inline int8_t nn2mcu_s8_output_fast(int32_t accumulator, int32_t multiplier, int32_t shift, int32_t offset,
                                           int32_t act_min, int32_t act_max)
{
    return nn2mcu_s8_clamp(nn2mcu_requantize_fast(accumulator, multiplier, shift), offset, act_min, act_max);
}

#endif /* NN2MCU_S8_ARITH_H */
