/*
 * nn2mcu portable kernels: arm_convolve_wrapper_s8 and arm_depthwise_conv_wrapper_s8
 * (dilation 1, no groups: filter channels equal to input channels, else an argument
 * error; channel multiplier 1; for other multipliers nn2mcu's generated code calls
 * arm_depthwise_conv_s8, in its own file, as CMSIS-NN's wrapper would), NHWC activations,
 * OHWI filters (depthwise:
 * 1 x KH x KW x C). Per output: bias + sum over the in-bounds window of
 * (input + input_offset) * filter, requantized per output channel, plus output_offset,
 * clamped to the activation range.
 *
 * With a scratch buffer of at least two int16 columns (what *_get_buffer_size asks, the
 * larger of CMSIS-NN's generic and DSP sizes) a convolution takes the fast path: two
 * output pixels at a time, each receptive field copied once as int16 (input + offset, 0 in
 * the padding), then two filters against both columns with dual 16-bit MACs (SMLAD on a
 * core with the DSP extension). Sums modulo 2^32 do not depend on their order, so both
 * paths give the same bytes. Depthwise convolutions compute each output pixel's window
 * once for blocks of channels.
 */
#define NN2MCU_DOT_2X2 /* this file calls nn2mcu_dot_2x2 and nn2mcu_dot_1x4 (nn2mcu_simd.h) */
#define NN2MCU_DOT_1X4

#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"
#include "nn2mcu_simd.h"

#include <stddef.h>
#include <string.h>

