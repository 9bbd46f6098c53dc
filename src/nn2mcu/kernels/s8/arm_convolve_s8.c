/*
 * nn2mcu portable kernels: arm_convolve_wrapper_s8 and arm_depthwise_conv_wrapper_s8
 * (dilation 1, no groups: filter channels equal to input channels, else an argument
 * error; channel multiplier 1; for other multipliers nn2mcu's generated code calls
 * arm_depthwise_conv_s8, in its own file, as CMSIS-NN's wrapper would), NHWC activations,
 * OHWI filters (depthwise:
 * 1 x KH x KW x C). Per output: bias + sum over the in-bounds window of
 * (input + input_offset) * filter, requantized per output channel, plus output_offset,
 * clamped to the activation range.
 *
 * With a scratch buffer of at least two int16 columns (CMSIS-NN's size; *_get_buffer_size
 * asks four) a convolution takes the fast path: four output pixels at a time (two with
 * two columns), each receptive field copied once as int16 (input + offset, 0 in the
 * padding), then each filter against the four columns with dual 16-bit MACs (SMLAD on a
 * core with the DSP extension). An unpadded 1x1 convolution of depth 8 without input
 * offset (nn2mcu folds it into the bias) keeps each pixel's values in registers instead.
 * Sums modulo 2^32 do not depend on their order, so every path gives the same bytes.
 * Depthwise convolutions go over blocks of four channels, every pixel's window once.
 */

#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"
#include "nn2mcu_simd.h"

#include <stddef.h>
#include <string.h>

static arm_cmsis_nn_status convolve(const cmsis_nn_tile stride, const cmsis_nn_tile padding,
                                    const cmsis_nn_tile dilation, int32_t input_offset, int32_t output_offset,
                                    cmsis_nn_activation act, const cmsis_nn_per_channel_quant_params *quant,
                                    const cmsis_nn_dims *in, const int8_t *input, const cmsis_nn_dims *filter,
                                    const int8_t *weights, const int32_t *bias, const cmsis_nn_dims *out,
                                    int8_t *output)
{
    if (dilation.w != 1 || dilation.h != 1 || filter->c != in->c) {
        return ARM_CMSIS_NN_ARG_ERROR; /* no dilation, no grouped convolution */
    }
    const int32_t kh = filter->h, kw = filter->w, ch_in = in->c, ch_out = out->c;
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)ch_in;
        for (int32_t oy = 0; oy < out->h; oy++) {
            for (int32_t ox = 0; ox < out->w; ox++) {
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch_out;
                for (int32_t o = 0; o < ch_out; o++) {
                    int64_t sum = bias != NULL ? bias[o] : 0;
                    for (int32_t ky = 0; ky < kh; ky++) {
                        int32_t iy = oy * stride.h - padding.h + ky;
                        if (iy < 0 || iy >= in->h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < kw; kx++) {
                            int32_t ix = ox * stride.w - padding.w + kx;
                            if (ix < 0 || ix >= in->w) {
                                continue;
                            }
                            const int8_t *pixel = image + ((size_t)iy * (size_t)in->w + (size_t)ix) * (size_t)ch_in;
                            const int8_t *w = weights + (((size_t)o * (size_t)kh + (size_t)ky) * (size_t)kw + (size_t)kx) * (size_t)ch_in;
                            for (int32_t i = 0; i < ch_in; i++) {
                                sum += ((int32_t)pixel[i] + input_offset) * w[i];
                            }
                        }
                    }
                    pixel_out[o] = nn2mcu_s8_output(nn2mcu_wrap32(sum), quant->multiplier[o], quant->shift[o],
                                                    output_offset, act.min, act.max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/* Where value j of a column is stored: within each complete group of 4 the order is
   0, 2, 1, 3 (the order in which nn2mcu_sxtb16 and nn2mcu_sxtb16_ror8 unpack 4 filter
   bytes); the last length % 4 values stay in order. */
static int32_t column_position(int32_t j, int32_t grouped)
{
    static const int8_t swap[4] = {0, 1, -1, 0};
    return j < grouped ? j + swap[j & 3] : j;
}

/* Values [j, end) of a column from contiguous input bytes src (input + offset each). */
static void copy_run(const int8_t *src, int32_t j, int32_t end, int32_t grouped, int32_t offset, int16_t *col)
{
    const uint32_t offsets = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
    for (; j < end && (j & 3) != 0; j++, src++) {
        col[column_position(j, grouped)] = (int16_t)(*src + offset);
    }
    const int32_t last = end < grouped ? end : grouped;
    for (; j + 4 <= last; j += 4, src += 4) { /* a whole group at once */
        uint32_t word = nn2mcu_load32(src);
        nn2mcu_store32(col + j, nn2mcu_sadd16(nn2mcu_sxtb16(word), offsets));
        nn2mcu_store32(col + j + 2, nn2mcu_sadd16(nn2mcu_sxtb16_ror8(word), offsets));
    }
    for (; j < end; j++, src++) {
        col[column_position(j, grouped)] = (int16_t)(*src + offset);
    }
}

/* Values [j, end) of a column set to 0 (the padding). */
static void zero_run(int32_t j, int32_t end, int32_t grouped, int16_t *col)
{
    for (; j < end && (j & 3) != 0; j++) {
        col[column_position(j, grouped)] = 0;
    }
    int32_t whole = end < grouped ? end & ~3 : grouped; /* complete groups: order is moot */
    if (whole > j) {
        memset(col + j, 0, (size_t)(whole - j) * sizeof col[0]);
        j = whole;
    }
    for (; j < end; j++) {
        col[column_position(j, grouped)] = 0;
    }
}

/* The receptive field of output pixel (ox, oy) as int16 values input + offset (0 where the
   window leaves the image), in column_position order. A window row that lies inside the
   image is one contiguous run of kw * ch_in input bytes. */
static void im2col(const int8_t *image, const cmsis_nn_dims *in, int32_t kh, int32_t kw, cmsis_nn_tile stride,
                   cmsis_nn_tile padding, int32_t offset, int32_t ox, int32_t oy, int16_t *col)
{
    const int32_t ch_in = in->c, row = kw * ch_in, grouped = (kh * row) & ~3;
    const int32_t x0 = ox * stride.w - padding.w;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = oy * stride.h - padding.h + ky, start = ky * row;
        if (iy < 0 || iy >= in->h) {
            zero_run(start, start + row, grouped, col);
            continue;
        }
        const int8_t *line = image + (size_t)iy * (size_t)in->w * (size_t)ch_in;
        if (x0 >= 0 && x0 + kw <= in->w) {
            copy_run(line + (size_t)x0 * (size_t)ch_in, start, start + row, grouped, offset, col);
            continue;
        }
        for (int32_t kx = 0; kx < kw; kx++) { /* the window leaves the image sideways */
            const int32_t ix = x0 + kx, j = start + kx * ch_in;
            if (ix < 0 || ix >= in->w) {
                zero_run(j, j + ch_in, grouped, col);
            } else {
                copy_run(line + (size_t)ix * (size_t)ch_in, j, j + ch_in, grouped, offset, col);
            }
        }
    }
}

/* Keeps the compiler from turning a short copy loop into a call of memmove or memset (a
   library call costs more than the few bytes a receptive field's row holds); no
   instruction. */
#if defined(__GNUC__)
#define NN2MCU_NO_LIBRARY_CALL(p) __asm__("" : "+r"(p))
#else
#define NN2MCU_NO_LIBRARY_CALL(p) ((void)0)
#endif

/* n bytes from src to dst, a word at a time where it can (unaligned words are allowed on
   the cores with the DSP extension; elsewhere nn2mcu_load32 is a byte copy). */
static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        nn2mcu_store32(dst, nn2mcu_load32(src));
        NN2MCU_NO_LIBRARY_CALL(dst);
    }
    for (; n > 0; n--) {
        *dst++ = *src++;
        NN2MCU_NO_LIBRARY_CALL(dst);
    }
}

/* n bytes of value at dst. */
static void fill_bytes(int8_t *dst, int8_t value, int32_t n)
{
    for (; n > 0; n--) {
        *dst++ = value;
        NN2MCU_NO_LIBRARY_CALL(dst);
    }
}

/* STAGE_BYTES: the longest receptive field im2col_staged takes. */
#define STAGE_BYTES 256

/* im2col for a receptive field of at most STAGE_BYTES whose rows are no whole number of
   words (few input channels: the first layers): the window's bytes are first gathered
   contiguously (the padding as the byte -offset, which the offset turns into 0; an input
   offset in CMSIS-NN's range -127 .. 128 keeps it a byte), then unpacked a word at a time,
   which puts each group of four in column_position order. The same column as im2col. */
static void im2col_staged(const int8_t *image, const cmsis_nn_dims *in, int32_t kh, int32_t kw,
                          cmsis_nn_tile stride, cmsis_nn_tile padding, int32_t offset, int32_t ox, int32_t oy,
                          int32_t total, int16_t *col)
{
    int8_t stage[STAGE_BYTES + 4];
    const int32_t ch_in = in->c, row = kw * ch_in, length = kh * row, grouped = total & ~3;
    const int32_t x0 = ox * stride.w - padding.w;
    const int8_t pad = (int8_t)-offset;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = oy * stride.h - padding.h + ky;
        int8_t *dst = stage + ky * row;
        if (iy < 0 || iy >= in->h) {
            fill_bytes(dst, pad, row);
            continue;
        }
        const int8_t *line = image + (size_t)iy * (size_t)in->w * (size_t)ch_in;
        if (x0 >= 0 && x0 + kw <= in->w) {
            copy_bytes(dst, line + (size_t)x0 * (size_t)ch_in, row);
            continue;
        }
        for (int32_t kx = 0; kx < kw; kx++, dst += ch_in) {
            const int32_t ix = x0 + kx;
            if (ix < 0 || ix >= in->w) {
                fill_bytes(dst, pad, ch_in);
            } else {
                copy_bytes(dst, line + (size_t)ix * (size_t)ch_in, ch_in);
            }
        }
    }
    fill_bytes(stage + length, pad, total - length);
    const uint32_t offsets = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
    int32_t j = 0;
    for (; j < grouped; j += 4) {
        const uint32_t word = nn2mcu_load32(stage + j);
        nn2mcu_store32(col + j, nn2mcu_sadd16(nn2mcu_sxtb16(word), offsets));
        nn2mcu_store32(col + j + 2, nn2mcu_sadd16(nn2mcu_sxtb16_ror8(word), offsets));
    }
    for (; j < total; j++) {
        col[j] = (int16_t)(stage[j] + offset);
    }
}

