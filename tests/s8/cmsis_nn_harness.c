/*
 * Runs CMSIS-NN's s8 kernels (a real CMSIS-NN tree, for tests/s8/test_kernels_vs_cmsis_nn.py)
 * on cases read from stdin and writes the status and output bytes to stdout (given two
 * arguments, from and to those files: the Cortex-M build under QEMU, over semihosting).
 * Case: 19 int32 (kind, n, h, w, c, out_h, out_w, out_c, k_h, k_w, stride_y, stride_x,
 * pad_y, pad_x, input_offset, output_offset, act_min, act_max, ch_mult (depthwise; 0 is 1)), the input
 * (n*h*w*c int8), the weights (int8; count by kind), out_c int32 biases, multipliers and
 * shifts. Kinds: 0 conv wrapper, 1 depthwise wrapper, 2 fully connected (per tensor),
 * 3 fully connected per channel, 4 max pool, 5 average pool, 6 softmax (rows n, row size c,
 * the first multiplier and shift, diff_min in the input_offset field), 7 element-wise add (the
 * second input in place of the weights; 3 multipliers and shifts: first input, second input,
 * output; the second input's offset in the pad_y field, the left shift in the k_h field);
 * with nn2mcu's portable kernels only, 8: nn2mcu_fully_connected_s8 (one vector; the weights
 * in its four-row blocks; whether the requantization takes one rounding in the ch_mult
 * field; no input offset).
 * Built with HARNESS_OVERLAY, two more int32 follow the header: a lead and which input
 * (0, or 1 for the add's second): the output buffer starts lead bytes before that input in
 * one allocation, as nn2mcu's memory plan lays an output over an input that dies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm_nnfunctions.h"

static void *read_exactly(size_t size)
{
    void *data = malloc(size > 0 ? size : 1);
    if (size > 0 && fread(data, 1, size, stdin) != size) {
        exit(3);
    }
    return data;
}

int main(int argc, char **argv)
{
    if (argc == 3 && (freopen(argv[1], "rb", stdin) == NULL || freopen(argv[2], "wb", stdout) == NULL)) {
        return 4;
    }
    int32_t h[19];
    while (fread(h, sizeof h, 1, stdin) == 1) {
        int32_t kind = h[0];
#ifdef HARNESS_OVERLAY
        int32_t overlay[2];
        if (fread(overlay, sizeof overlay, 1, stdin) != 1) {
            exit(3);
        }
#endif
        cmsis_nn_dims input = {h[1], h[2], h[3], h[4]};
        cmsis_nn_dims output = {h[1], h[5], h[6], h[7]};
        int32_t out_c = h[7];
        size_t weights = 0;
        cmsis_nn_dims filter = {0, h[8], h[9], 0};
        if (kind == 0) {
            filter = (cmsis_nn_dims){out_c, h[8], h[9], h[4]};
            weights = (size_t)out_c * h[8] * h[9] * h[4];
        } else if (kind == 1) {
            filter = (cmsis_nn_dims){1, h[8], h[9], out_c};
            weights = (size_t)h[8] * h[9] * out_c;
        } else if (kind == 2 || kind == 3 || kind == 8) {
            int32_t depth = h[2] * h[3] * h[4];
            filter = (cmsis_nn_dims){depth, 1, 1, out_c};
            weights = (size_t)depth * out_c;
            output = (cmsis_nn_dims){h[1], 1, 1, out_c};
        } else if (kind == 7) {
            weights = (size_t)h[1] * h[2] * h[3] * h[4];
            output = input;
        }
        size_t in_size = (size_t)h[1] * h[2] * h[3] * h[4];
        int8_t *in = read_exactly(in_size);
        int8_t *w = read_exactly(weights);
        int32_t *bias = read_exactly((size_t)out_c * 4);
        int32_t *mult = read_exactly((size_t)out_c * 4);
        int32_t *shift = read_exactly((size_t)out_c * 4);
        size_t out_size = (size_t)output.n * output.h * output.w * output.c;
        int8_t *out = calloc(out_size > 0 ? out_size : 1, 1);
        int8_t *shared = NULL;
        int in_owned = 1, w_owned = 1;
#ifdef HARNESS_OVERLAY
        {
            const size_t lead = (size_t)overlay[0], under = overlay[1] == 1 ? weights : in_size;
            const size_t span = lead + under > out_size ? lead + under : out_size;
            shared = calloc(span > 0 ? span : 1, 1);
            memcpy(shared + lead, overlay[1] == 1 ? w : in, under);
            if (overlay[1] == 1) {
                free(w);
                w = shared + lead;
                w_owned = 0;
            } else {
                free(in);
                in = shared + lead;
                in_owned = 0;
            }
            free(out);
            out = shared;
        }
#endif
        cmsis_nn_activation act = {h[16], h[17]};
        cmsis_nn_tile stride = {h[11], h[10]}, pad = {h[13], h[12]}, dilation = {1, 1};
        cmsis_nn_per_channel_quant_params per_channel = {mult, shift};
        cmsis_nn_dims bias_dims = {1, 1, 1, out_c};
        cmsis_nn_context ctx = {NULL, 0};
        arm_cmsis_nn_status status = ARM_CMSIS_NN_ARG_ERROR;
        if (kind == 0) {
            cmsis_nn_conv_params params = {h[14], h[15], stride, pad, dilation, act};
            ctx.size = arm_convolve_wrapper_s8_get_buffer_size(&params, &input, &filter, &output);
#ifdef HARNESS_CONV_BUFFER_DIVISOR /* a smaller buffer than asked: the kernels' other paths */
            ctx.size /= HARNESS_CONV_BUFFER_DIVISOR;
