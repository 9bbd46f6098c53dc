/*
 * Calls nn2mcu's portable s8 kernels with arguments they do not support and exits non-zero,
 * naming the call, if one of them reports success: a grouped convolution (filter channels
 * fewer than input channels), with and without a scratch buffer, and pooling with a batch
 * of 0 or -1.
 */
#include <stdio.h>

#include "arm_nnfunctions.h"

static int expect_error(const char *what, arm_cmsis_nn_status status)
{
    if (status != ARM_CMSIS_NN_ARG_ERROR) {
        printf("%s: status %d, not ARM_CMSIS_NN_ARG_ERROR\n", what, (int)status);
        return 1;
    }
    return 0;
}

int main(void)
{
    static int8_t input[4 * 4 * 4], weights[2 * 3 * 3 * 2], output[4 * 4 * 2];
    static int16_t buffer[2 * 3 * 3 * 4 * 2];
    int32_t bias[2] = {0, 0}, multiplier[2] = {1 << 30, 1 << 30}, shift[2] = {0, 0};
    cmsis_nn_per_channel_quant_params quant = {multiplier, shift};
    cmsis_nn_tile one = {1, 1}, none = {0, 0};
    cmsis_nn_activation act = {-128, 127};
    cmsis_nn_conv_params conv = {0, 0, one, one, one, act};
    cmsis_nn_dims in = {1, 4, 4, 4}, grouped = {2, 3, 3, 2}, bias_dims = {1, 1, 1, 2}, out = {1, 4, 4, 2};
    cmsis_nn_context with_buffer = {buffer, (int32_t)sizeof buffer}, without = {NULL, 0};
    int failures = 0;
    failures += expect_error("grouped convolution with a buffer",
                             arm_convolve_wrapper_s8(&with_buffer, &conv, &quant, &in, input, &grouped, weights,
                                                     &bias_dims, bias, &out, output));
    failures += expect_error("grouped convolution without a buffer",
                             arm_convolve_wrapper_s8(&without, &conv, &quant, &in, input, &grouped, weights,
                                                     &bias_dims, bias, &out, output));
    cmsis_nn_pool_params pool = {one, none, act};
    cmsis_nn_dims window = {1, 2, 2, 1};
    for (int32_t batch = 0; batch >= -1; batch--) {
        cmsis_nn_dims pool_in = {batch, 4, 4, 4}, pool_out = {batch, 3, 3, 4};
        failures += expect_error(batch == 0 ? "max pool, batch 0" : "max pool, batch -1",
                                 arm_max_pool_s8(&without, &pool, &pool_in, input, &window, &pool_out, output));
        failures += expect_error(batch == 0 ? "average pool, batch 0" : "average pool, batch -1",
                                 arm_avgpool_s8(&without, &pool, &pool_in, input, &window, &pool_out, output));
    }
    return failures;
}
