/*
 * Prints the get_buffer_size of nn2mcu's portable convolution (kind 0) or depthwise
 * convolution (kind 1, multiplier 1) for each line of stdin: kind kernel_h kernel_w
 * stride_h stride_w pad_top pad_left ch_in ch_out input_offset, the output 8 x 8 (for
 * tests/s8/test_portable_kernels.py, against the scratch nn2mcu's memory plan gives).
 */
#include <stdio.h>

#include "arm_nnfunctions.h"

int main(void)
{
    int kind, kh, kw, sy, sx, py, px, ch_in, ch_out, offset;
    while (scanf("%d %d %d %d %d %d %d %d %d %d", &kind, &kh, &kw, &sy, &sx, &py, &px, &ch_in, &ch_out,
                 &offset) == 10) {
        cmsis_nn_dims input = {1, 16, 16, ch_in}, filter = {ch_out, kh, kw, ch_in}, output = {1, 8, 8, ch_out};
        if (kind == 0) {
            cmsis_nn_conv_params params = {offset, 0, {sx, sy}, {px, py}, {1, 1}, {-128, 127}};
            printf("%d\n", (int)arm_convolve_wrapper_s8_get_buffer_size(&params, &input, &filter, &output));
        } else {
            cmsis_nn_dw_conv_params params = {offset, 0, 1, {sx, sy}, {px, py}, {1, 1}, {-128, 127}};
            filter = (cmsis_nn_dims){1, kh, kw, ch_in};
            output.c = ch_in;
            printf("%d\n", (int)arm_depthwise_conv_wrapper_s8_get_buffer_size(&params, &input, &filter, &output));
        }
    }
    return 0;
}
