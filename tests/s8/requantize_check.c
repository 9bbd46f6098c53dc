/*
 * nn2mcu_requantize (nn2mcu_s8_arith.h) against the textbook form of CMSIS-NN's double
 * rounding (arm_nn_requantize: the high word of 2 x value x multiplier, rounded, then a
 * rounding division by a power of two with a remainder and a threshold), written here in
 * 64-bit arithmetic without shortcuts, over edge values and 20 million random arguments;
 * nn2mcu_requantize_fast likewise wherever its conditions hold (multiplier >= 0, shift from
 * -31 to -2).
 * Exit 0 when every result is equal.
 */
#include <stdint.h>
#include <stdio.h>

#include "nn2mcu_s8_arith.h"

static int32_t reference(int32_t value, int32_t multiplier, int32_t shift)
{
    const int64_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int64_t scaled = (int64_t)(int32_t)(uint32_t)((uint64_t)(int64_t)value << left);
    const int64_t product = scaled * multiplier + ((int64_t)1 << 30);
    const int64_t high64 = product >= 0 ? product / ((int64_t)1 << 31)
                                        : -((-product + ((int64_t)1 << 31) - 1) / ((int64_t)1 << 31));
    const int32_t high = (int32_t)(uint32_t)(uint64_t)high64;
    const int64_t mask = ((int64_t)1 << right) - 1;
    const int64_t remainder = (int64_t)high & mask;
    const int64_t floor_div = ((int64_t)high - remainder) / ((int64_t)1 << right);
    const int64_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (int32_t)(floor_div + (remainder > threshold ? 1 : 0));
}

static uint64_t state = 88172645463325252ull;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)state;
}

int main(void)
{
    static const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1,
                                    1 << 30, -(1 << 30), (1 << 30) + 1, 12345, -12345};
    const int edge_count = (int)(sizeof edges / sizeof edges[0]);
    long differ = 0, count = 0;
    for (int a = 0; a < edge_count; a++) {
        for (int b = 0; b < edge_count; b++) {
            for (int32_t shift = -31; shift <= 30; shift++, count++) {
                differ += reference(edges[a], edges[b], shift) != nn2mcu_requantize(edges[a], edges[b], shift);
                if (edges[b] >= 0 && shift <= -2) {
                    count++;
                    differ += reference(edges[a], edges[b], shift) != nn2mcu_requantize_fast(edges[a], edges[b], shift);
                }
            }
        }
    }
    for (long i = 0; i < 20000000; i++, count++) {
        int32_t value = (int32_t)next();
        if (i % 3 == 0) {
            value >>= next() % 31;
        }
        int32_t multiplier = i % 2 ? (int32_t)((next() & 0x3FFFFFFFu) | 0x40000000u) : (int32_t)next();
        int32_t shift = (int32_t)(next() % 62) - 31;
        if (reference(value, multiplier, shift) != nn2mcu_requantize(value, multiplier, shift)) {
            if (differ++ < 5) {
                printf("value %d multiplier %d shift %d: %d, expected %d\n", value, multiplier, shift,
                       nn2mcu_requantize(value, multiplier, shift), reference(value, multiplier, shift));
            }
        }
    }
    for (long i = 0; i < 20000000; i++, count++) {
        int32_t value = (int32_t)next();
        if (i % 3 == 0) {
            value >>= next() % 31;
        }
        int32_t multiplier = i % 2 ? (int32_t)((next() & 0x3FFFFFFFu) | 0x40000000u) : (int32_t)(next() >> 1);
        int32_t shift = -2 - (int32_t)(next() % 30);
        if (i % 5 == 0) { /* a tie of the final division: the low bits of the high word at half */
            multiplier = 1 << 30;
            value = (int32_t)((next() | 1u) << (uint32_t)(-shift)); /* h = odd * 2^(e-1) */
        }
        if (reference(value, multiplier, shift) != nn2mcu_requantize_fast(value, multiplier, shift)) {
            if (differ++ < 5) {
                printf("fast: value %d multiplier %d shift %d: %d, expected %d\n", value, multiplier, shift,
                       nn2mcu_requantize_fast(value, multiplier, shift), reference(value, multiplier, shift));
            }
        }
    }
    printf("%ld of %ld differ\n", differ, count);
    return differ != 0;
}