/* Whether im2col_staged takes a convolution's receptive fields. */
static int staged(int32_t kh, int32_t kw, int32_t ch_in, int32_t offset)
{
    return ((kw * ch_in) & 3) != 0 && kh * kw * ch_in <= STAGE_BYTES && offset >= -127 && offset <= 128;
}

/* What the outputs of four consecutive channels need, set once per block of channels
   (out4_common, out4_channels). In the fast form (every channel's requantization nn2mcu_requantize_parts',
   the activation range inside int8, an offset that the requantized value cannot overflow
   with) each output is the requantized sum plus the offset, saturated to int8; the four
   bytes are packed and clamped to the activation range lane by lane (the same bytes, since
   the range lies inside int8) and stored as one word. */
typedef struct {
    int32_t multiplier[4];
    uint32_t nudge_high[4];
    int32_t exponent[4];
    const int32_t *shift;
    int32_t offset;
    uint32_t low, high; /* the activation range in each byte lane */
    cmsis_nn_activation act;
    int fast;
} out4;

/* Whether a layer's outputs may take the fast form (never with NN2MCU_NO_FAST_OUTPUT:
   benchmarks/mlperf_tiny.py --ablation). */
static int fast_outputs(const int32_t *multiplier, const int32_t *shift, int32_t count, int32_t offset,
                        cmsis_nn_activation act)
{
#ifdef NN2MCU_NO_FAST_OUTPUT
    (void)multiplier;
    (void)shift;
    (void)count;
    (void)offset;
    (void)act;
    return 0;
#endif
    return nn2mcu_fast_channels(multiplier, shift, count) && act.min >= -128 && act.min <= act.max &&
           act.max <= 127 && offset >= -65536 && offset <= 65536;
}

/* The fields every block shares. */
static void out4_common(out4 *o, int fast, int32_t offset, cmsis_nn_activation act)
{
    o->offset = offset;
    o->low = ((uint32_t)act.min & 0xFFu) * 0x01010101u;
    o->high = ((uint32_t)act.max & 0xFFu) * 0x01010101u;
    o->act = act;
    o->fast = fast;
}

/* The four channels' constants, from their multipliers and shifts. */
static void out4_channels(out4 *o, const int32_t *multiplier, const int32_t *shift)
{
    for (int32_t k = 0; k < 4; k++) {
        o->multiplier[k] = multiplier[k];
        o->nudge_high[k] = o->fast ? nn2mcu_fast_high(shift[k]) : 0;
        o->exponent[k] = o->fast ? nn2mcu_fast_exponent(shift[k]) : 0;
    }
    o->shift = shift;
}

/* A requantized value plus the offset, saturated to int8, as the low byte of a word. */
static inline uint32_t fast_byte(int32_t value, const out4 *o)
{
    return (uint32_t)nn2mcu_sat8(value + o->offset) & 0xFFu;
}

/* Output k's fast-form byte from out4_channels' constants. */
static inline uint32_t part_byte(const uint32_t acc[4], const out4 *o, int32_t k)
{
    return fast_byte(nn2mcu_requantize_parts(nn2mcu_wrap32(acc[k]), o->multiplier[k], o->nudge_high[k],
                                             o->exponent[k]),
                     o);
}

