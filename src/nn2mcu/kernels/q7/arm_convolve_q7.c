/*
 * nn2mcu portable kernels: the legacy q7 convolutions (basic, fast, RGB, their
 * non-square forms, 1x1) and depthwise convolutions, HWC activations.
 *
 * out[oy][ox][o] = SSAT8(wrap32((bias[o] << bias_shift) + NN_ROUND(out_shift)
 *                  + sum over ky, kx, i of in[oy*stride_y - pad_y + ky][ox*stride_x - pad_x + kx][i]
 *                  * wt[o][ky][kx][i]) >> out_shift); positions outside the image read 0.
 * Depthwise: one filter per channel, wt[ky][kx][c]. All variants compute the same
 * bytes; they differ only in the constraints they check, which are kept here so that
 * code which builds against CMSIS-NN behaves the same against these kernels.
 * bufferA holds two q15 columns (2 * ch_in * k_x * k_y values) as in CMSIS-NN: the
 * convolutions compute two output pixels and two channels at a time from it with 16-bit
 * dual multiply-accumulates (nn2mcu_simd.h); without it (NULL) and for depthwise filters
 * they follow the definition directly. bufferB is not used.
 */
#define NN2MCU_DOT_2X2 /* this file calls nn2mcu_dot_2x2 (nn2mcu_simd.h) */

#include "arm_nnfunctions.h"
#include "nn2mcu_q7_arith.h"
#include "nn2mcu_simd.h"

#include <string.h>

/* One output pixel by the definition: the reference path, used for depthwise filters and
   when no bufferA is given. */
static void convolve_direct(const q7_t *in, int in_x, int in_y, int ch_in, const q7_t *wt, int ch_out,
                            int k_x, int k_y, int pad_x, int pad_y, int stride_x, int stride_y,
                            const q7_t *bias, uint16_t bias_shift, uint16_t out_shift, q7_t *out, int ox,
                            int oy, int depthwise)
{
    for (int o = 0; o < ch_out; o++) {
        uint32_t sum = nn2mcu_q7_start32(bias[o], bias_shift, out_shift);
        for (int ky = 0; ky < k_y; ky++) {
            int iy = oy * stride_y - pad_y + ky;
            if (iy < 0 || iy >= in_y) {
                continue;
            }
            for (int kx = 0; kx < k_x; kx++) {
                int ix = ox * stride_x - pad_x + kx;
                if (ix < 0 || ix >= in_x) {
                    continue;
                }
                const q7_t *pixel = in + ((long)iy * in_x + ix) * ch_in;
                if (depthwise) {
                    sum += (uint32_t)((int32_t)pixel[o] * wt[((long)ky * k_x + kx) * ch_in + o]);
                } else {
                    const q7_t *filter = wt + (((long)o * k_y + ky) * k_x + kx) * ch_in;
                    for (int i = 0; i < ch_in; i++) {
                        sum += (uint32_t)((int32_t)pixel[i] * filter[i]);
                    }
                }
            }
        }
        out[o] = nn2mcu_q7_finish32(sum, out_shift);
    }
}

/* The receptive field of output pixel (ox, oy) as a q15 column of k_y * k_x * ch_in values
   (zeros where the window leaves the image). Within each complete group of 4 the values
   are stored in the order 0, 2, 1, 3, the order in which nn2mcu_sxtb16 and
   nn2mcu_sxtb16_ror8 unpack 4 weight bytes; the last length % 4 values stay in order. */