static arm_cmsis_nn_status convolve(const cmsis_nn_tile stride, const cmsis_nn_tile padding,
                                    const cmsis_nn_tile dilation, int32_t input_offset, int32_t output_offset,
                                    cmsis_nn_activation act, const cmsis_nn_per_channel_quant_params *quant,
                                    const cmsis_nn_dims *in, const int8_t *input, const cmsis_nn_dims *filter,
                                    const int8_t *weights, const int32_t *bias, const cmsis_nn_dims *out,
                                    int8_t *output)
{
    if (dilation.w != 1 || dilation.h != 1 || filter->c != in->c) {
        return ARM_CMSIS_NN_ARG_ERROR; /* no dilation, no grouped convolution */
    }
    const int32_t kh = filter->h, kw = filter->w, ch_in = in->c, ch_out = out->c;
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)ch_in;
        for (int32_t oy = 0; oy < out->h; oy++) {
            for (int32_t ox = 0; ox < out->w; ox++) {
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch_out;
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
                            const int8_t *pixel = image + ((size_t)iy * (size_t)in->w + (size_t)ix) * (size_t)ch_in;
                            const int8_t *w = weights + (((size_t)o * (size_t)kh + (size_t)ky) * (size_t)kw + (size_t)kx) * (size_t)ch_in;
                            for (int32_t i = 0; i < ch_in; i++) {
                                sum += ((int32_t)pixel[i] + input_offset) * w[i];
                            }
                        }
                    }
                    pixel_out[o] = nn2mcu_s8_output(nn2mcu_wrap32(sum), quant->multiplier[o], quant->shift[o],
                                                    output_offset, act.min, act.max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/* Where value j of a column is stored: within each complete group of 4 the order is
   0, 2, 1, 3 (the order in which nn2mcu_sxtb16 and nn2mcu_sxtb16_ror8 unpack 4 filter
   bytes); the last length % 4 values stay in order. */
static int32_t column_position(int32_t j, int32_t grouped)
{
    static const int8_t swap[4] = {0, 1, -1, 0};
    return j < grouped ? j + swap[j & 3] : j;
}

/* Values [j, end) of a column from contiguous input bytes src (input + offset each). */
static void copy_run(const int8_t *src, int32_t j, int32_t end, int32_t grouped, int32_t offset, int16_t *col)
{
    const uint32_t offsets = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
    for (; j < end && (j & 3) != 0; j++, src++) {
        col[column_position(j, grouped)] = (int16_t)(*src + offset);
    }
    const int32_t last = end < grouped ? end : grouped;
    for (; j + 4 <= last; j += 4, src += 4) { /* a whole group at once */
        uint32_t word = nn2mcu_load32(src);
        nn2mcu_store32(col + j, nn2mcu_sadd16(nn2mcu_sxtb16(word), offsets));
        nn2mcu_store32(col + j + 2, nn2mcu_sadd16(nn2mcu_sxtb16_ror8(word), offsets));
    }
    for (; j < end; j++, src++) {
        col[column_position(j, grouped)] = (int16_t)(*src + offset);
    }
}

/* Values [j, end) of a column set to 0 (the padding). */
static void zero_run(int32_t j, int32_t end, int32_t grouped, int16_t *col)
{
    for (; j < end && (j & 3) != 0; j++) {
        col[column_position(j, grouped)] = 0;
    }
    int32_t whole = end < grouped ? end & ~3 : grouped; /* complete groups: order is moot */
    if (whole > j) {
        memset(col + j, 0, (size_t)(whole - j) * sizeof col[0]);
        j = whole;
    }
    for (; j < end; j++) {
        col[column_position(j, grouped)] = 0;
    }
}

/* The receptive field of output pixel (ox, oy) as int16 values input + offset (0 where the
   window leaves the image), in column_position order. A window row that lies inside the
   image is one contiguous run of kw * ch_in input bytes. */
static void im2col(const int8_t *image, const cmsis_nn_dims *in, int32_t kh, int32_t kw, cmsis_nn_tile stride,
                   cmsis_nn_tile padding, int32_t offset, int32_t ox, int32_t oy, int16_t *col)
{
    const int32_t ch_in = in->c, row = kw * ch_in, grouped = (kh * row) & ~3;
    const int32_t x0 = ox * stride.w - padding.w;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = oy * stride.h - padding.h + ky, start = ky * row;
        if (iy < 0 || iy >= in->h) {
            zero_run(start, start + row, grouped, col);
            continue;
        }
        const int8_t *line = image + (size_t)iy * (size_t)in->w * (size_t)ch_in;
        if (x0 >= 0 && x0 + kw <= in->w) {
            copy_run(line + (size_t)x0 * (size_t)ch_in, start, start + row, grouped, offset, col);
            continue;
        }
        for (int32_t kx = 0; kx < kw; kx++) { /* the window leaves the image sideways */
            const int32_t ix = x0 + kx, j = start + kx * ch_in;
            if (ix < 0 || ix >= in->w) {
                zero_run(j, j + ch_in, grouped, col);
            } else {
                copy_run(line + (size_t)ix * (size_t)ch_in, j, j + ch_in, grouped, offset, col);
            }
        }
    }
}

/* Output pixels a and b (b may be NULL) from their columns, two channels at a time. */
static void columns_to_pixels(const int16_t *col_a, const int16_t *col_b, int32_t length, const int8_t *weights,
                              int32_t ch_out, const int32_t *bias, const cmsis_nn_per_channel_quant_params *quant,
                              int32_t output_offset, cmsis_nn_activation act, int8_t *out_a, int8_t *out_b)
{
    const int16_t *second = col_b != NULL ? col_b : col_a;
    for (int32_t o = 0; o < ch_out; o += 2) {
        int32_t next = o + 1 < ch_out ? o + 1 : o; /* an odd count: the last filter twice */
        uint32_t acc[4];
        acc[0] = acc[1] = (uint32_t)(bias != NULL ? bias[o] : 0);
        acc[2] = acc[3] = (uint32_t)(bias != NULL ? bias[next] : 0);
        nn2mcu_dot_2x2(col_a, second, weights + (size_t)o * (size_t)length, weights + (size_t)next * (size_t)length, length, acc);
        for (int32_t k = 0; k < 2 && o + k < ch_out; k++) {
            int32_t channel = o + k;
            int32_t m = quant->multiplier[channel], s = quant->shift[channel];
            out_a[channel] = nn2mcu_s8_output(nn2mcu_wrap32(acc[2 * k]), m, s, output_offset, act.min, act.max);
            if (out_b != NULL) {
                out_b[channel] =
                    nn2mcu_s8_output(nn2mcu_wrap32(acc[2 * k + 1]), m, s, output_offset, act.min, act.max);
            }
        }
    }
}

