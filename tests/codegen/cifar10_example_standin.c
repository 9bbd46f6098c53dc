/* A stand-in for CMSIS-NN's CIFAR-10 example program (written for nn2mcu's tests from the
 * example's documented call sequence): it includes the two headers that
 * `nn2mcu generate --compat cmsis-cifar10-example` writes, keeps the example's fixed
 * buffers, and calls the kernels in the example's order. Version (b) is the one whose
 * weights header defines INPUT_MEAN_SHIFT.
 *
 * standin IMAGES LOGITS PROBABILITIES: IMAGES holds N images of CONV1_IM_DIM^2 x
 * CONV1_IM_CH bytes (q7 for version (a), uint8 RGB for (b)); LOGITS receives the inner
 * product's IP1_OUT bytes per image, PROBABILITIES arm_softmax_q7's. */
#include <stdint.h>
#include <stdio.h>

#include "arm_nnfunctions.h"
#include "arm_nnexamples_cifar10_parameter.h"
#include "arm_nnexamples_cifar10_weights.h"

#define INPUT_SIZE (CONV1_IM_DIM * CONV1_IM_DIM * CONV1_IM_CH)

static const q7_t conv1_wt[CONV1_IM_CH * CONV1_KER_DIM * CONV1_KER_DIM * CONV1_OUT_CH] = CONV1_WT;
static const q7_t conv1_bias[CONV1_OUT_CH] = CONV1_BIAS;
static const q7_t conv2_wt[CONV2_IM_CH * CONV2_KER_DIM * CONV2_KER_DIM * CONV2_OUT_CH] = CONV2_WT;
static const q7_t conv2_bias[CONV2_OUT_CH] = CONV2_BIAS;
static const q7_t conv3_wt[CONV3_IM_CH * CONV3_KER_DIM * CONV3_KER_DIM * CONV3_OUT_CH] = CONV3_WT;
static const q7_t conv3_bias[CONV3_OUT_CH] = CONV3_BIAS;
static const q7_t ip1_wt[IP1_DIM * IP1_OUT] = IP1_WT;
static const q7_t ip1_bias[IP1_OUT] = IP1_BIAS;

/* the example's buffers */
static q7_t col_buffer[2 * 5 * 5 * 32 * 2];
static q7_t scratch_buffer[32 * 32 * 10 * 4];
static q7_t output_data[IP1_OUT];

#ifdef INPUT_MEAN_SHIFT
static uint8_t image_data[INPUT_SIZE];
#else
static q7_t input_data[INPUT_SIZE];
#endif

