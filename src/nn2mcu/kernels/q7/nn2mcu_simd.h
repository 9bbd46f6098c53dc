/*
 * nn2mcu portable kernels: the few 32-bit SIMD operations the kernels are built from.
 *
 * On a core with the Armv7E-M DSP extension (__ARM_FEATURE_SIMD32: Cortex-M4, M7, M33
 * with DSP) they are single instructions through GCC's ACLE intrinsics (arm_acle.h);
 * elsewhere plain C computes the same bits. Lanes are little-endian 16-bit halves.
 *
 *   nn2mcu_sxtb16(w)      bytes 0 and 2 of w, sign-extended to 16 bits each
 *   nn2mcu_sxtb16_ror8(w) bytes 1 and 3 of w, sign-extended to 16 bits each
 *   nn2mcu_smlad(x, y, a) a + x.lo * y.lo + x.hi * y.hi, modulo 2^32
 *   nn2mcu_smlabb(x, y, a) a + x.lo * y.lo, modulo 2^32
 *   nn2mcu_smlatt(x, y, a) a + x.hi * y.hi, modulo 2^32
 *   nn2mcu_sadd16(x, y)   the 16-bit lanes of x and y added, each modulo 2^16
 *   nn2mcu_max8x4(a, b)   the signed maximum of each of the four byte lanes
 *   nn2mcu_min8x4(a, b)   the signed minimum of each of the four byte lanes
 *   nn2mcu_sat8(x)        x clamped to [-128, 127] (SSAT)
 *
 * Accumulating with smlad in any order gives the 32-bit wrapped sum the CMSIS-NN q7
 * kernels compute, since addition modulo 2^32 is associative and commutative.
 */
#ifndef NN2MCU_SIMD_H
#define NN2MCU_SIMD_H

#include <stdint.h>
#include <string.h>

static inline uint32_t nn2mcu_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void nn2mcu_store32(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(NN2MCU_NO_SIMD)
#include <arm_acle.h>

/* Loops written in assembly where the compiler's schedule of the C needs more registers
   than the core has: GCC, optimising (at -O0 it cannot place the operands; at most
   thirteen registers, so r7 may stay the frame pointer); Clang 14 fails to allocate them.
   NN2MCU_NO_ASM keeps the C (benchmarks/mlperf_tiny.py --ablation). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__) && !defined(NN2MCU_NO_ASM)
#define NN2MCU_SIMD_ASM 1
#endif

static inline uint32_t nn2mcu_sxtb16(uint32_t w)
{
    return (uint32_t)__sxtb16((int8x4_t)w);
}

static inline uint32_t nn2mcu_sxtb16_ror8(uint32_t w)
{
    uint32_t result; /* one instruction: ACLE has no rotated form */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(w));
    return result;
}

static inline uint32_t nn2mcu_smlad(uint32_t x, uint32_t y, uint32_t acc)
{
    return (uint32_t)__smlad((int16x2_t)x, (int16x2_t)y, (int32_t)acc);
}

static inline uint32_t nn2mcu_smlabb(uint32_t x, uint32_t y, uint32_t acc)
{
    return (uint32_t)__smlabb((int32_t)x, (int32_t)y, (int32_t)acc);
}

static inline uint32_t nn2mcu_smlatt(uint32_t x, uint32_t y, uint32_t acc)
{
    return (uint32_t)__smlatt((int32_t)x, (int32_t)y, (int32_t)acc);
}

static inline uint32_t nn2mcu_sadd16(uint32_t x, uint32_t y)
{
    return (uint32_t)__sadd16((int16x2_t)x, (int16x2_t)y);
}

static inline uint32_t nn2mcu_max8x4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b); /* GE bit of each lane: a >= b */
    return (uint32_t)__sel((uint8x4_t)a, (uint8x4_t)b);
}

static inline uint32_t nn2mcu_min8x4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b); /* GE bit of each lane: a >= b */
    return (uint32_t)__sel((uint8x4_t)b, (uint8x4_t)a);
}

static inline int32_t nn2mcu_sat8(int32_t x)
{
    return __ssat(x, 8);
}
#else
static inline uint32_t nn2mcu_sext8_16(uint32_t byte)
{
    return (byte ^ 0x80u) - 0x80u; /* a byte's sign extension, as 16 low bits */
}