/* All output pixels, two at a time through int16 columns in buffer (2 * length values). */
static void convolve_fast(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                          int32_t output_offset, cmsis_nn_activation act,
                          const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                          const int8_t *input, const cmsis_nn_dims *filter, const int8_t *weights,
                          const int32_t *bias, const cmsis_nn_dims *out, int8_t *output, int16_t *buffer)
{
    const int32_t length = filter->h * filter->w * in->c, ch_out = out->c;
    const int32_t pixels = out->h * out->w;
    int16_t *col_a = buffer, *col_b = buffer + length;
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * (size_t)in->w * (size_t)in->c;
        int8_t *result = output + (size_t)n * (size_t)pixels * (size_t)ch_out;
        int32_t p = 0;
        for (; p + 1 < pixels; p += 2) {
            im2col(image, in, filter->h, filter->w, stride, padding, input_offset, p % out->w, p / out->w, col_a);
            im2col(image, in, filter->h, filter->w, stride, padding, input_offset, (p + 1) % out->w,
                   (p + 1) / out->w, col_b);
            columns_to_pixels(col_a, col_b, length, weights, ch_out, bias, quant, output_offset, act,
                              result + (size_t)p * (size_t)ch_out, result + (size_t)(p + 1) * (size_t)ch_out);
        }
        if (p < pixels) {
            im2col(image, in, filter->h, filter->w, stride, padding, input_offset, p % out->w, p / out->w, col_a);
            columns_to_pixels(col_a, NULL, length, weights, ch_out, bias, quant, output_offset, act,
                              result + (size_t)p * (size_t)ch_out, NULL);
        }
    }
}

/* A 1x1 convolution without padding and without input offset (nn2mcu's generated code
   folds it into the bias) and without a column buffer (a strided one: CMSIS-NN asks none):
   per output pixel, its input pixel's channels against four filters at a time, straight
   from the int8 input. */
static void pointwise(const cmsis_nn_tile stride, int32_t output_offset, cmsis_nn_activation act,
                      const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, const cmsis_nn_dims *out, int8_t *output)
{
    const int32_t ch_in = in->c, ch_out = out->c, last = ch_out - 1;
    for (int32_t n = 0; n < in->n; n++) {
        for (int32_t oy = 0; oy < out->h; oy++) {
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int8_t *x = input + (((size_t)n * (size_t)in->h + (size_t)(oy * stride.h)) * (size_t)in->w +
                                           (size_t)(ox * stride.w)) * (size_t)ch_in;
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch_out;
                for (int32_t o = 0; o < ch_out; o += 4) {
                    const int8_t *w[4];
                    uint32_t acc[4];
                    for (int32_t k = 0; k < 4; k++) { /* past the last filter: the last again */
                        const int32_t row = o + k < ch_out ? o + k : last;
                        w[k] = weights + (size_t)row * (size_t)ch_in;
                        acc[k] = (uint32_t)(bias != NULL ? bias[row] : 0);
                    }
                    nn2mcu_dot_1x4(x, w[0], w[1], w[2], w[3], ch_in, acc);
                    for (int32_t k = 0; k < 4 && o + k < ch_out; k++) {
                        pixel_out[o + k] = nn2mcu_s8_output(nn2mcu_wrap32(acc[k]), quant->multiplier[o + k],
                                                            quant->shift[o + k], output_offset, act.min, act.max);
                    }
                }
            }
        }
    }
}