static void run_example(FILE *logits)
{
    q7_t *img_buffer1 = scratch_buffer;
    q7_t *img_buffer2 = img_buffer1 + 32 * 32 * 32;
#ifdef INPUT_MEAN_SHIFT
    const int mean_data[CONV1_IM_CH] = INPUT_MEAN_SHIFT;
    const unsigned int scale_data[CONV1_IM_CH] = INPUT_RIGHT_SHIFT;
    for (int i = 0; i < INPUT_SIZE; i++) {
        int c = i % CONV1_IM_CH;
        /* the example shifts (p - mean) left by 7; multiplying avoids C's undefined left
           shift of a negative value and gives the same number */
        int value = ((((int)image_data[i] - mean_data[c]) * 128) + (1 << (scale_data[c] - 1)))
                    >> scale_data[c];
        img_buffer2[i] = (q7_t)(value > 127 ? 127 : (value < -128 ? -128 : value));
    }
    const q7_t *conv1_input = img_buffer2;
#else
    const q7_t *conv1_input = input_data;
#endif
    arm_convolve_HWC_q7_RGB(conv1_input, CONV1_IM_DIM, CONV1_IM_CH, conv1_wt, CONV1_OUT_CH,
                            CONV1_KER_DIM, CONV1_PADDING, CONV1_STRIDE, conv1_bias,
                            CONV1_BIAS_LSHIFT, CONV1_OUT_RSHIFT, img_buffer1, CONV1_OUT_DIM,
                            (q15_t *)col_buffer, NULL);
    arm_relu_q7(img_buffer1, CONV1_OUT_DIM * CONV1_OUT_DIM * CONV1_OUT_CH);
    arm_maxpool_q7_HWC(img_buffer1, CONV1_OUT_DIM, CONV1_OUT_CH, POOL1_KER_DIM, POOL1_PADDING,
                       POOL1_STRIDE, POOL1_OUT_DIM, NULL, img_buffer2);

    arm_convolve_HWC_q7_fast(img_buffer2, CONV2_IM_DIM, CONV2_IM_CH, conv2_wt, CONV2_OUT_CH,
                             CONV2_KER_DIM, CONV2_PADDING, CONV2_STRIDE, conv2_bias,
                             CONV2_BIAS_LSHIFT, CONV2_OUT_RSHIFT, img_buffer1, CONV2_OUT_DIM,
                             (q15_t *)col_buffer, NULL);
    arm_relu_q7(img_buffer1, CONV2_OUT_DIM * CONV2_OUT_DIM * CONV2_OUT_CH);
#ifdef INPUT_MEAN_SHIFT
    arm_maxpool_q7_HWC(img_buffer1, CONV2_OUT_DIM, CONV2_OUT_CH, POOL2_KER_DIM, POOL2_PADDING,
                       POOL2_STRIDE, POOL2_OUT_DIM, col_buffer, img_buffer2);
#else
    arm_avepool_q7_HWC(img_buffer1, CONV2_OUT_DIM, CONV2_OUT_CH, POOL2_KER_DIM, POOL2_PADDING,
                       POOL2_STRIDE, POOL2_OUT_DIM, col_buffer, img_buffer2);
#endif

    arm_convolve_HWC_q7_fast(img_buffer2, CONV3_IM_DIM, CONV3_IM_CH, conv3_wt, CONV3_OUT_CH,
                             CONV3_KER_DIM, CONV3_PADDING, CONV3_STRIDE, conv3_bias,
                             CONV3_BIAS_LSHIFT, CONV3_OUT_RSHIFT, img_buffer1, CONV3_OUT_DIM,
                             (q15_t *)col_buffer, NULL);
    arm_relu_q7(img_buffer1, CONV3_OUT_DIM * CONV3_OUT_DIM * CONV3_OUT_CH);
#ifdef INPUT_MEAN_SHIFT
    arm_maxpool_q7_HWC(img_buffer1, CONV3_OUT_DIM, CONV3_OUT_CH, POOL3_KER_DIM, POOL3_PADDING,
                       POOL3_STRIDE, POOL3_OUT_DIM, col_buffer, img_buffer2);
#else
    arm_avepool_q7_HWC(img_buffer1, CONV3_OUT_DIM, CONV3_OUT_CH, POOL3_KER_DIM, POOL3_PADDING,
                       POOL3_STRIDE, POOL3_OUT_DIM, col_buffer, img_buffer2);
#endif

    arm_fully_connected_q7_opt(img_buffer2, ip1_wt, IP1_DIM, IP1_OUT, IP1_BIAS_LSHIFT,
                               IP1_OUT_RSHIFT, ip1_bias, output_data, (q15_t *)img_buffer1);
    fwrite(output_data, 1, IP1_OUT, logits);
    arm_softmax_q7(output_data, 10, output_data);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s IMAGES LOGITS PROBABILITIES\n", argv[0]);
        return 2;
    }
    FILE *images = fopen(argv[1], "rb");
    FILE *logits = fopen(argv[2], "wb");
    FILE *probabilities = fopen(argv[3], "wb");
    if (images == NULL || logits == NULL || probabilities == NULL) {
        fprintf(stderr, "cannot open the files\n");
        return 2;
    }
#ifdef INPUT_MEAN_SHIFT
    while (fread(image_data, 1, INPUT_SIZE, images) == INPUT_SIZE) {
#else
    while (fread(input_data, 1, INPUT_SIZE, images) == INPUT_SIZE) {
#endif
        run_example(logits);
        fwrite(output_data, 1, IP1_OUT, probabilities);
    }
    fclose(images);
    fclose(logits);
    fclose(probabilities);
    return 0;
}
