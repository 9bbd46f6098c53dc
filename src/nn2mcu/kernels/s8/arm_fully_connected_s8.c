/*
 * nn2mcu portable kernels: arm_fully_connected_s8 (one multiplier and shift) and
 * arm_fully_connected_per_channel_s8 (one per output). The filter is rows x depth
 * (filter_dims->n = depth, filter_dims->c = rows); per row: bias + sum of
 * (input + input_offset) * (filter + filter_offset), requantized, plus output_offset,
 * clamped. No scratch buffer is needed.
 *
 * Without offsets (nn2mcu's generated code folds the input offset into the bias: the sums
 * are the same modulo 2^32) four rows go at a time: each word of the input is unpacked once
 * into two pairs of int16 and meets four rows' words by dual 16-bit MACs (SMLAD on a core
 * with the DSP extension), the sums modulo 2^32 as CMSIS-NN's int32 sums.
 */
#define NN2MCU_DOT_1X4 /* this file calls nn2mcu_dot_1x4 (nn2mcu_simd.h) */

#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"
#include "nn2mcu_simd.h"

#include <stddef.h>

/* Rows without offsets, four at a time (the last rows of a count not divisible by four
   repeat the last row; their sums are not stored). */
static void rows_without_offsets(const cmsis_nn_fc_params *params, const int32_t *multiplier, const int32_t *shift,
                                 int per_channel, const int8_t *vector, int32_t depth, const int8_t *filter,
                                 const int32_t *bias, int32_t count, int8_t *output)
{
    for (int32_t r = 0; r < count; r += 4) {
        const int32_t last = count - 1;
        const int8_t *w[4];
        uint32_t acc[4];
        for (int32_t k = 0; k < 4; k++) {
            const int32_t row = r + k < count ? r + k : last;
            w[k] = filter + (size_t)row * (size_t)depth;
            acc[k] = (uint32_t)(bias != NULL ? bias[row] : 0);
        }
        nn2mcu_dot_1x4(vector, w[0], w[1], w[2], w[3], depth, acc);
        for (int32_t k = 0; k < 4 && r + k < count; k++) {
            const int32_t q = per_channel ? r + k : 0;
            output[r + k] = nn2mcu_s8_output(nn2mcu_wrap32(acc[k]), multiplier[q], shift[q], params->output_offset,
                                             params->activation.min, params->activation.max);
        }
    }
}

static void rows(const cmsis_nn_fc_params *params, const int32_t *multiplier, const int32_t *shift, int per_channel,
                 const cmsis_nn_dims *input_dims, const int8_t *input, const cmsis_nn_dims *filter_dims,
                 const int8_t *filter, const int32_t *bias, const cmsis_nn_dims *output_dims, int8_t *output)
{
    const int32_t depth = filter_dims->n, count = output_dims->c;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *vector = input + (size_t)n * (size_t)depth;
        if (params->input_offset == 0 && params->filter_offset == 0) {
            rows_without_offsets(params, multiplier, shift, per_channel, vector, depth, filter, bias, count,
                                 output + (size_t)n * (size_t)count);
            continue;
        }
        for (int32_t r = 0; r < count; r++) {
            const int8_t *row = filter + (size_t)r * (size_t)depth;
            int64_t sum = bias != NULL ? bias[r] : 0;
            for (int32_t i = 0; i < depth; i++) {
                sum += ((int32_t)vector[i] + params->input_offset) * ((int32_t)row[i] + params->filter_offset);
            }
            int32_t k = per_channel ? r : 0;
            output[(size_t)n * (size_t)count + (size_t)r] = nn2mcu_s8_output(nn2mcu_wrap32(sum), multiplier[k], shift[k],
                                                             params->output_offset, params->activation.min,
                                                             params->activation.max);
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
