/*
 * nn2mcu portable kernels: the legacy CMSIS-NN q7 functions (CMSIS 5.x, up to 5.9.0)
 * with the same names, signatures and results as a Cortex-M DSP build computes them.
 * Written for nn2mcu from the functions' documented semantics; plain C99 without
 * undefined behaviour. Use this header instead of CMSIS-NN's when building with these
 * kernels; generated code builds unchanged against either.
 */
#ifndef NN2MCU_ARM_NNFUNCTIONS_H
#define NN2MCU_ARM_NNFUNCTIONS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int8_t q7_t;
typedef int16_t q15_t;
typedef int32_t q31_t;

typedef enum {
    ARM_MATH_SUCCESS = 0,
    ARM_MATH_ARGUMENT_ERROR = -1,
    ARM_MATH_LENGTH_ERROR = -2,
    ARM_MATH_SIZE_MISMATCH = -3
} arm_status;

arm_status arm_convolve_HWC_q7_basic(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                     const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                     const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                     const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                     const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB);

arm_status arm_convolve_HWC_q7_fast(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                    const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                    const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                    const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB);

arm_status arm_convolve_HWC_q7_RGB(const q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                                   const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel,
                                   const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                   const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
                                   const uint16_t dim_im_out, q15_t *bufferA, q7_t *bufferB);

arm_status arm_convolve_HWC_q7_basic_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB);

arm_status arm_convolve_HWC_q7_fast_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB);

arm_status arm_convolve_1x1_HWC_q7_fast_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB);

arm_status arm_depthwise_separable_conv_HWC_q7(const q7_t *Im_in, const uint16_t dim_im_in,
                                               const uint16_t ch_im_in, const q7_t *wt,
                                               const uint16_t ch_im_out, const uint16_t dim_kernel,
                                               const uint16_t padding, const uint16_t stride, const q7_t *bias,
                                               const uint16_t bias_shift, const uint16_t out_shift,
                                               q7_t *Im_out, const uint16_t dim_im_out, q15_t *bufferA,
                                               q7_t *bufferB);

arm_status arm_depthwise_separable_conv_HWC_q7_nonsquare(
    const q7_t *Im_in, const uint16_t dim_im_in_x, const uint16_t dim_im_in_y, const uint16_t ch_im_in,
    const q7_t *wt, const uint16_t ch_im_out, const uint16_t dim_kernel_x, const uint16_t dim_kernel_y,
    const uint16_t padding_x, const uint16_t padding_y, const uint16_t stride_x, const uint16_t stride_y,
    const q7_t *bias, const uint16_t bias_shift, const uint16_t out_shift, q7_t *Im_out,
    const uint16_t dim_im_out_x, const uint16_t dim_im_out_y, q15_t *bufferA, q7_t *bufferB);

arm_status arm_fully_connected_q7(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                  const uint16_t num_of_rows, const uint16_t bias_shift,
                                  const uint16_t out_shift, const q7_t *bias, q7_t *pOut, q15_t *vec_buffer);

arm_status arm_fully_connected_q7_opt(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                      const uint16_t num_of_rows, const uint16_t bias_shift,
                                      const uint16_t out_shift, const q7_t *bias, q7_t *pOut,
                                      q15_t *vec_buffer);

void arm_relu_q7(q7_t *data, uint16_t size);

void arm_maxpool_q7_HWC(q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                        const uint16_t dim_kernel, const uint16_t padding, const uint16_t stride,
                        const uint16_t dim_im_out, q7_t *bufferA, q7_t *Im_out);

void arm_avepool_q7_HWC(q7_t *Im_in, const uint16_t dim_im_in, const uint16_t ch_im_in,
                        const uint16_t dim_kernel, const uint16_t padding, const uint16_t stride,
                        const uint16_t dim_im_out, q7_t *bufferA, q7_t *Im_out);

void arm_softmax_q7(const q7_t *vec_in, const uint16_t dim_vec, q7_t *p_out);

#ifdef __cplusplus
}
#endif

#endif /* NN2MCU_ARM_NNFUNCTIONS_H */
