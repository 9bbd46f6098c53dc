/*
 * nn2mcu portable kernels: arm_max_pool_s8 and arm_avgpool_s8, NHWC. Windows start at
 * out * stride - padding and are clipped to the image; the average divides the sum of the
 * in-bounds values by their count, rounding half away from zero. Both clamp to the
 * activation range; an empty window or a batch below 1 is an argument error. No scratch buffer is needed.
 * Max pooling over a multiple of 4 channels compares four byte lanes at once.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_simd.h"

#include <stddef.h>

/* Max pooling of 4 channels from c on, one window [y0, y1) x [x0, x1) */
static void max4(const int8_t *image, int32_t width, int32_t ch, int32_t c, int32_t y0, int32_t y1, int32_t x0,
                 int32_t x1, const cmsis_nn_activation act, int8_t *out)
{
    uint32_t best = 0x80808080u;
    for (int32_t y = y0; y < y1; y++) {
        const int8_t *pixel = image + ((size_t)y * (size_t)width + (size_t)x0) * (size_t)ch + c;
        for (int32_t x = x0; x < x1; x++, pixel += ch) {
            best = nn2mcu_max8x4(best, nn2mcu_load32(pixel));
        }
    }
    best = nn2mcu_max8x4(best, ((uint32_t)act.min & 0xFFu) * 0x01010101u); /* act.min >= -128 */
    nn2mcu_store32(out + c, best);
    if (act.max < 127) {
        for (int32_t k = 0; k < 4; k++) {
            out[c + k] = out[c + k] > act.max ? (int8_t)act.max : out[c + k];
        }
    }
}

static arm_cmsis_nn_status pool(const cmsis_nn_pool_params *params, const cmsis_nn_dims *in, const int8_t *input,
                                const cmsis_nn_dims *filter, const cmsis_nn_dims *out, int8_t *output, int average)
{
    const int32_t batches = in->n; /* read once: stores through output may alias *in */
    if (batches < 1) {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t ch = in->c;
    for (int32_t n = 0; n < batches; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)ch;
        for (int32_t oy = 0; oy < out->h; oy++) {
            int32_t y0 = oy * params->stride.h - params->padding.h, y1 = y0 + filter->h;
            y0 = y0 < 0 ? 0 : y0;
            y1 = y1 > in->h ? in->h : y1;
            for (int32_t ox = 0; ox < out->w; ox++) {
                int32_t x0 = ox * params->stride.w - params->padding.w, x1 = x0 + filter->w;
                x0 = x0 < 0 ? 0 : x0;
                x1 = x1 > in->w ? in->w : x1;
                if (y0 >= y1 || x0 >= x1) {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                const int32_t count = (y1 - y0) * (x1 - x0);
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch;
                int32_t c = 0;
                if (!average && params->activation.min >= -128 && params->activation.max >= -128) {
                    for (; c + 4 <= ch; c += 4) {
                        max4(image, in->w, ch, c, y0, y1, x0, x1, params->activation, pixel_out);
                    }
                }
                for (; c < ch; c++) {
                    int32_t best = -128, sum = 0;
                    for (int32_t y = y0; y < y1; y++) {
                        for (int32_t x = x0; x < x1; x++) {
                            int32_t v = image[((size_t)y * (size_t)in->w + (size_t)x) * (size_t)ch + (size_t)c];
                            best = v > best ? v : best;
                            sum += v;
                        }
                    }
                    int32_t value = best;
                    if (average) {
                        value = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    }
                    value = value < params->activation.min ? params->activation.min : value;
                    value = value > params->activation.max ? params->activation.max : value;
                    pixel_out[c] = (int8_t)value;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx, const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims, const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx;
    return pool(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 0);
}

arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx, const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims, const cmsis_nn_dims *output_dims,
                                   int8_t *output_data)
{
    (void)ctx;
    return pool(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1);
}

int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}