/* Output k's fast-form byte from its multiplier and shift. */
static inline uint32_t derived_byte(const uint32_t acc[4], const int32_t *multiplier, const int32_t *shift,
                                    const out4 *o, int32_t k)
{
    return fast_byte(nn2mcu_requantize_fast(nn2mcu_wrap32(acc[k]), multiplier[k], shift[k]), o);
}

/* Four packed fast-form bytes clamped to the activation range lane by lane, stored at out. */
static inline void store4(uint32_t word, const out4 *o, int8_t *out)
{
    nn2mcu_store32(out, nn2mcu_min8x4(nn2mcu_max8x4(word, o->low), o->high));
}

/* The general form: four outputs one at a time. */
static inline void general4(const uint32_t acc[4], const int32_t *multiplier, const int32_t *shift, const out4 *o,
                            int8_t *out)
{
    for (int32_t k = 0; k < 4; k++) {
        out[k] = nn2mcu_s8_output(nn2mcu_wrap32(acc[k]), multiplier[k], shift[k], o->offset, o->act.min,
                                  o->act.max);
    }
}

/* The four channels' outputs at out from their sums, with out4_channels' constants. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void output4(const uint32_t acc[4], const out4 *o, int8_t *out)
{
    if (!o->fast) {
        general4(acc, o->multiplier, o->shift, o, out);
        return;
    }
    store4(part_byte(acc, o, 0) | part_byte(acc, o, 1) << 8 | part_byte(acc, o, 2) << 16 |
               part_byte(acc, o, 3) << 24,
           o, out); /* written out: GCC keeps a loop of four rolled */
}

/* output4 with the constants derived from multiplier and shift (the convolutions'; out4
   holds the depthwise blocks' precomputed). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void output4_from(const uint32_t acc[4], const int32_t *multiplier, const int32_t *shift, const out4 *o,
                         int8_t *out)
{
    if (!o->fast) {
        general4(acc, multiplier, shift, o, out);
        return;
    }
    store4(derived_byte(acc, multiplier, shift, o, 0) | derived_byte(acc, multiplier, shift, o, 1) << 8 |
               derived_byte(acc, multiplier, shift, o, 2) << 16 | derived_byte(acc, multiplier, shift, o, 3) << 24,
           o, out);
}

#if defined(NN2MCU_SIMD_ASM)
/* One step of dot_4x1's and dot_4xn's assembly loop: one filter word unpacked, multiplied
   against a word pair of each of the four columns. */
#define NN2MCU_DOT_4X1_STEP                                                                                            \
    "ldr %[wl], [%[w]], #4\n\t" \
    "sxtb16 %[wh], %[wl], ror #8\n\t" \
    "sxtb16 %[wl], %[wl]\n\t" \
    "ldrd %[x0], %[x1], [%[c0]], #8\n\t" \
    "smlad %[a0], %[x0], %[wl], %[a0]\n\t" \
    "smlad %[a0], %[x1], %[wh], %[a0]\n\t" \
    "ldrd %[x0], %[x1], [%[c1]], #8\n\t" \
    "smlad %[a1], %[x0], %[wl], %[a1]\n\t" \
    "smlad %[a1], %[x1], %[wh], %[a1]\n\t" \
    "ldrd %[x0], %[x1], [%[c2]], #8\n\t" \
    "smlad %[a2], %[x0], %[wl], %[a2]\n\t" \
    "smlad %[a2], %[x1], %[wh], %[a2]\n\t" \
    "ldrd %[x0], %[x1], [%[c3]], #8\n\t" \
    "smlad %[a3], %[x0], %[wl], %[a3]\n\t" \
    "smlad %[a3], %[x1], %[wh], %[a3]\n\t"

/* The loop of two steps (label 1), entered at the second (label 3) for an odd number of
   steps, until c0 reaches end. */
#define NN2MCU_DOT_4X1_LOOP \
    "ldr %[x0], %[odd]\n\t" \
    "cmp %[x0], #0\n\t" \
    "bne 3f\n\t" \
    "1:\n\t" \
    NN2MCU_DOT_4X1_STEP \
    "3:\n\t" \
    NN2MCU_DOT_4X1_STEP \
    "ldr %[x0], %[end]\n\t" \
    "cmp %[c0], %[x0]\n\t" \
    "bne 1b\n\t"

#endif

/* acc[k] += column c_k . filter w (length values; the columns in nn2mcu_dot_2x2's order),
   modulo 2^32, for four columns and one filter: each filter word unpacked once for the four
   columns. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void dot_4x1(const int16_t *c0, const int16_t *c1, const int16_t *c2, const int16_t *c3, const int8_t *w,
                    int32_t length, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int16_t *end = c0 + (length & ~3);
#if defined(NN2MCU_SIMD_ASM)
    /* word-aligned columns: the loop below in 16 instructions per four values and 3 per
       eight (LDRD; the loop's end read from the stack; thirteen registers) */
    if (c0 != end && (((uintptr_t)c0 | (uintptr_t)c1 | (uintptr_t)c2 | (uintptr_t)c3) & 3u) == 0) {
        const int32_t odd = (length >> 2) & 1;
        uint32_t wl, wh, x0, x1;
        __asm__(NN2MCU_DOT_4X1_LOOP
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [c0] "+r"(c0), [c1] "+r"(c1),
                  [c2] "+r"(c2), [c3] "+r"(c3), [w] "+r"(w), [wl] "=&r"(wl), [wh] "=&r"(wh), [x0] "=&r"(x0),
                  [x1] "=&r"(x1)
                : [end] "m"(end), [odd] "m"(odd)
                : "cc", "memory");
    }
