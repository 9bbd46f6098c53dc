/*
 * nn2mcu portable kernels: arm_relu_q7, arm_maxpool_q7_HWC, arm_avepool_q7_HWC and
 * arm_softmax_q7 (the CMSIS 5.9.0 formula).
 *
 * Pooling windows start at out * stride - padding and are clipped to the image.
 * Average pooling divides as a Cortex-M DSP build does: for each row, the sum over the
 * window's columns divided by their count (C division, truncating), then the sum of
 * those over the window's rows divided by the row count. With padding 0 (the only case
 * nn2mcu generates) the results equal the DSP build's; with padding > 0 the DSP build
 * reads columns it has already overwritten, which is not modelled. The input is left
 * intact and bufferA is not used.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_simd.h"

#include <string.h>

void arm_relu_q7(q7_t *data, uint16_t size)
{
    int i = 0;
    for (; i + 4 <= size; i += 4) { /* four bytes at a time: max(x, 0) */
        nn2mcu_store32(data + i, nn2mcu_max8x4(nn2mcu_load32(data + i), 0u));
    }
    for (; i < size; i++) {
        if (data[i] < 0) {
            data[i] = 0;
        }
    }
}

static int window_start(int out, int stride, int padding)
{
    int start = out * stride - padding;
    return start < 0 ? 0 : start;
}

static int window_end(int out, int stride, int padding, int kernel, int size)
{
    int end = out * stride - padding + kernel;
    return end > size ? size : end;
}

/* the window's maximum, all channels at once (channels are contiguous in HWC) */
static void max_window(const q7_t *in, int dim_in, int ch, int y0, int y1, int x0, int x1, q7_t *out)
{
    memcpy(out, in + ((long)y0 * dim_in + x0) * ch, (size_t)ch);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            const q7_t *pixel = in + ((long)y * dim_in + x) * ch;
            int c = 0;
            for (; c + 4 <= ch; c += 4) {
                nn2mcu_store32(out + c, nn2mcu_max8x4(nn2mcu_load32(pixel + c), nn2mcu_load32(out + c)));
            }
            for (; c < ch; c++) {
                out[c] = pixel[c] > out[c] ? pixel[c] : out[c];
            }
        }
    }
}

/* one channel's average as the DSP build computes it: per row, the sum over the window's
   columns divided by their count (truncating), then those summed and divided by the rows */
static q7_t average_window(const q7_t *in, int dim_in, int ch, int c, int y0, int y1, int x0, int x1)
{
    int column_sum = 0;
    for (int y = y0; y < y1; y++) {
        int row_sum = 0;
        for (int x = x0; x < x1; x++) {
            row_sum += in[((long)y * dim_in + x) * ch + c];
        }
        column_sum += row_sum / (x1 - x0);
    }
    return (q7_t)(column_sum / (y1 - y0));
}

static void pool(const q7_t *in, int dim_in, int ch, int kernel, int padding, int stride, int dim_out, q7_t *out,
                 int maximum)
{
    for (int oy = 0; oy < dim_out; oy++) {
        int y0 = window_start(oy, stride, padding), y1 = window_end(oy, stride, padding, kernel, dim_in);
        for (int ox = 0; ox < dim_out; ox++) {
            int x0 = window_start(ox, stride, padding), x1 = window_end(ox, stride, padding, kernel, dim_in);
            q7_t *pixel = out + ((long)oy * dim_out + ox) * ch;
            if (maximum) {
                max_window(in, dim_in, ch, y0, y1, x0, x1, pixel);
                continue;
            }
            for (int c = 0; c < ch; c++) {
                pixel[c] = average_window(in, dim_in, ch, c, y0, y1, x0, x1);
            }
        }
    }
}

void arm_maxpool_q7_HWC(q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                        const uint16_t dim_kernel, const uint16_t padding, const uint16_t stride,
                        const uint16_t dim_im_out, q7_t *bufferA, q7_t *Im_out)
{
    (void)bufferA;
    pool(Im_in, dim_im_in, ch_im_in, dim_kernel, padding, stride, dim_im_out, Im_out, 1);
}

void arm_avepool_q7_HWC(q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                        const uint16_t dim_kernel, const uint16_t padding, const uint16_t stride,
                        const uint16_t dim_im_out, q7_t *bufferA, q7_t *Im_out)
{
    (void)bufferA;
    pool(Im_in, dim_im_in, ch_im_in, dim_kernel, padding, stride, dim_im_out, Im_out, 0);
}

void arm_softmax_q7(const q7_t *vec_in, const uint16_t dim_vec, q7_t *p_out)
{
    int max = -128;
    for (uint16_t i = 0; i < dim_vec; i++) {
        if (vec_in[i] > max) {
            max = vec_in[i];
        }
    }
    int32_t sum = 0;
    for (uint16_t i = 0; i < dim_vec; i++) {
        int exponent = vec_in[i] - max + 8; /* saturated to 0..7 */
        exponent = exponent < 0 ? 0 : (exponent > 7 ? 7 : exponent);
        sum += (int32_t)1 << exponent;
    }
    int32_t base = ((int32_t)1 << 20) / sum;
    for (uint16_t i = 0; i < dim_vec; i++) {
        int shift = 5 + max - vec_in[i]; /* saturated to 0..31 */
        shift = shift > 31 ? 31 : shift;
        int32_t value = base >> shift;
        p_out[i] = (q7_t)(value > 127 ? 127 : value);
    }
}