/* What the fast path needs: two int16 columns; 0 when it does not apply. */
static int32_t fast_buffer_size(const cmsis_nn_conv_params *params, const cmsis_nn_dims *in,
                                const cmsis_nn_dims *filter)
{
    const int32_t length = filter->h * filter->w * in->c;
    if (filter->h == 1 && filter->w == 1 && params->padding.w == 0 && params->padding.h == 0) {
        /* CMSIS-NN's 1x1 kernels: 2 * ch_in int16 with stride 1 (its DSP rule), else none */
        return params->stride.w == 1 && params->stride.h == 1 ? 4 * in->c : 0;
    }
    return 2 * ((length + 3) & ~3) * (int32_t)sizeof(int16_t); /* arm_convolve_s8's rule */
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims, const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims, const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims, const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims, int8_t *output_data)
{
    (void)bias_dims;
    const int32_t length = filter_dims->h * filter_dims->w * input_dims->c;
    if (ctx != NULL && ctx->buf != NULL && ctx->size >= 2 * length * (int32_t)sizeof(int16_t) &&
        conv_params->dilation.w == 1 && conv_params->dilation.h == 1 && filter_dims->c == input_dims->c) {
        convolve_fast(conv_params->stride, conv_params->padding, conv_params->input_offset,
                      conv_params->output_offset, conv_params->activation, quant_params, input_dims, input_data,
                      filter_dims, filter_data, bias_data, output_dims, output_data, (int16_t *)ctx->buf);
        return ARM_CMSIS_NN_SUCCESS;
    }
    if (filter_dims->h == 1 && filter_dims->w == 1 && conv_params->padding.w == 0 && conv_params->padding.h == 0 &&
        conv_params->input_offset == 0 && conv_params->dilation.w == 1 && conv_params->dilation.h == 1 &&
        filter_dims->c == input_dims->c) {
        pointwise(conv_params->stride, conv_params->output_offset, conv_params->activation, quant_params, input_dims,
                  input_data, filter_data, bias_data, output_dims, output_data);
        return ARM_CMSIS_NN_SUCCESS;
    }
    return convolve(conv_params->stride, conv_params->padding, conv_params->dilation, conv_params->input_offset,
                    conv_params->output_offset, conv_params->activation, quant_params, input_dims, input_data,
                    filter_dims, filter_data, bias_data, output_dims, output_data);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    return fast_buffer_size(conv_params, input_dims, filter_dims);
}

/* Depthwise (multiplier 1): per output pixel, four channels at a time in registers: per
   window tap one word of input and one of filter, each unpacked into two int16 pairs (the
   input plus its offset), and four 16 x 16 multiply-accumulates (SMLABB, SMLATT on a core
   with the DSP extension) into the four channels' sums, modulo 2^32 as CMSIS-NN's int32
   sums; the last ch % 4 channels one at a time. */