#endif
    for (; c0 != end; c0 += 4, c1 += 4, c2 += 4, c3 += 4, w += 4) {
        const uint32_t word = nn2mcu_load32(w);
        const uint32_t even = nn2mcu_sxtb16(word), odd = nn2mcu_sxtb16_ror8(word);
        a0 = nn2mcu_smlad(nn2mcu_load32(c0 + 2), odd, nn2mcu_smlad(nn2mcu_load32(c0), even, a0));
        a1 = nn2mcu_smlad(nn2mcu_load32(c1 + 2), odd, nn2mcu_smlad(nn2mcu_load32(c1), even, a1));
        a2 = nn2mcu_smlad(nn2mcu_load32(c2 + 2), odd, nn2mcu_smlad(nn2mcu_load32(c2), even, a2));
        a3 = nn2mcu_smlad(nn2mcu_load32(c3 + 2), odd, nn2mcu_smlad(nn2mcu_load32(c3), even, a3));
    }
    for (int32_t i = 0; i < (length & 3); i++) {
        a0 += (uint32_t)((int32_t)c0[i] * w[i]);
        a1 += (uint32_t)((int32_t)c1[i] * w[i]);
        a2 += (uint32_t)((int32_t)c2[i] * w[i]);
        a3 += (uint32_t)((int32_t)c3[i] * w[i]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc[k][f] += column col[k] . filter f for filters (at most 16) consecutive filters from w
   (length values each), as dot_4x1 for each: on a core where the loops are in assembly, with word-
   aligned columns and length a multiple of 4, one call for all of them (the outer loop's
   state on the stack), else a dot_4x1 per filter. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void dot_4xn(const int16_t *const col[4], const int8_t *w, int32_t length, int32_t filters,
                    uint32_t acc[4][16])
{
#if defined(NN2MCU_SIMD_ASM)
    if (filters > 0 && length >= 4 && (length & 3) == 0 &&
        (((uintptr_t)col[0] | (uintptr_t)col[1] | (uintptr_t)col[2] | (uintptr_t)col[3]) & 3u) == 0) {
        const int16_t *col0 = col[0], *col1 = col[1], *col2 = col[2], *col3 = col[3], *end = col0;
        const int32_t bytes = length * (int32_t)sizeof(int16_t), odd = (length >> 2) & 1;
        uint32_t *next = acc[0]; /* filter f's four sums: next[0], next[16], next[32], next[48] */
        int32_t left = filters;
        uint32_t a0, a1, a2, a3, wl, wh, x0, x1;
        const int16_t *c0, *c1, *c2, *c3;
        __asm__("2:\n\t"
                "ldr %[x0], %[next]\n\t"
                "ldr %[a0], [%[x0]]\n\t"
                "ldr %[a1], [%[x0], #64]\n\t"
                "ldr %[a2], [%[x0], #128]\n\t"
                "ldr %[a3], [%[x0], #192]\n\t"
                "ldr %[c0], %[col0]\n\t"
                "ldr %[c1], %[col1]\n\t"
                "ldr %[c2], %[col2]\n\t"
                "ldr %[c3], %[col3]\n\t"
                "ldr %[x0], %[bytes]\n\t"
                "add %[x0], %[c0], %[x0]\n\t"
                "str %[x0], %[end]\n\t"
                NN2MCU_DOT_4X1_LOOP
                "ldr %[x0], %[next]\n\t"
                "str %[a1], [%[x0], #64]\n\t"
                "str %[a2], [%[x0], #128]\n\t"
                "str %[a3], [%[x0], #192]\n\t"
                "str %[a0], [%[x0]], #4\n\t"
                "str %[x0], %[next]\n\t"
                "ldr %[x0], %[left]\n\t"
                "subs %[x0], %[x0], #1\n\t"
                "str %[x0], %[left]\n\t"
                "bne 2b"
                : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [c0] "=&r"(c0), [c1] "=&r"(c1),
                  [c2] "=&r"(c2), [c3] "=&r"(c3), [w] "+r"(w), [wl] "=&r"(wl), [wh] "=&r"(wh), [x0] "=&r"(x0),
                  [x1] "=&r"(x1), [next] "+m"(next), [left] "+m"(left), [end] "+m"(end)
                : [col0] "m"(col0), [col1] "m"(col1), [col2] "m"(col2), [col3] "m"(col3), [bytes] "m"(bytes),
                  [odd] "m"(odd)
                : "cc", "memory");
        return;
    }
#endif
    for (int32_t f = 0; f < filters; f++) {
        uint32_t sums[4] = {acc[0][f], acc[1][f], acc[2][f], acc[3][f]};
        dot_4x1(col[0], col[1], col[2], col[3], w + (size_t)f * (size_t)length, length, sums);
        for (int32_t k = 0; k < 4; k++) {
            acc[k][f] = sums[k];
        }
    }
}

/* acc[k] += column col . filter k for four consecutive filters from w (length values
   each): a lone pixel (the last of a layer whose pixel count is 1 modulo 4), which the
   four-column loop would compute four times. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void dot_1x4(const int16_t *col, const int8_t *w, int32_t length, uint32_t acc[4])
{
    const int8_t *w1 = w + length, *w2 = w1 + length, *w3 = w2 + length;
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t j = 0;
    for (; j + 4 <= length; j += 4) {
        const uint32_t even = nn2mcu_load32(col + j), odd = nn2mcu_load32(col + j + 2);
        uint32_t word = nn2mcu_load32(w + j);
        a0 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(word), odd, nn2mcu_smlad(nn2mcu_sxtb16(word), even, a0));
        word = nn2mcu_load32(w1 + j);
        a1 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(word), odd, nn2mcu_smlad(nn2mcu_sxtb16(word), even, a1));
        word = nn2mcu_load32(w2 + j);
        a2 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(word), odd, nn2mcu_smlad(nn2mcu_sxtb16(word), even, a2));
        word = nn2mcu_load32(w3 + j);
        a3 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(word), odd, nn2mcu_smlad(nn2mcu_sxtb16(word), even, a3));
    }
    for (; j < length; j++) {
        const int32_t value = col[j];
        a0 += (uint32_t)(value * w[j]);
        a1 += (uint32_t)(value * w1[j]);
        a2 += (uint32_t)(value * w2[j]);
        a3 += (uint32_t)(value * w3[j]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* count (1 to 4) output pixels from their columns col[0 .. 3] (past count, repeats of a
   column): up to sixteen filters at a time (dot_4xn), then each pixel's four channels
   through output4_from; the last ch_out % 4 filters one at a time. */
static void columns_to_pixels(const int16_t *const col[4], int32_t count, int32_t length, const int8_t *weights,
                              int32_t ch_out, const int32_t *bias, const cmsis_nn_per_channel_quant_params *quant,
                              const out4 *outputs, int8_t *out)
{
    int32_t o = 0;
    for (; count == 1 && o + 4 <= ch_out; o += 4) { /* a lone pixel */
        uint32_t acc[4];
        for (int32_t k = 0; k < 4; k++) {
            acc[k] = (uint32_t)(bias != NULL ? bias[o + k] : 0);
        }
        dot_1x4(col[0], weights + (size_t)o * (size_t)length, length, acc);
        output4_from(acc, quant->multiplier + o, quant->shift + o, outputs, out + o);
    }
    while (o + 4 <= ch_out) {
        uint32_t acc[4][16]; /* [pixel][filter], up to 16 filters at a time */
        const int32_t block = ch_out - o >= 16 ? 16 : (ch_out - o) & ~3;
        for (int32_t k = 0; k < block; k++) {
            const uint32_t start = (uint32_t)(bias != NULL ? bias[o + k] : 0);
            acc[0][k] = acc[1][k] = acc[2][k] = acc[3][k] = start;
        }
        dot_4xn(col, weights + (size_t)o * (size_t)length, length, block, acc);
        for (int32_t g = 0; g < block; g += 4, o += 4) {
            for (int32_t q = 0; q < count; q++) {
                output4_from(acc[q] + g, quant->multiplier + o, quant->shift + o, outputs,
                             out + (size_t)q * (size_t)ch_out + o);
            }
        }
    }
    for (; o < ch_out; o++) {
        uint32_t acc[4];
        acc[0] = acc[1] = acc[2] = acc[3] = (uint32_t)(bias != NULL ? bias[o] : 0);
        dot_4x1(col[0], col[1], col[2], col[3], weights + (size_t)o * (size_t)length, length, acc);
        for (int32_t q = 0; q < count; q++) {
            out[(size_t)q * (size_t)ch_out + (size_t)o] =
                nn2mcu_s8_output(nn2mcu_wrap32(acc[q]), quant->multiplier[o], quant->shift[o], outputs->offset,
                                 outputs->act.min, outputs->act.max);
        }
    }
}

/* All output pixels, four at a time (or, with a buffer of two columns, two) through int16
   columns in buffer, each column word-aligned. With dot (padded_length) above the filter's
   length, the columns and a copy of the filters after them in buffer are padded with zeros
   to dot values, so that the dot products take whole words. */
static void convolve_fast(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                          int32_t output_offset, cmsis_nn_activation act,
                          const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                          const int8_t *input, const cmsis_nn_dims *filter, const int8_t *weights,
                          const int32_t *bias, const cmsis_nn_dims *out, int8_t *output, int16_t *buffer,
                          int32_t columns, int32_t dot)
{
    const int32_t length = filter->h * filter->w * in->c, ch_out = out->c;
    const int32_t pixels = out->h * out->w, step = dot != length ? dot : (length + 1) & ~1;
    const int stage = staged(filter->h, filter->w, in->c, input_offset);
    if (dot != length) { /* the padded filters: after the columns (word-aligned: step % 4 == 0) */
        int8_t *copy = (int8_t *)(buffer + (size_t)columns * (size_t)step);
        for (int32_t f = 0; f < ch_out; f++) {
            copy_bytes(copy + (size_t)f * (size_t)dot, weights + (size_t)f * (size_t)length, length);
            fill_bytes(copy + (size_t)f * (size_t)dot + length, 0, dot - length);
        }
        weights = copy;
    }
    out4 outputs;
    out4_common(&outputs, fast_outputs(quant->multiplier, quant->shift, ch_out, output_offset, act), output_offset,
                act);
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)in->c;
        int8_t *result = output + (size_t)n * (size_t)pixels * (size_t)ch_out;
        for (int32_t p = 0; p < pixels; p += columns) {
            const int32_t count = pixels - p < columns ? pixels - p : columns;
            const int16_t *col[4];
            for (int32_t q = 0; q < 4; q++) {
                int16_t *column = buffer + (size_t)(q < count ? q : count - 1) * (size_t)step; /* q < columns */
                if (q < count && stage) {
                    im2col_staged(image, in, filter->h, filter->w, stride, padding, input_offset, (p + q) % out->w,
                                  (p + q) / out->w, dot, column);
                } else if (q < count) {
                    im2col(image, in, filter->h, filter->w, stride, padding, input_offset, (p + q) % out->w,
                           (p + q) / out->w, column);
                }
                col[q] = column;
            }
            columns_to_pixels(col, count, dot, weights, ch_out, bias, quant, &outputs,
                              result + (size_t)p * (size_t)ch_out);
        }
    }
}