static void im2col(const q7_t *in, int in_x, int in_y, int ch_in, int k_x, int k_y, int pad_x, int pad_y,
                   int stride_x, int stride_y, int ox, int oy, int16_t *col)
{
    const int grouped = (k_y * k_x * ch_in) & ~3;
    int j = 0;
    for (int ky = 0; ky < k_y; ky++) {
        int iy = oy * stride_y - pad_y + ky;
        for (int kx = 0; kx < k_x; kx++) {
            int ix = ox * stride_x - pad_x + kx;
            int inside = iy >= 0 && iy < in_y && ix >= 0 && ix < in_x;
            const q7_t *pixel = inside ? in + ((long)iy * in_x + ix) * ch_in : in;
            if (ch_in % 4 == 0) { /* whole groups: unpack 4 bytes at once */
                if (!inside) {
                    memset(col + j, 0, (size_t)ch_in * sizeof col[0]);
                    j += ch_in;
                    continue;
                }
                for (int c = 0; c < ch_in; c += 4, j += 4) {
                    uint32_t word = nn2mcu_load32(pixel + c);
                    nn2mcu_store32(col + j, nn2mcu_sxtb16(word));
                    nn2mcu_store32(col + j + 2, nn2mcu_sxtb16_ror8(word));
                }
                continue;
            }
            for (int c = 0; c < ch_in; c++, j++) {
                col[j] = (int16_t)(inside ? pixel[c] : 0);
            }
        }
    }
    if (ch_in % 4 != 0) { /* natural order so far: swap the middle two of each group */
        for (int g = 0; g < grouped; g += 4) {
            int16_t second = col[g + 1];
            col[g + 1] = col[g + 2];
            col[g + 2] = second;
        }
    }
}

/* Output pixels a and b (b may be NULL) from their columns, two channels at a time. */
static void columns_to_pixels(const int16_t *col_a, const int16_t *col_b, int length, const q7_t *wt,
                              int ch_out, const q7_t *bias, uint16_t bias_shift, uint16_t out_shift,
                              q7_t *out_a, q7_t *out_b)
{
    const int16_t *second = col_b != NULL ? col_b : col_a;
    int o = 0;
    for (; o + 1 < ch_out; o += 2) {
        uint32_t acc[4];
        acc[0] = acc[1] = nn2mcu_q7_start32(bias[o], bias_shift, out_shift);
        acc[2] = acc[3] = nn2mcu_q7_start32(bias[o + 1], bias_shift, out_shift);
        nn2mcu_dot_2x2(col_a, second, wt + (long)o * length, wt + (long)(o + 1) * length, length, acc);
        out_a[o] = nn2mcu_q7_finish32(acc[0], out_shift);
        out_a[o + 1] = nn2mcu_q7_finish32(acc[2], out_shift);
        if (out_b != NULL) {
            out_b[o] = nn2mcu_q7_finish32(acc[1], out_shift);
            out_b[o + 1] = nn2mcu_q7_finish32(acc[3], out_shift);
        }
    }
    if (o < ch_out) { /* an odd channel count: the last filter twice */
        uint32_t acc[4];
        acc[0] = acc[1] = acc[2] = acc[3] = nn2mcu_q7_start32(bias[o], bias_shift, out_shift);
        const q7_t *filter = wt + (long)o * length;
        nn2mcu_dot_2x2(col_a, second, filter, filter, length, acc);
        out_a[o] = nn2mcu_q7_finish32(acc[0], out_shift);
        if (out_b != NULL) {
            out_b[o] = nn2mcu_q7_finish32(acc[1], out_shift);
        }
    }
}

/* All output pixels: two at a time through q15 columns in buffer (2 * k_y * k_x * ch_in
   values, the bufferA CMSIS-NN documents), or one at a time by the definition. */
static void convolve(const q7_t *in, int in_x, int in_y, int ch_in, const q7_t *wt, int ch_out, int k_x, int k_y,
                     int pad_x, int pad_y, int stride_x, int stride_y, const q7_t *bias, uint16_t bias_shift,
                     uint16_t out_shift, q7_t *out, int out_x, int out_y, int depthwise, q15_t *buffer)
{
    const long pixels = (long)out_x * out_y;
    if (depthwise || buffer == NULL) {
        for (long p = 0; p < pixels; p++) {
            convolve_direct(in, in_x, in_y, ch_in, wt, ch_out, k_x, k_y, pad_x, pad_y, stride_x, stride_y,
                            bias, bias_shift, out_shift, out + p * ch_out, (int)(p % out_x),
                            (int)(p / out_x), depthwise);
        }
        return;
    }
    const int length = k_y * k_x * ch_in;
    int16_t *col_a = (int16_t *)buffer;
    int16_t *col_b = col_a + length;
    long p = 0;
    for (; p + 1 < pixels; p += 2) {
        im2col(in, in_x, in_y, ch_in, k_x, k_y, pad_x, pad_y, stride_x, stride_y, (int)(p % out_x),
               (int)(p / out_x), col_a);
        im2col(in, in_x, in_y, ch_in, k_x, k_y, pad_x, pad_y, stride_x, stride_y, (int)((p + 1) % out_x),
               (int)((p + 1) / out_x), col_b);
        columns_to_pixels(col_a, col_b, length, wt, ch_out, bias, bias_shift, out_shift, out + p * ch_out,
                          out + (p + 1) * ch_out);
    }
    if (p < pixels) {
        im2col(in, in_x, in_y, ch_in, k_x, k_y, pad_x, pad_y, stride_x, stride_y, (int)(p % out_x),
               (int)(p / out_x), col_a);
        columns_to_pixels(col_a, NULL, length, wt, ch_out, bias, bias_shift, out_shift, out + p * ch_out, NULL);
    }
}

