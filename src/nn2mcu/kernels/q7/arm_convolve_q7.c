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
 * bufferA and bufferB are not used.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_q7_arith.h"

static void convolve(const q7_t *in, int in_x, int in_y, int ch_in, const q7_t *wt, int ch_out, int k_x, int k_y,
                     int pad_x, int pad_y, int stride_x, int stride_y, const q7_t *bias, uint16_t bias_shift,
                     uint16_t out_shift, q7_t *out, int out_x, int out_y, int depthwise)
{
    for (int oy = 0; oy < out_y; oy++) {
        for (int ox = 0; ox < out_x; ox++) {
            for (int o = 0; o < ch_out; o++) {
                int64_t sum = nn2mcu_q7_start(bias[o], bias_shift, out_shift);
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
                            sum += (int32_t)pixel[o] * wt[((long)ky * k_x + kx) * ch_in + o];
                        } else {
                            const q7_t *filter = wt + (((long)o * k_y + ky) * k_x + kx) * ch_in;
                            for (int i = 0; i < ch_in; i++) {
                                sum += (int32_t)pixel[i] * filter[i];
                            }
                        }
                    }
                }
                out[((long)oy * out_x + ox) * ch_out + o] = nn2mcu_q7_finish(sum, out_shift);
            }
        }
    }
}

arm_status arm_convolve_HWC_q7_basic(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                     const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                     const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                     const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                     const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB)
{
    (void)bufferA;
    (void)bufferB;
    convolve(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel, padding, padding,
             stride, stride, bias, bias_shift, out_shift, Im_out, dim_im_out, dim_im_out, 0);
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
    (void)bufferA;
    (void)bufferB;
    convolve(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, dim_kernel_x, dim_kernel_y, padding_x,
             padding_y, stride_x, stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x, dim_im_out_y, 0);
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
             stride, stride, bias, bias_shift, out_shift, Im_out, dim_im_out, dim_im_out, 1);
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
             padding_y, stride_x, stride_y, bias, bias_shift, out_shift, Im_out, dim_im_out_x, dim_im_out_y, 1);
    return ARM_MATH_SUCCESS;
}