/* bias + one filter of words * 4 int8 values against the unpacked input pairs. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline uint32_t narrow_sum(const int8_t *filter, const uint32_t even[2], const uint32_t odd[2],
                                  const int32_t words, int32_t bias)
{
    uint32_t sum = (uint32_t)bias;
    for (int32_t j = 0; j < words; j++) {
        const uint32_t word = nn2mcu_load32(filter + 4 * j);
        sum = nn2mcu_smlad(nn2mcu_sxtb16(word), even[j], sum);
        sum = nn2mcu_smlad(nn2mcu_sxtb16_ror8(word), odd[j], sum);
    }
    return sum;
}

/* A 1x1 convolution without padding and without input offset (nn2mcu's generated code
   folds it into the bias), for an input depth of words * 4 channels (at most 8):
   each pixel's channels are unpacked once into int16 pairs that stay in registers, and each
   filter's words are multiplied against them (no column, no call per filter). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void narrow_pixels(const cmsis_nn_tile stride, const out4 *outputs,
                                 const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                                 const int8_t *input, const int8_t *weights, const int32_t *bias,
                                 const cmsis_nn_dims *out, int8_t *output, const int32_t words)
{
    const int32_t ch_out = out->c, depth = 4 * words;
    for (int32_t n = 0; n < in->n; n++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int8_t *x = input + (((size_t)n * (size_t)in->h + (size_t)(oy * stride.h)) * (size_t)in->w +
                                           (size_t)(ox * stride.w)) * (size_t)depth;
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch_out;
                uint32_t even[2], odd[2];
                for (int32_t j = 0; j < words; j++) {
                    const uint32_t word = nn2mcu_load32(x + 4 * j);
                    even[j] = nn2mcu_sxtb16(word);
                    odd[j] = nn2mcu_sxtb16_ror8(word);
                }
                const int8_t *filter = weights;
                int32_t o = 0;
                for (; o + 4 <= ch_out; o += 4, filter += 4 * depth) {
                    uint32_t acc[4];
                    acc[0] = narrow_sum(filter, even, odd, words, bias != NULL ? bias[o] : 0);
                    acc[1] = narrow_sum(filter + depth, even, odd, words, bias != NULL ? bias[o + 1] : 0);
                    acc[2] = narrow_sum(filter + 2 * depth, even, odd, words, bias != NULL ? bias[o + 2] : 0);
                    acc[3] = narrow_sum(filter + 3 * depth, even, odd, words, bias != NULL ? bias[o + 3] : 0);
                    output4_from(acc, quant->multiplier + o, quant->shift + o, outputs, pixel_out + o);
                }
                for (; o < ch_out; o++, filter += depth) {
                    const uint32_t sum = narrow_sum(filter, even, odd, words, bias != NULL ? bias[o] : 0);
                    pixel_out[o] = nn2mcu_s8_output(nn2mcu_wrap32(sum), quant->multiplier[o], quant->shift[o],
                                                    outputs->offset, outputs->act.min, outputs->act.max);
                }
            }
        }
    }
}

/* narrow_pixels for an input depth of 8, its loops unrolled (at 12 and 16 the held pairs
   crowd the registers and the column path is faster; at 4 it gains too little for its
   code). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void narrow(const cmsis_nn_tile stride, int32_t output_offset, cmsis_nn_activation act,
                   const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in, const int8_t *input,
                   const int8_t *weights, const int32_t *bias, const cmsis_nn_dims *out, int8_t *output)
{
    out4 outputs;
    out4_common(&outputs, fast_outputs(quant->multiplier, quant->shift, out->c, output_offset, act), output_offset,
                act);
    narrow_pixels(stride, &outputs, quant, in, input, weights, bias, out, output, 2);
}

/* What the fast path needs: four int16 columns (the four-pixel path; two suffice for the
   two-pixel one, CMSIS-NN's size); none for an unpadded 1x1 convolution of depth 8 without
   input offset (narrow). */