#endif
            ctx.buf = malloc(ctx.size > 0 ? (size_t)ctx.size : 1);
            status = arm_convolve_wrapper_s8(&ctx, &params, &per_channel, &input, in, &filter, w, &bias_dims, bias,
                                             &output, out);
        } else if (kind == 1) {
            cmsis_nn_dw_conv_params params = {h[14], h[15], h[18] > 0 ? h[18] : 1, stride, pad, dilation, act};
            ctx.size = arm_depthwise_conv_wrapper_s8_get_buffer_size(&params, &input, &filter, &output);
#ifdef HARNESS_CONV_BUFFER_DIVISOR
            ctx.size /= HARNESS_CONV_BUFFER_DIVISOR;
#endif
            ctx.buf = malloc(ctx.size > 0 ? (size_t)ctx.size : 1);
            if (params.ch_mult == 1) {
                status = arm_depthwise_conv_wrapper_s8(&ctx, &params, &per_channel, &input, in, &filter, w,
                                                       &bias_dims, bias, &output, out);
            } else { /* what the wrapper calls for other multipliers; nn2mcu calls it directly */
                status = arm_depthwise_conv_s8(&ctx, &params, &per_channel, &input, in, &filter, w, &bias_dims, bias,
                                               &output, out);
            }
        } else if (kind == 2 || kind == 3) {
            cmsis_nn_fc_params params = {h[14], 0, h[15], act};
            cmsis_nn_dims vector = {h[1], 1, 1, filter.n};
            ctx.size = arm_fully_connected_s8_get_buffer_size(&filter);
            ctx.buf = malloc(ctx.size > 0 ? (size_t)ctx.size : 1);
            if (kind == 2) {
                cmsis_nn_per_tensor_quant_params tensor = {mult[0], shift[0]};
                status = arm_fully_connected_s8(&ctx, &params, &tensor, &vector, in, &filter, w, &bias_dims, bias,
                                                &output, out);
            } else {
                status = arm_fully_connected_per_channel_s8(&ctx, &params, &per_channel, &vector, in, &filter, w,
                                                            &bias_dims, bias, &output, out);
            }
#ifdef NN2MCU_S8_ARM_NNFUNCTIONS_H /* nn2mcu's own entry point: the portable kernels only */
        } else if (kind == 8) {
            nn2mcu_fc_s8_args args = {in, out, w, bias, mult, shift, filter.n, out_c, h[15], h[16], h[17], h[18]};
            status = nn2mcu_fully_connected_s8(&args);
#endif
        } else if (kind == 7) {
            status = arm_elementwise_add_s8(in, w, h[14], mult[0], shift[0], h[12], mult[1], shift[1], h[8], out,
                                            h[15], mult[2], shift[2], h[16], h[17], (int32_t)in_size);
        } else if (kind == 6) {
            arm_softmax_s8(in, h[1], h[4], mult[0], shift[0], h[14], out);
            status = ARM_CMSIS_NN_SUCCESS;
        } else {
            cmsis_nn_pool_params params = {stride, pad, act};
            cmsis_nn_dims window = {1, h[8], h[9], 1};
            if (kind == 4) {
                status = arm_max_pool_s8(&ctx, &params, &input, in, &window, &output, out);
            } else {
                ctx.size = arm_avgpool_s8_get_buffer_size(output.w, input.c);
                ctx.buf = malloc(ctx.size > 0 ? (size_t)ctx.size : 1);
                status = arm_avgpool_s8(&ctx, &params, &input, in, &window, &output, out);
            }
        }
        int32_t code = (int32_t)status;
        fwrite(&code, sizeof code, 1, stdout);
        fwrite(out, 1, out_size, stdout);
        free(ctx.buf);
        if (shared == NULL) {
            free(out);
        }
        if (in_owned) {
            free(in);
        }
        if (w_owned) {
            free(w);
        }
        free(shared); /* out, and the input it lies over */
        free(bias);
        free(mult);
        free(shift);
    }
    return 0;
}
