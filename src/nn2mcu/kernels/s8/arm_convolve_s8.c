/*
 * nn2mcu portable kernels: arm_convolve_wrapper_s8 and arm_depthwise_conv_wrapper_s8
 * (dilation 1, channel multiplier 1), NHWC activations, OHWI filters (depthwise:
 * 1 x KH x KW x C). Per output: bias + sum over the in-bounds window of
 * (input + input_offset) * filter, requantized per output channel, plus output_offset,
 * clamped to the activation range. The scratch buffer is not needed: 0 bytes.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"

#include <stddef.h>

static arm_cmsis_nn_status convolve(const cmsis_nn_tile stride, const cmsis_nn_tile padding,
                                    const cmsis_nn_tile dilation, int32_t input_offset, int32_t output_offset,
                                    cmsis_nn_activation act, const cmsis_nn_per_channel_quant_params *quant,
                                    const cmsis_nn_dims *in, const int8_t *input, const cmsis_nn_dims *filter,
                                    const int8_t *weights, const int32_t *bias, const cmsis_nn_dims *out,
                                    int8_t *output, int depthwise)
{
    if (dilation.w != 1 || dilation.h != 1) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t kh = filter->h, kw = filter->w, ch_in = in->c, ch_out = out->c;
    if (depthwise && ch_in != ch_out) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * in->h * in->w * ch_in;
        for (int32_t oy = 0; oy < out->h; oy++) {
            for (int32_t ox = 0; ox < out->w; ox++) {
                int8_t *pixel_out = output + (((size_t)n * out->h + oy) * out->w + ox) * ch_out;
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
                            const int8_t *pixel = image + ((size_t)iy * in->w + ix) * ch_in;
                            if (depthwise) {
                                sum += ((int32_t)pixel[o] + input_offset) * weights[((size_t)ky * kw + kx) * ch_out + o];
                                continue;
                            }
                            const int8_t *w = weights + (((size_t)o * kh + ky) * kw + kx) * ch_in;
                            for (int32_t i = 0; i < ch_in; i++) {
                                sum += ((int32_t)pixel[i] + input_offset) * w[i];
                            }
                        }
                    }
                    pixel_out[o] = nn2mcu_s8_output(sum, quant->multiplier[o], quant->shift[o], output_offset,
                                                    act.min, act.max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    return convolve(conv_params->stride, conv_params->padding, conv_params->dilation, conv_params->input_offset,
                    conv_params->output_offset, conv_params->activation, quant_params, input_dims, input_data,
                    filter_dims, filter_data, bias_data, output_dims, output_data, 0);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
                                                  const cmsis_nn_per_channel_quant_params *quant_params,
                                                  const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                                  const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                                  const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                                  const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    if (dw_conv_params->ch_mult != 1) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    return convolve(dw_conv_params->stride, dw_conv_params->padding, dw_conv_params->dilation,
                    dw_conv_params->input_offset, dw_conv_params->output_offset, dw_conv_params->activation,
                    quant_params, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims,
                    output_data, 1);
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims)
{
    (void)dw_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}