/* The length of the dot products of convolve_fast: for receptive fields im2col_staged takes
   whose length is no multiple of 4 (the first layers), that length rounded up to one. */
static int32_t padded_length(const cmsis_nn_dims *in, const cmsis_nn_dims *filter, int32_t input_offset)
{
    const int32_t length = filter->h * filter->w * in->c;
    return (length & 3) != 0 && staged(filter->h, filter->w, in->c, input_offset) ? (length + 3) & ~3 : length;
}

static int32_t fast_buffer_size(const cmsis_nn_conv_params *params, const cmsis_nn_dims *in,
                                const cmsis_nn_dims *filter)
{
    const int32_t length = filter->h * filter->w * in->c, dot = padded_length(in, filter, params->input_offset);
    if (filter->h == 1 && filter->w == 1 && params->padding.w == 0 && params->padding.h == 0 && in->c == 8 &&
        params->input_offset == 0) {
        return 0;
    }
    /* four columns, and the padded filters */
    return 4 * ((length + 3) & ~3) * (int32_t)sizeof(int16_t) + (dot != length ? filter->n * dot : 0);
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)bias_dims;
    const int32_t length = filter_dims->h * filter_dims->w * input_dims->c;
    if (filter_dims->h == 1 && filter_dims->w == 1 && conv_params->padding.w == 0 && conv_params->padding.h == 0 &&
        conv_params->input_offset == 0 && conv_params->dilation.w == 1 && conv_params->dilation.h == 1 &&
        filter_dims->c == input_dims->c && input_dims->c == 8) {
        narrow(conv_params->stride, conv_params->output_offset, conv_params->activation, quant_params, input_dims,
               input_data, filter_data, bias_data, output_dims, output_data);
        return ARM_CMSIS_NN_SUCCESS;
    }
    int32_t dot = padded_length(input_dims, filter_dims, conv_params->input_offset);
    int32_t column_bytes = dot * (int32_t)sizeof(int16_t), copy = filter_dims->n * dot;
    if (dot == length || ctx == NULL || ctx->size < 2 * column_bytes + copy) { /* unpadded */
        dot = length;
        column_bytes = ((length + 1) & ~1) * (int32_t)sizeof(int16_t);
        copy = 0;
    }
    if (ctx != NULL && ctx->buf != NULL && ctx->size >= 2 * column_bytes + copy && conv_params->dilation.w == 1 &&
        conv_params->dilation.h == 1 && filter_dims->c == input_dims->c) {
        convolve_fast(conv_params->stride, conv_params->padding, conv_params->input_offset,
                      conv_params->output_offset, conv_params->activation, quant_params, input_dims, input_data,
                      filter_dims, filter_data, bias_data, output_dims, output_data, (int16_t *)ctx->buf,
                      ctx->size >= 4 * column_bytes + copy ? 4 : 2, dot);
        return ARM_CMSIS_NN_SUCCESS;
    }
    return convolve(conv_params->stride, conv_params->padding, conv_params->dilation, conv_params->input_offset,
                    conv_params->output_offset, conv_params->activation, quant_params, input_dims, input_data,
                    filter_dims, filter_data, bias_data, output_dims, output_data);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    return fast_buffer_size(conv_params, input_dims, filter_dims);
}

/* Depthwise (multiplier 1), four channels at a time in registers: for each block of four
   channels, every output pixel; per window tap one word of input and one of filter, each
   unpacked into two int16 pairs, and four 16 x 16 multiply-accumulates (SMLABB, SMLATT on a
   core with the DSP extension) into the four channels' sums, modulo 2^32 as CMSIS-NN's
   int32 sums. Where the whole window lies in the image, sum (x + offset) * w is sum x * w
   plus offset times the filter's sum, which is added to the bias once per block; where it
   leaves the image, the in-bounds taps add (x + offset) * w. The last ch % 4 channels one
   at a time. */

/* acc[k] += the window's sum for channels c .. c + 3: rows x taps input words from x (rows
   line bytes apart, taps ch apart) against filter words from w (rows wline apart), each
   input value plus the offset in both lanes of offsets. Out of line, so that the four
   sums, the offsets and the pointers stay in registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void window4(const int8_t *x, const int8_t *w, int32_t rows, int32_t taps, size_t line, size_t wline,
                    size_t ch, uint32_t offsets, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; rows > 0; rows--, x += line, w += wline) {
        const int8_t *xp = x, *wp = w;
        for (int32_t t = taps; t > 0; t--, xp += ch, wp += ch) {
            const uint32_t xs = nn2mcu_load32(xp), ws = nn2mcu_load32(wp);
            const uint32_t xe = nn2mcu_sadd16(nn2mcu_sxtb16(xs), offsets);
            const uint32_t xo = nn2mcu_sadd16(nn2mcu_sxtb16_ror8(xs), offsets);
            const uint32_t we = nn2mcu_sxtb16(ws), wo = nn2mcu_sxtb16_ror8(ws);
            a0 = nn2mcu_smlabb(xe, we, a0); /* channel c */
            a2 = nn2mcu_smlatt(xe, we, a2); /* c + 2 */
            a1 = nn2mcu_smlabb(xo, wo, a1); /* c + 1 */
            a3 = nn2mcu_smlatt(xo, wo, a3); /* c + 3 */
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}


