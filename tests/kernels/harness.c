/*
 * Test harness for nn2mcu's portable q7 kernels: reads test cases from stdin, runs the
 * named kernel on exactly sized heap buffers (so AddressSanitizer sees any overrun),
 * and writes the status and the output bytes to stdout. Protocol: see
 * test_portable_kernels.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm_nnfunctions.h"

static int read_ints(int32_t *values, size_t count)
{
    return fread(values, sizeof(int32_t), count, stdin) == count;
}

static q7_t *read_bytes(int32_t count)
{
    q7_t *data = malloc(count > 0 ? (size_t)count : 1);
    if (count > 0 && fread(data, 1, (size_t)count, stdin) != (size_t)count) {
        exit(3);
    }
    return data;
}

int main(void)
{
    int32_t head[2 + 16 + 4];
    while (read_ints(head, sizeof head / sizeof head[0])) {
        int32_t kind = head[0], variant = head[1];
        const int32_t *d = head + 2;
        int32_t n_in = head[18], n_w = head[19], n_b = head[20], n_out = head[21];
        q7_t *in = read_bytes(n_in), *w = read_bytes(n_w), *b = read_bytes(n_b);
        q7_t *out = malloc(n_out > 0 ? (size_t)n_out : 1);
        q7_t *direct = malloc(n_out > 0 ? (size_t)n_out : 1);
        memset(out, 0, n_out > 0 ? (size_t)n_out : 1);
        memset(direct, 0, n_out > 0 ? (size_t)n_out : 1);
        int32_t status = 0;
        uint16_t in_x = d[0], in_y = d[1], ch_in = d[2], ch_out = d[3], k_x = d[4], k_y = d[5];
        uint16_t pad_x = d[6], pad_y = d[7], s_x = d[8], s_y = d[9], out_x = d[10], out_y = d[11];
        uint16_t bs = d[12], os = d[13], dim_vec = d[14], rows = d[15];
        switch (kind) {
        case 0: /* with an exactly sized bufferA (two q15 columns), then without: same bytes */
            for (int pass = 0; pass < 2; pass++) {
                q15_t *col = pass == 0 ? malloc(2 * (size_t)ch_in * k_x * k_y * sizeof(q15_t)) : NULL;
                q7_t *dst = pass == 0 ? out : direct;
                if (variant == 0)
                    status = arm_convolve_HWC_q7_basic(in, in_x, ch_in, w, ch_out, k_x, pad_x, s_x, b, bs, os, dst, out_x,
                                                       col, NULL);
                else if (variant == 1)
                    status = arm_convolve_HWC_q7_fast(in, in_x, ch_in, w, ch_out, k_x, pad_x, s_x, b, bs, os, dst, out_x,
                                                      col, NULL);
                else if (variant == 2)
                    status = arm_convolve_HWC_q7_RGB(in, in_x, ch_in, w, ch_out, k_x, pad_x, s_x, b, bs, os, dst, out_x,
                                                     col, NULL);
                else if (variant == 3)
                    status = arm_convolve_HWC_q7_basic_nonsquare(in, in_x, in_y, ch_in, w, ch_out, k_x, k_y, pad_x, pad_y,
                                                                 s_x, s_y, b, bs, os, dst, out_x, out_y, col, NULL);
                else if (variant == 4)
                    status = arm_convolve_HWC_q7_fast_nonsquare(in, in_x, in_y, ch_in, w, ch_out, k_x, k_y, pad_x, pad_y,
                                                                s_x, s_y, b, bs, os, dst, out_x, out_y, col, NULL);
                else
                    status = arm_convolve_1x1_HWC_q7_fast_nonsquare(in, in_x, in_y, ch_in, w, ch_out, k_x, k_y, pad_x,
                                                                    pad_y, s_x, s_y, b, bs, os, dst, out_x, out_y, col,
                                                                    NULL);
                free(col);
            }
            for (int32_t i = 0; i < n_out; i++) {
                if (out[i] != direct[i]) {
                    fprintf(stderr, "output %d: %d with bufferA, %d without\n", (int)i, out[i], direct[i]);
                    exit(4);
                }
            }
            break;
        case 1:
            if (variant == 0)
                status = arm_depthwise_separable_conv_HWC_q7(in, in_x, ch_in, w, ch_out, k_x, pad_x, s_x, b, bs, os,
                                                             out, out_x, NULL, NULL);
            else
                status = arm_depthwise_separable_conv_HWC_q7_nonsquare(in, in_x, in_y, ch_in, w, ch_out, k_x, k_y,
                                                                       pad_x, pad_y, s_x, s_y, b, bs, os, out, out_x,
                                                                       out_y, NULL, NULL);
            break;
        case 2:
            status = arm_fully_connected_q7(in, w, dim_vec, rows, bs, os, b, out, NULL);
            break;
        case 3:
            status = arm_fully_connected_q7_opt(in, w, dim_vec, rows, bs, os, b, out, NULL);
            break;
        case 4:
            for (int32_t i = 0; i < n_in; i++)
                out[i] = in[i];
            arm_relu_q7(out, (uint16_t)n_in);
            break;
        case 5:
            arm_maxpool_q7_HWC(in, in_x, ch_in, k_x, pad_x, s_x, out_x, NULL, out);
            break;
        case 6:
            arm_avepool_q7_HWC(in, in_x, ch_in, k_x, pad_x, s_x, out_x, NULL, out);
            break;
        default:
            arm_softmax_q7(in, (uint16_t)n_in, out);
            break;
        }
        fwrite(&status, sizeof status, 1, stdout);
        fwrite(out, 1, (size_t)n_out, stdout);
        free(in);
        free(w);
        free(b);
        free(out);
        free(direct);
    }
    return 0;
}
