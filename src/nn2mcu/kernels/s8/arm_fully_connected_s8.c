/*
 * nn2mcu portable kernels: the inner product.
 *
 * nn2mcu_fully_connected_s8 is nn2mcu's own entry point (not CMSIS-NN's API), the one the
 * generated code calls: one batch, the input offset folded into the bias (the sums are the
 * same modulo 2^32), the weights in four-row blocks (nn2mcu_fc_s8_args). Four rows go at
 * a time: each input word is unpacked once into two pairs of int16 and meets the four
 * rows' words, which lie side by side, by dual 16-bit MACs (SMLAD on a core with the DSP
 * extension); the sums are modulo 2^32, as CMSIS-NN's int32 sums.
 *
 * arm_fully_connected_s8 (one multiplier and shift) and arm_fully_connected_per_channel_s8
 * (one per output) are CMSIS-NN's API on the filter rows x depth (filter_dims->n = depth,
 * filter_dims->c = rows): per row, bias + sum of (input + input_offset) * (filter +
 * filter_offset), requantized, plus output_offset, clamped; one row at a time. No scratch
 * buffer is needed.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"
#include "nn2mcu_simd.h"

#include <stddef.h>

/* acc + the dot product of one int8 row with the vector x, modulo 2^32 */
static uint32_t dot_row(const int8_t *x, const int8_t *w, int32_t depth, uint32_t acc)
{
    int32_t i = 0;
    for (; i + 4 <= depth; i += 4) {
        const uint32_t word = nn2mcu_load32(x + i), row = nn2mcu_load32(w + i);
        acc = nn2mcu_smlad(nn2mcu_sxtb16(row), nn2mcu_sxtb16(word), acc);
        acc = nn2mcu_smlad(nn2mcu_sxtb16_ror8(row), nn2mcu_sxtb16_ror8(word), acc);
    }
    for (; i < depth; i++) {
        acc += (uint32_t)((int32_t)x[i] * w[i]);
    }
    return acc;
}

#if defined(NN2MCU_SIMD_ASM)
/* one group of four values in the four rows: the input word unpacked into its even and odd
   values, each row's word into its own, eight dual MACs */
#define NN2MCU_FC_ROWS(first, second)                                                                           \
    "sxtb16 %[half], %[w0]\n\t"                                                                                 \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                                                           \
    "smlad %[" first "], %[half], %[even], %[" first "]\n\t"                                                    \
    "smlad %[" first "], %[w0], %[odd], %[" first "]\n\t"                                                       \
    "sxtb16 %[half], %[w1]\n\t"                                                                                 \
    "sxtb16 %[w1], %[w1], ror #8\n\t"                                                                           \
    "smlad %[" second "], %[half], %[even], %[" second "]\n\t"                                                  \
    "smlad %[" second "], %[w1], %[odd], %[" second "]\n\t"
#define NN2MCU_FC_GROUP                                                                                         \
    "ldr %[odd], [%[x]], #4\n\t"                                                                                \
    "ldrd %[w0], %[w1], [%[w]], #8\n\t"                                                                         \
    "sxtb16 %[even], %[odd]\n\t"                                                                                \
    "sxtb16 %[odd], %[odd], ror #8\n\t" NN2MCU_FC_ROWS("a0", "a1") "ldrd %[w0], %[w1], [%[w]], #8\n\t"          \
        NN2MCU_FC_ROWS("a2", "a3")
#endif

/* acc[k] += the dot product of row k of a four-row block with the vector x, modulo 2^32;
   the block's layout is nn2mcu_fc_s8_args's. */