static inline uint32_t nn2mcu_sxtb16(uint32_t w)
{
    return (nn2mcu_sext8_16(w & 0xFFu) & 0xFFFFu) | (nn2mcu_sext8_16((w >> 16) & 0xFFu) << 16);
}

static inline uint32_t nn2mcu_sxtb16_ror8(uint32_t w)
{
    return nn2mcu_sxtb16((w >> 8) | (w << 24));
}

static inline int32_t nn2mcu_lane(uint32_t x)
{
    return (int32_t)(x & 0x7FFFu) - (int32_t)(x & 0x8000u); /* a 16-bit lane, signed */
}

static inline uint32_t nn2mcu_smlad(uint32_t x, uint32_t y, uint32_t acc)
{
    int32_t low = nn2mcu_lane(x) * nn2mcu_lane(y);
    int32_t high = nn2mcu_lane(x >> 16) * nn2mcu_lane(y >> 16);
    return acc + (uint32_t)low + (uint32_t)high;
}

static inline uint32_t nn2mcu_smlabb(uint32_t x, uint32_t y, uint32_t acc)
{
    return acc + (uint32_t)(nn2mcu_lane(x) * nn2mcu_lane(y));
}

static inline uint32_t nn2mcu_smlatt(uint32_t x, uint32_t y, uint32_t acc)
{
    return acc + (uint32_t)(nn2mcu_lane(x >> 16) * nn2mcu_lane(y >> 16));
}

static inline uint32_t nn2mcu_sadd16(uint32_t x, uint32_t y)
{
    return ((x + y) & 0xFFFFu) | (((x >> 16) + (y >> 16)) << 16);
}

/* Each byte lane of a or b: the signed larger one (larger != 0) or the smaller one. */
static inline uint32_t nn2mcu_pick8x4(uint32_t a, uint32_t b, int larger)
{
    uint32_t result = 0;
    for (int shift = 0; shift < 32; shift += 8) {
        uint32_t x = (a >> shift) & 0xFFu, y = (b >> shift) & 0xFFu;
        /* compare as signed bytes: flipping the sign bit orders them as unsigned */
        int a_wins = ((x ^ 0x80u) >= (y ^ 0x80u)) == (larger != 0);
        result |= (a_wins ? x : y) << shift;
    }
    return result;
}

static inline uint32_t nn2mcu_max8x4(uint32_t a, uint32_t b)
{
    return nn2mcu_pick8x4(a, b, 1);
}

static inline uint32_t nn2mcu_min8x4(uint32_t a, uint32_t b)
{
    return nn2mcu_pick8x4(a, b, 0);
}

static inline int32_t nn2mcu_sat8(int32_t x)
{
    return x < -128 ? -128 : x > 127 ? 127 : x;
}
#endif

/* Dot products of two int16 columns a, b (in the 0, 2, 1, 3 order of each group of 4
   that nn2mcu_sxtb16 and nn2mcu_sxtb16_ror8 unpack) with two int8 filters w0, w1, length
   values each, added to acc modulo 2^32: acc[0] += a.w0, acc[1] += b.w0, acc[2] += a.w1,
   acc[3] += b.w1. The convolutions of both schemes share it. Kept out of line: inlined
   into its two callers, it costs the q7 convolutions about 6 % more instructions. Only the
   files that call it define NN2MCU_DOT_2X2 before including this header (no other file
   holds an unused copy). */