arm_status arm_convolve_HWC_q7_basic(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                     const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                     const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                     const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                     const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB)
{
    (void)bufferB;
    convolve(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel, padding, padding,
             stride, stride, bias, bias_shift, out_shift, Im_out, dim_im_out, dim_im_out, 0, bufferA);
    return ARM_MATH_SUCCESS;
}

arm_status arm_convolve_HWC_q7_fast(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                    const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                    const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                    const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB)
{
    if (ch_im_in % 4 != 0 || ch_im_out % 2 != 0) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    return arm_convolve_HWC_q7_basic(Im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, padding, stride,
                                     bias, bias_shift, out_shift, Im_out, dim_im_out, bufferA, bufferB);
}

arm_status arm_convolve_HWC_q7_RGB(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                   const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                   const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                   const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                   const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB)
{
    if (ch_im_in != 3) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    return arm_convolve_HWC_q7_basic(Im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, padding, stride,
                                     bias, bias_shift, out_shift, Im_out, dim_im_out, bufferA, bufferB);
}

arm_status arm_convolve_HWC_q7_basic_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB)
{
    (void)bufferB;
    convolve(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, dim_kernel_x, dim_kernel_y, padding_x,
             padding_y, stride_x, stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x, dim_im_out_y, 0,
             bufferA);
    return ARM_MATH_SUCCESS;
}

arm_status arm_convolve_HWC_q7_fast_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB)
{
    if (ch_im_in % 4 != 0 || ch_im_out % 2 != 0) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    return arm_convolve_HWC_q7_basic_nonsquare(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out,
                                               dim_kernel_x, dim_kernel_y, padding_x, padding_y, stride_x,
                                               stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x,
                                               dim_im_out_y, bufferA, bufferB);
}

arm_status arm_convolve_1x1_HWC_q7_fast_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB)
{
    if (ch_im_in % 4 != 0 || ch_im_out % 2 != 0 || dim_kernel_x != 1 || dim_kernel_y != 1 || padding_x != 0 ||
        padding_y != 0 || stride_x != 1 || stride_y != 1) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    return arm_convolve_HWC_q7_basic_nonsquare(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out,
                                               dim_kernel_x, dim_kernel_y, padding_x, padding_y, stride_x,
                                               stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x,
                                               dim_im_out_y, bufferA, bufferB);
}

arm_status arm_depthwise_separable_conv_HWC_q7(const q7_t *Im_in, const uint16_t dim_im_in,
                                               const uint16_t ch_im_in, const q7_t *wt,
                                               const uint16_t ch_im_out, const uint16_t dim_kernel,
                                               const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                               const uint16_t bias_shift, const uint16_t out_shift,
                                               q7_t *Im_out, const uint16_t dim_im_out, q15_t *bufferA,
                                               q7_t *bufferB)
{
    (void)bufferA;
    (void)bufferB;
    if (ch_im_in != ch_im_out) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    convolve(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel, padding, padding,
             stride, stride, bias, bias_shift, out_shift, Im_out, dim_im_out, dim_im_out, 1, bufferA);
    return ARM_MATH_SUCCESS;
}

arm_status arm_depthwise_separable_conv_HWC_q7_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB)
{
    (void)bufferA;
    (void)bufferB;
    if (ch_im_in != ch_im_out) {
        return ARM_MATH_SIZE_MISMATCH;
    }
    convolve(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, dim_kernel_x, dim_kernel_y, padding_x,
             padding_y, stride_x, stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x, dim_im_out_y, 1, bufferA);
    return ARM_MATH_SUCCESS;
}