/* acc[k] += the sums of a window three taps wide and rows high, with no offset: input
   words from x (ch bytes apart, the next row skip bytes after a row's third), filter words
   from w (ch bytes apart throughout: a depthwise filter's taps are consecutive pixels). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void window4_3wide(const int8_t *x, const int8_t *w, int32_t rows, size_t skip, size_t ch, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; rows > 0; rows--) {
#if defined(NN2MCU_SIMD_ASM)
        /* what the C below computes, in 34 instructions: the compiler's schedule of it loads
           ahead and spills */
        uint32_t xs, xo, ws, wo;
        __asm__("ldr %[xs], [%[x]]\n\t"
                "ldr %[ws], [%[w]]\n\t"
                "sxtb16 %[xo], %[xs], ror #8\n\t"
                "sxtb16 %[xs], %[xs]\n\t"
                "sxtb16 %[wo], %[ws], ror #8\n\t"
                "sxtb16 %[ws], %[ws]\n\t"
                "smlabb %[a0], %[xs], %[ws], %[a0]\n\t"
                "smlatt %[a2], %[xs], %[ws], %[a2]\n\t"
                "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"
                "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
                "ldr %[xs], [%[x], %[ch]]\n\t"
                "ldr %[ws], [%[w], %[ch]]\n\t"
                "sxtb16 %[xo], %[xs], ror #8\n\t"
                "sxtb16 %[xs], %[xs]\n\t"
                "sxtb16 %[wo], %[ws], ror #8\n\t"
                "sxtb16 %[ws], %[ws]\n\t"
                "smlabb %[a0], %[xs], %[ws], %[a0]\n\t"
                "smlatt %[a2], %[xs], %[ws], %[a2]\n\t"
                "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"
                "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
                "add %[x], %[x], %[ch], lsl #1\n\t"
                "add %[w], %[w], %[ch], lsl #1\n\t"
                "ldr %[xs], [%[x]]\n\t"
                "ldr %[ws], [%[w]]\n\t"
                "sxtb16 %[xo], %[xs], ror #8\n\t"
                "sxtb16 %[xs], %[xs]\n\t"
                "sxtb16 %[wo], %[ws], ror #8\n\t"
                "sxtb16 %[ws], %[ws]\n\t"
                "smlabb %[a0], %[xs], %[ws], %[a0]\n\t"
                "smlatt %[a2], %[xs], %[ws], %[a2]\n\t"
                "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"
                "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
                "add %[x], %[x], %[skip]\n\t"
                "add %[w], %[w], %[ch]"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),
                  [xs] "=&r"(xs), [xo] "=&r"(xo), [ws] "=&r"(ws), [wo] "=&r"(wo)
                : [ch] "r"(ch), [skip] "r"(skip)
                : "memory");
#else
/* one input word against one filter word into the four sums (no offset) */
#define NN2MCU_TAP4(xp, wp)                                                                                            \
    do {                                                                                                               \
        const uint32_t xs_ = nn2mcu_load32(xp), ws_ = nn2mcu_load32(wp);                                               \
        const uint32_t xe_ = nn2mcu_sxtb16(xs_), xo_ = nn2mcu_sxtb16_ror8(xs_);                                        \
        const uint32_t we_ = nn2mcu_sxtb16(ws_), wo_ = nn2mcu_sxtb16_ror8(ws_);                                        \
        a0 = nn2mcu_smlabb(xe_, we_, a0);                                                                              \
        a2 = nn2mcu_smlatt(xe_, we_, a2);                                                                              \
        a1 = nn2mcu_smlabb(xo_, wo_, a1);                                                                              \
        a3 = nn2mcu_smlatt(xo_, wo_, a3);                                                                              \
    } while (0)
        NN2MCU_TAP4(x, w);
        NN2MCU_TAP4(x + ch, w + ch);
        x += 2 * ch;
        w += 2 * ch;
        NN2MCU_TAP4(x, w);
        x += skip;
        w += ch;
#endif
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* count output pixels of one row whose windows lie inside the image, four channels: x is
   the first window's corner (channel c), step the input bytes between windows, out the
   first output (channel c), ch the bytes between pixels. A 3 x 3 window is unrolled. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void interior_run4(const int8_t *x, const int8_t *w, int32_t count, size_t step, int32_t kh, int32_t kw,
                          size_t line, size_t ch, const uint32_t folded[4], const out4 *o, int8_t *out,
                          size_t out_step)
{
    const size_t wline = (size_t)kw * ch;
    for (; count > 0; count--, x += step, out += out_step) {
        uint32_t acc[4] = {folded[0], folded[1], folded[2], folded[3]};
        if (kw == 3) {
            window4_3wide(x, w, kh, line - 2 * ch, ch, acc);
        } else {
            window4(x, w, kh, kw, line, wline, ch, 0, acc);
        }
        output4(acc, o, out);
    }
}

/* The last ch % 4 channels of a depthwise convolution (one image), one at a time. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void depthwise_tail(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                           int32_t output_offset, cmsis_nn_activation act,
                           const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                           const int8_t *image, const cmsis_nn_dims *filter, const int8_t *weights,
                           const int32_t *bias, const cmsis_nn_dims *out, int8_t *result)
{
    const int32_t ch = in->c, kh = filter->h, kw = filter->w;
    const size_t line = (size_t)in->w * (size_t)ch;
    for (int32_t c = ch & ~3; c < ch; c++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            const int32_t y0 = oy * stride.h - padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in->h - y0 < kh ? in->h - y0 : kh;
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int32_t x0 = ox * stride.w - padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in->w - x0 < kw ? in->w - x0 : kw;
                uint32_t acc = (uint32_t)(bias != NULL ? bias[c] : 0);
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const size_t tap = (size_t)ky * (size_t)kw + (size_t)kx;
                        const int32_t value =
                            image[(size_t)(y0 + ky) * line + (size_t)(x0 + kx) * (size_t)ch + (size_t)c];
                        acc += (uint32_t)((value + input_offset) * weights[tap * (size_t)ch + (size_t)c]);
                    }
                }
                result[((size_t)oy * (size_t)out->w + (size_t)ox) * (size_t)ch + (size_t)c] =
                    nn2mcu_s8_output(nn2mcu_wrap32(acc), quant->multiplier[c], quant->shift[c], output_offset,
                                     act.min, act.max);
            }
        }
    }
}

/* Small images (their windows mostly leave the image) are staged: for each block of four
   channels, its filter taps and its input plane padded on every side with the byte
   -input_offset (which the folded offset turns into 0), as words of the four channels, so
   that every output pixel takes the interior path. The staging buffer's bytes, 0 where
   the plane would take more than DEPTHWISE_STAGE_BYTES or -input_offset is no byte. */
#define DEPTHWISE_STAGE_BYTES 1024

static int32_t depthwise_stage_bytes(const cmsis_nn_tile stride, int32_t input_offset, const cmsis_nn_dims *in,
                                     const cmsis_nn_dims *filter, const cmsis_nn_dims *out)
{
    const int32_t rows = (out->h - 1) * stride.h + filter->h, cols = (out->w - 1) * stride.w + filter->w;
    const int32_t bytes = 4 * (filter->h * filter->w + rows * cols);
    if (in->c < 4 || input_offset < -127 || input_offset > 128 || bytes > DEPTHWISE_STAGE_BYTES) {
        return 0;
    }
    return bytes;
}

/* The staging of the block of channels c .. c + 3 (see depthwise_stage_bytes): its taps,
   then the padded plane, (out->h - 1) * stride.h + kh rows of (out->w - 1) * stride.w + kw
   words. */