#ifdef NN2MCU_DOT_2X2
#if defined(__GNUC__)
#define NN2MCU_OUT_OF_LINE static __attribute__((noinline))
#else
#define NN2MCU_OUT_OF_LINE static
#endif
NN2MCU_OUT_OF_LINE void nn2mcu_dot_2x2(const int16_t *a, const int16_t *b, const int8_t *w0,
                                       const int8_t *w1, int length, uint32_t acc[4])
{
    uint32_t a0w0 = acc[0], b0w0 = acc[1], a0w1 = acc[2], b0w1 = acc[3];
    const int16_t *end = a + (length & ~3);
#if defined(NN2MCU_SIMD_ASM)
    /* word-aligned columns: the loop below in 21 instructions per four values, each column
       word loaded once (LDRD), each filter word twice, the loop's end read from the stack, so
       that thirteen registers hold the rest (the frame pointer may take the fourteenth); the
       C loop's schedule reloads the columns for the second filter */
    if (a != end && (((uintptr_t)a | (uintptr_t)b) & 3u) == 0) {
        uint32_t xa0, xa1, xb0, xb1, wl;
        __asm__("1:\n\t"
                "ldrd %[xa0], %[xa1], [%[a]], #8\n\t"
                "ldrd %[xb0], %[xb1], [%[b]], #8\n\t"
                "ldr %[wl], [%[w0]]\n\t"
                "sxtb16 %[wl], %[wl]\n\t"
                "smlad %[a0w0], %[xa0], %[wl], %[a0w0]\n\t"
                "smlad %[b0w0], %[xb0], %[wl], %[b0w0]\n\t"
                "ldr %[wl], [%[w0]], #4\n\t"
                "sxtb16 %[wl], %[wl], ror #8\n\t"
                "smlad %[a0w0], %[xa1], %[wl], %[a0w0]\n\t"
                "smlad %[b0w0], %[xb1], %[wl], %[b0w0]\n\t"
                "ldr %[wl], [%[w1]]\n\t"
                "sxtb16 %[wl], %[wl]\n\t"
                "smlad %[a0w1], %[xa0], %[wl], %[a0w1]\n\t"
                "smlad %[b0w1], %[xb0], %[wl], %[b0w1]\n\t"
                "ldr %[wl], [%[w1]], #4\n\t"
                "sxtb16 %[wl], %[wl], ror #8\n\t"
                "smlad %[a0w1], %[xa1], %[wl], %[a0w1]\n\t"
                "smlad %[b0w1], %[xb1], %[wl], %[b0w1]\n\t"
                "ldr %[wl], %[end]\n\t"
                "cmp %[a], %[wl]\n\t"
                "bne 1b"
                : [a0w0] "+r"(a0w0), [b0w0] "+r"(b0w0), [a0w1] "+r"(a0w1), [b0w1] "+r"(b0w1), [a] "+r"(a),
                  [b] "+r"(b), [w0] "+r"(w0), [w1] "+r"(w1), [xa0] "=&r"(xa0), [xa1] "=&r"(xa1),
                  [xb0] "=&r"(xb0), [xb1] "=&r"(xb1), [wl] "=&r"(wl)
                : [end] "m"(end)
                : "cc", "memory");
    }
#endif
    /* column values are loaded once per filter, which keeps every value in a register */
    while (a != end) {
        uint32_t wa = nn2mcu_load32(w0);
        uint32_t wa02 = nn2mcu_sxtb16(wa), wa13 = nn2mcu_sxtb16_ror8(wa);
        a0w0 = nn2mcu_smlad(nn2mcu_load32(a), wa02, a0w0);
        a0w0 = nn2mcu_smlad(nn2mcu_load32(a + 2), wa13, a0w0);
        b0w0 = nn2mcu_smlad(nn2mcu_load32(b), wa02, b0w0);
        b0w0 = nn2mcu_smlad(nn2mcu_load32(b + 2), wa13, b0w0);
        uint32_t wb = nn2mcu_load32(w1);
        uint32_t wb02 = nn2mcu_sxtb16(wb), wb13 = nn2mcu_sxtb16_ror8(wb);
        a0w1 = nn2mcu_smlad(nn2mcu_load32(a), wb02, a0w1);
        a0w1 = nn2mcu_smlad(nn2mcu_load32(a + 2), wb13, a0w1);
        b0w1 = nn2mcu_smlad(nn2mcu_load32(b), wb02, b0w1);
        b0w1 = nn2mcu_smlad(nn2mcu_load32(b + 2), wb13, b0w1);
        w0 += 4;
        w1 += 4;
        a += 4;
        b += 4;
    }
    for (int i = 0; i < (length & 3); i++) {
        a0w0 += (uint32_t)((int32_t)a[i] * w0[i]);
        b0w0 += (uint32_t)((int32_t)b[i] * w0[i]);
        a0w1 += (uint32_t)((int32_t)a[i] * w1[i]);
        b0w1 += (uint32_t)((int32_t)b[i] * w1[i]);
    }
    acc[0] = a0w0;
    acc[1] = b0w0;
    acc[2] = a0w1;
    acc[3] = b0w1;
}

#endif /* NN2MCU_DOT_2X2 */

#endif /* NN2MCU_SIMD_H */