static void dot_block(const int8_t *x, const int8_t *w, int32_t depth, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *end = x + (depth & ~3);
#if defined(NN2MCU_SIMD_ASM)
    /* 21 instructions per four values of the four rows, two groups per pass (an odd count
       enters at the second) and two for the loop; twelve registers */
    if (x != end) {
        uint32_t even, odd, w0, w1, half;
        __asm__("sub %[half], %[end], %[x]\n\t"
                "tst %[half], #4\n\t"
                "bne 2f\n"
                "1:\n\t"
                NN2MCU_FC_GROUP
                "2:\n\t"
                NN2MCU_FC_GROUP
                "cmp %[x], %[end]\n\t"
                "bne 1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),
                  [even] "=&r"(even), [odd] "=&r"(odd), [w0] "=&r"(w0), [w1] "=&r"(w1), [half] "=&r"(half)
                : [end] "r"(end)
                : "cc", "memory");
    }
#endif
    for (; x != end; x += 4, w += 16) {
        const uint32_t word = nn2mcu_load32(x);
        const uint32_t even = nn2mcu_sxtb16(word), odd = nn2mcu_sxtb16_ror8(word);
        uint32_t row = nn2mcu_load32(w);
        a0 = nn2mcu_smlad(nn2mcu_sxtb16(row), even, a0);
        a0 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(row), odd, a0);
        row = nn2mcu_load32(w + 4);
        a1 = nn2mcu_smlad(nn2mcu_sxtb16(row), even, a1);
        a1 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(row), odd, a1);
        row = nn2mcu_load32(w + 8);
        a2 = nn2mcu_smlad(nn2mcu_sxtb16(row), even, a2);
        a2 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(row), odd, a2);
        row = nn2mcu_load32(w + 12);
        a3 = nn2mcu_smlad(nn2mcu_sxtb16(row), even, a3);
        a3 = nn2mcu_smlad(nn2mcu_sxtb16_ror8(row), odd, a3);
    }
    for (int32_t i = 0; i < (depth & 3); i++, w += 4) {
        const int32_t value = x[i];
        a0 += (uint32_t)(value * w[0]);
        a1 += (uint32_t)(value * w[1]);
        a2 += (uint32_t)(value * w[2]);
        a3 += (uint32_t)(value * w[3]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* one output: requantized (in one rounding when fast), plus the offset, clamped */
static inline int8_t output(int32_t value, int fast, int32_t multiplier, int32_t shift, int32_t offset,
                            int32_t act_min, int32_t act_max)
{
    return fast ? nn2mcu_s8_output_fast(value, multiplier, shift, offset, act_min, act_max)
                : nn2mcu_s8_output(value, multiplier, shift, offset, act_min, act_max);
}

arm_cmsis_nn_status nn2mcu_fully_connected_s8(const nn2mcu_fc_s8_args *args)
{
    /* the fields in locals: an int8 store may alias *args */
    const int8_t *x = args->input, *w = args->weights;
    int8_t *out = args->output;
    const int32_t *bias = args->bias, *multiplier = args->multiplier, *shift = args->shift;
    const int32_t depth = args->depth, rows = args->rows, offset = args->output_offset;
    const int32_t act_min = args->act_min, act_max = args->act_max;
#ifdef NN2MCU_NO_FAST_OUTPUT /* benchmarks/mlperf_tiny.py --ablation */
    const int fast = 0;
#else
    const int fast = args->fast;
#endif
    for (int32_t r = 0; r < rows; r += 4) {
        const int32_t count = rows - r < 4 ? rows - r : 4;
        uint32_t acc[4];
        if (count == 4) {
            for (int32_t k = 0; k < 4; k++) {
                acc[k] = (uint32_t)bias[r + k];
            }
            dot_block(x, w, depth, acc);
            w += 4 * depth;
        } else { /* the rows after the last block, one after the other */
            for (int32_t k = 0; k < count; k++, w += depth) {
                acc[k] = dot_row(x, w, depth, (uint32_t)bias[r + k]);
            }
        }
        for (int32_t k = 0; k < count; k++) {
            out[r + k] = output(nn2mcu_wrap32(acc[k]), fast, multiplier[r + k], shift[r + k], offset, act_min, act_max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

static void rows(const cmsis_nn_fc_params *params, const int32_t *multiplier, const int32_t *shift, int per_channel,
                 const cmsis_nn_dims *input_dims, const int8_t *input, const cmsis_nn_dims *filter_dims,
                 const int8_t *filter, const int32_t *bias, const cmsis_nn_dims *output_dims, int8_t *output)
{
    const int32_t depth = filter_dims->n, count = output_dims->c;
    const int offsets = params->input_offset != 0 || params->filter_offset != 0;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *vector = input + (size_t)n * (size_t)depth;
        for (int32_t r = 0; r < count; r++) {
            const int8_t *row = filter + (size_t)r * (size_t)depth;
            uint32_t sum = (uint32_t)(bias != NULL ? bias[r] : 0);
            if (!offsets) {
                sum = dot_row(vector, row, depth, sum);
            } else {
                for (int32_t i = 0; i < depth; i++) {
                    sum += (uint32_t)(((int32_t)vector[i] + params->input_offset) *
                                      ((int32_t)row[i] + params->filter_offset));
                }
            }
            const int32_t k = per_channel ? r : 0;
            output[(size_t)n * (size_t)count + (size_t)r] =
                nn2mcu_s8_output(nn2mcu_wrap32(sum), multiplier[k], shift[k], params->output_offset,
                                 params->activation.min, params->activation.max);
        }
    }
}

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx, const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    rows(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data, filter_dims,
         filter_data, bias_data, output_dims, output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_per_channel_s8(const cmsis_nn_context *ctx,
                                                       const cmsis_nn_fc_params *fc_params,
                                                       const cmsis_nn_per_channel_quant_params *quant_params,
                                                       const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                                       const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                                       const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                                       const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    rows(fc_params, quant_params->multiplier, quant_params->shift, 1, input_dims, input_data, filter_dims,
         filter_data, bias_data, output_dims, output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}