static void stage_block(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                        const cmsis_nn_dims *in, const int8_t *image, const cmsis_nn_dims *filter,
                        const int8_t *weights, int32_t c, const cmsis_nn_dims *out, int8_t *stage)
{
    const int32_t ch = in->c, taps = filter->h * filter->w;
    const int32_t rows = (out->h - 1) * stride.h + filter->h, cols = (out->w - 1) * stride.w + filter->w;
    const uint32_t pad = ((uint32_t)-input_offset & 0xFFu) * 0x01010101u;
    for (int32_t t = 0; t < taps; t++) {
        nn2mcu_store32(stage + 4 * t, nn2mcu_load32(weights + (size_t)t * (size_t)ch + (size_t)c));
    }
    int8_t *dst = stage + 4 * taps;
    const int32_t first = padding.w < cols ? padding.w : cols;
    const int32_t last = padding.w + in->w < cols ? padding.w + in->w : cols;
    for (int32_t r = 0; r < rows; r++) {
        const int32_t iy = r - padding.h;
        int32_t j = 0;
        if (iy >= 0 && iy < in->h) {
            const int8_t *src = image + (size_t)iy * (size_t)in->w * (size_t)ch + (size_t)c;
            for (; j < first; j++, dst += 4) {
                nn2mcu_store32(dst, pad);
            }
            for (; j < last; j++, dst += 4, src += ch) {
                nn2mcu_store32(dst, nn2mcu_load32(src));
            }
        }
        for (; j < cols; j++, dst += 4) {
            nn2mcu_store32(dst, pad);
        }
    }
}

static void depthwise(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                      int32_t output_offset, cmsis_nn_activation act,
                      const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                      const int8_t *input, const cmsis_nn_dims *filter, const int8_t *weights,
                      const int32_t *bias, const cmsis_nn_dims *out, int8_t *output, int8_t *stage)
{
    const int32_t ch = in->c, kh = filter->h, kw = filter->w, grouped = ch & ~3;
    const uint32_t offsets = ((uint32_t)input_offset & 0xFFFFu) * 0x10001u;
    const size_t line = (size_t)in->w * (size_t)ch, wline = (size_t)kw * (size_t)ch;
    const int fast = fast_outputs(quant->multiplier, quant->shift, ch, output_offset, act);
    /* the output columns whose windows lie inside the image sideways: [ox_lo, ox_hi) */
    int32_t ox_lo = (padding.w + stride.w - 1) / stride.w, ox_hi = out->w;
    while (ox_hi > ox_lo && (ox_hi - 1) * stride.w - padding.w + kw > in->w) {
        ox_hi--;
    }
    if (ox_lo > ox_hi) {
        ox_lo = ox_hi;
    }
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * line;
        int8_t *result = output + (size_t)n * (size_t)out->h * (size_t)out->w * (size_t)ch;
        for (int32_t c = 0; c < grouped; c += 4) {
            uint32_t start[4], folded[4];
            for (int32_t k = 0; k < 4; k++) {
                uint32_t taps = 0;
                for (int32_t t = 0; t < kh * kw; t++) {
                    taps += (uint32_t)weights[(size_t)t * (size_t)ch + (size_t)(c + k)];
                }
                start[k] = (uint32_t)(bias != NULL ? bias[c + k] : 0);
                folded[k] = start[k] + (uint32_t)input_offset * taps;
            }
            out4 o;
            out4_common(&o, fast, output_offset, act);
            out4_channels(&o, quant->multiplier + c, quant->shift + c);
            if (stage != NULL) {
                stage_block(stride, padding, input_offset, in, image, filter, weights, c, out, stage);
                const size_t sline = 4 * (size_t)((out->w - 1) * stride.w + kw);
                const int8_t *plane = stage + 4 * kh * kw;
                for (int32_t oy = 0; oy < out->h; oy++) {
                    interior_run4(plane + (size_t)(oy * stride.h) * sline, stage, out->w, 4 * (size_t)stride.w, kh,
                                  kw, sline, 4, folded, &o, result + (size_t)oy * (size_t)out->w * (size_t)ch + c,
                                  (size_t)ch);
                }
                continue;
            }
            for (int32_t oy = 0; oy < out->h; oy++) {
                const int32_t y0 = oy * stride.h - padding.h;
                const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in->h - y0 < kh ? in->h - y0 : kh;
                int8_t *row_out = result + (size_t)oy * (size_t)out->w * (size_t)ch + (size_t)c;
                for (int32_t ox = 0; ox < out->w; ox++) {
                    const int32_t x0 = ox * stride.w - padding.w;
                    if (ky0 == 0 && ky1 == kh && ox == ox_lo && ox_hi > ox_lo) {
                        interior_run4(image + (size_t)y0 * line + (size_t)x0 * (size_t)ch + (size_t)c,
                                      weights + c, ox_hi - ox_lo, (size_t)stride.w * (size_t)ch, kh, kw, line,
                                      (size_t)ch, folded, &o, row_out + (size_t)ox * (size_t)ch, (size_t)ch);
                        ox = ox_hi - 1;
                        continue;
                    }
                    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in->w - x0 < kw ? in->w - x0 : kw;
                    uint32_t acc[4] = {start[0], start[1], start[2], start[3]};
                    if (ky1 > ky0 && kx1 > kx0) {
                        window4(image + (size_t)(y0 + ky0) * line + (size_t)(x0 + kx0) * (size_t)ch + (size_t)c,
                                weights + ((size_t)ky0 * (size_t)kw + (size_t)kx0) * (size_t)ch + (size_t)c,
                                ky1 - ky0, kx1 - kx0, line, wline, (size_t)ch, offsets, acc);
                    }
                    output4(acc, &o, row_out + (size_t)ox * (size_t)ch);
                }
            }
        }
        depthwise_tail(stride, padding, input_offset, output_offset, act, quant, in, image, filter, weights, bias,
                       out, result);
    }
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
                                                  const cmsis_nn_per_channel_quant_params *quant_params,
                                                  const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                                  const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                                  const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                                  const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)bias_dims;
    if (dw_conv_params->ch_mult != 1 || dw_conv_params->dilation.w != 1 || dw_conv_params->dilation.h != 1 ||
        input_dims->c != output_dims->c) {
        return ARM_CMSIS_NN_ARG_ERROR; /* generated code calls arm_depthwise_conv_s8 for ch_mult != 1 */
    }
    const int32_t stage_bytes = depthwise_stage_bytes(dw_conv_params->stride, dw_conv_params->input_offset,
                                                      input_dims, filter_dims, output_dims);
    int8_t *stage = stage_bytes > 0 && ctx != NULL && ctx->buf != NULL && ctx->size >= stage_bytes
                        ? (int8_t *)ctx->buf
                        : NULL;
    depthwise(dw_conv_params->stride, dw_conv_params->padding, dw_conv_params->input_offset,
              dw_conv_params->output_offset, dw_conv_params->activation, quant_params, input_dims, input_data,
              filter_dims, filter_data, bias_data, output_dims, output_data, stage);
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims)
{
    if (dw_conv_params->ch_mult != 1) {
        return 0;
    }
    return depthwise_stage_bytes(dw_conv_params->stride, dw_conv_params->input_offset, input_dims, filter_dims,
                                 output_dims);
}