/* acc[k] += the window's sum for channels c .. c + 3: rows x taps input words from x (rows
   line bytes apart, taps ch apart) against filter words from w (rows wline apart). Out of
   line, so that the four sums, the offsets and the pointers stay in registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void window4(const int8_t *x, const int8_t *w, int32_t rows, int32_t taps, size_t line, size_t wline,
                    size_t ch, uint32_t offsets, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; rows > 0; rows--, x += line, w += wline) {
        const int8_t *xp = x, *wp = w;
        for (int32_t t = taps; t > 0; t--, xp += ch, wp += ch) {
            const uint32_t xs = nn2mcu_load32(xp), ws = nn2mcu_load32(wp);
            const uint32_t xe = nn2mcu_sadd16(nn2mcu_sxtb16(xs), offsets);
            const uint32_t xo = nn2mcu_sadd16(nn2mcu_sxtb16_ror8(xs), offsets);
            const uint32_t we = nn2mcu_sxtb16(ws), wo = nn2mcu_sxtb16_ror8(ws);
            a0 = nn2mcu_smlabb(xe, we, a0); /* channel c */
            a2 = nn2mcu_smlatt(xe, we, a2); /* c + 2 */
            a1 = nn2mcu_smlabb(xo, wo, a1); /* c + 1 */
            a3 = nn2mcu_smlatt(xo, wo, a3); /* c + 3 */
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static void depthwise(const cmsis_nn_tile stride, const cmsis_nn_tile padding, int32_t input_offset,
                      int32_t output_offset, cmsis_nn_activation act,
                      const cmsis_nn_per_channel_quant_params *quant, const cmsis_nn_dims *in,
                      const int8_t *input, const cmsis_nn_dims *filter, const int8_t *weights,
                      const int32_t *bias, const cmsis_nn_dims *out, int8_t *output)
{
    const int32_t ch = in->c, kh = filter->h, kw = filter->w, grouped = ch & ~3;
    const uint32_t offsets = ((uint32_t)input_offset & 0xFFFFu) * 0x10001u;
    const size_t line = (size_t)in->w * (size_t)ch;
    for (int32_t n = 0; n < in->n; n++) {
        const int8_t *image = input + (size_t)n * (size_t)in->h * line;
        for (int32_t oy = 0; oy < out->h; oy++) {
            const int32_t y0 = oy * stride.h - padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = in->h - y0 < kh ? in->h - y0 : kh;
            for (int32_t ox = 0; ox < out->w; ox++) {
                const int32_t x0 = ox * stride.w - padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = in->w - x0 < kw ? in->w - x0 : kw;
                int8_t *pixel_out = output + (((size_t)n * (size_t)out->h + (size_t)oy) * (size_t)out->w + (size_t)ox) * (size_t)ch;
                const int8_t *corner = image + (size_t)(y0 + ky0) * line + (size_t)(x0 + kx0) * (size_t)ch;
                const int8_t *corner_w = weights + ((size_t)ky0 * (size_t)kw + (size_t)kx0) * (size_t)ch;
                for (int32_t c = 0; c < ch; c += 4) {
                    const int32_t count = c < grouped ? 4 : ch - c;
                    uint32_t acc[4] = {0, 0, 0, 0};
                    for (int32_t k = 0; k < count; k++) {
                        acc[k] = (uint32_t)(bias != NULL ? bias[c + k] : 0);
                    }
                    const int8_t *row = corner + c, *row_w = corner_w + c;
                    if (count == 4) {
                        window4(row, row_w, ky1 - ky0, kx1 - kx0, line, (size_t)kw * (size_t)ch, (size_t)ch, offsets,
                                acc);
                    } else {
                        for (int32_t ky = ky0; ky < ky1; ky++, row += line, row_w += (size_t)kw * (size_t)ch) {
                            const int8_t *x = row, *w = row_w;
                            for (int32_t kx = kx0; kx < kx1; kx++, x += ch, w += ch) {
                                for (int32_t k = 0; k < count; k++) {
                                    acc[k] += (uint32_t)(((int32_t)x[k] + input_offset) * w[k]);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < count; k++) {
                        pixel_out[c + k] = nn2mcu_s8_output(nn2mcu_wrap32(acc[k]), quant->multiplier[c + k],
                                                            quant->shift[c + k], output_offset, act.min, act.max);
                    }
                }
            }
        }
    }
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
    if (dw_conv_params->ch_mult != 1 || dw_conv_params->dilation.w != 1 || dw_conv_params->dilation.h != 1 ||
        input_dims->c != output_dims->c) {
        return ARM_CMSIS_NN_ARG_ERROR; /* generated code calls arm_depthwise_conv_s8 for ch_mult != 1 */
    }
    depthwise(dw_conv_params->stride, dw_conv_params->padding, dw_conv_params->input_offset,
              dw_conv_params->output_offset, dw_conv_params->activation, quant_params, input_dims, input_data,
              filter_dims, filter_data, bias_data, output_dims, output_data);
    return ARM_CMSIS_NN_SUCCESS;
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
