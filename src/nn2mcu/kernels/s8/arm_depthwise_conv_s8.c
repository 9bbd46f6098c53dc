/*
 * nn2mcu portable kernels: arm_depthwise_conv_s8, the generic depthwise convolution that
 * arm_depthwise_conv_wrapper_s8 calls for a channel multiplier other than 1 (dilation 1).
 * Output channel c * ch_mult + m filters input channel c (filter 1 x KH x KW x C * ch_mult):
 * bias + sum over the in-bounds window of (input + input_offset) * filter, requantized
 * per output channel, plus output_offset, clamped; one output at a time.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"

#include <stddef.h>

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx, const cmsis_nn_dw_conv_params *params,
                                          const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                                          const int8_t *input, const cmsis_nn_dims *filter, const int8_t *weights,
                                          const cmsis_nn_dims *bias_dims, const int32_t *bias,
                                          const cmsis_nn_dims *out, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    if (params->ch_mult < 1 || params->dilation.w != 1 || params->dilation.h != 1 ||
        in->c * params->ch_mult != out->c) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t ch = in->c, mult = params->ch_mult, out_ch = out->c, kh = filter->h, kw = filter->w;
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)ch;
        for (int32_t oy = 0; oy < out->h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)out_ch;
                for (int32_t o = 0; o < out_ch; o++) {
                    const int32_t c = o / mult;
                    uint32_t acc = (uint32_t)(bias != NULL ? bias[o] : 0);
                    for (int32_t ky = 0; ky < kh; ky++) {
                        const int32_t y = y0 + ky;
                        if (y < 0 || y >= in->h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < kw; kx++) {
                            const int32_t x = x0 + kx;
                            if (x < 0 || x >= in->w) {
                                continue;
                            }
                            const int32_t value = (int32_t)image[((size_t)y * (size_t)in->w + (size_t)x) * (size_t)ch + (size_t)c] + params->input_offset;
                            acc += (uint32_t)(value * weights[((size_t)ky * (size_t)kw + (size_t)kx) * (size_t)out_ch + (size_t)o]);
                        }
                    }
                    pixel_out[o] = nn2mcu_s8_output(nn2mcu_wrap32(acc), quant->multiplier[o], quant->shift[o],
                                                    params->output_offset, params->activation.min,
                                                    params->activation.max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
