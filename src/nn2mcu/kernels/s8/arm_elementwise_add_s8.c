/*
 * nn2mcu portable kernels: arm_elementwise_add_s8. Per element: each input plus its offset,
 * times 2^left_shift, requantized with its multiplier and shift (shifts <= 0); the sum
 * requantized with the output's, plus the output offset, clamped to the activation range.
 * The same results as CMSIS-NN v7.0.0's plain-C and DSP paths; no undefined behaviour. Where
 * every multiplier and shift allow it, the one-rounding requantization (nn2mcu_s8_arith.h).
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"

#include <stddef.h>

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                           const int32_t input_1_offset, const int32_t input_1_mult,
                                           const int32_t input_1_shift, const int32_t input_2_offset,
                                           const int32_t input_2_mult, const int32_t input_2_shift,
                                           const int32_t left_shift, int8_t *output, const int32_t out_offset,
                                           const int32_t out_mult, const int32_t out_shift,
                                           const int32_t out_activation_min, const int32_t out_activation_max,
                                           const int32_t block_size)
{
    const int32_t multipliers[3] = {input_1_mult, input_2_mult, out_mult};
    const int32_t shifts[3] = {input_1_shift, input_2_shift, out_shift};
    int fast = left_shift >= 0 && left_shift <= 22 && nn2mcu_fast_channels(multipliers, shifts, 3) &&
               input_1_offset >= -256 && input_1_offset <= 256 && input_2_offset >= -256 && input_2_offset <= 256;
#ifdef NN2MCU_NO_FAST_OUTPUT /* benchmarks/mlperf_tiny.py --ablation */
    fast = 0;
#endif
    if (fast) {
        /* every requantization nn2mcu_requantize_fast's; (x + offset) * 2^left_shift fits in
           32 bits, and the two requantized inputs (each below 2^29) sum without overflow */
        for (int32_t i = 0; i < block_size; i++) {
            const int32_t a = nn2mcu_requantize_fast((input_1_vect[i] + input_1_offset) * (1 << left_shift),
                                                     input_1_mult, input_1_shift);
            const int32_t b = nn2mcu_requantize_fast((input_2_vect[i] + input_2_offset) * (1 << left_shift),
                                                     input_2_mult, input_2_shift);
            output[i] = nn2mcu_s8_output_fast(a + b, out_mult, out_shift, out_offset, out_activation_min,
                                              out_activation_max);
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
    const int64_t scale = (int64_t)1 << left_shift;
    for (int32_t i = 0; i < block_size; i++) {
        int32_t a = nn2mcu_wrap32(((int64_t)input_1_vect[i] + input_1_offset) * scale);
        int32_t b = nn2mcu_wrap32(((int64_t)input_2_vect[i] + input_2_offset) * scale);
        a = nn2mcu_requantize(a, input_1_mult, input_1_shift);
        b = nn2mcu_requantize(b, input_2_mult, input_2_shift);
        output[i] = nn2mcu_s8_output(nn2mcu_wrap32((int64_t)a + b), out_mult, out_shift, out_offset,
                                     out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
