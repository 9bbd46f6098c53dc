/*
 * nn2mcu portable kernels: the legacy q7 fully-connected layers.
 *
 * pOut[r] = SSAT8(wrap32((bias[r] << bias_shift) + NN_ROUND(out_shift) + sum_j pV[j] * W[r][j]) >> out_shift).
 * arm_fully_connected_q7 reads W row-major; arm_fully_connected_q7_opt reads it in the
 * "x4" interleave: per block of four rows, per group of four columns the 16 values
 * r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3, then
 * each leftover column as r0 r1 r2 r3; leftover rows follow row-major. vec_buffer is
 * not used.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_q7_arith.h"

/* position of (row % 4, column % 4) inside a 16-value group of the x4 interleave */
static const uint8_t x4_position[4][4] = {{0, 8, 2, 10}, {1, 9, 3, 11}, {4, 12, 6, 14}, {5, 13, 7, 15}};

static long x4_index(long r, long c, long dim_vec, long num_rows)
{
    long rows4 = num_rows - num_rows % 4;
    long cols4 = dim_vec - dim_vec % 4;
    if (r >= rows4) {
        return r * dim_vec + c;
    }
    long block = (r / 4) * 4 * dim_vec;
    if (c < cols4) {
        return block + (c / 4) * 16 + x4_position[r % 4][c % 4];
    }
    return block + cols4 * 4 + (c - cols4) * 4 + r % 4;
}

static void fully_connected(const q7_t *pV, const q7_t *pM, uint16_t dim_vec, uint16_t num_of_rows,
                            uint16_t bias_shift, uint16_t out_shift, const q7_t *bias, q7_t *pOut, int x4)
{
    for (long r = 0; r < num_of_rows; r++) {
        int64_t sum = nn2mcu_q7_start(bias[r], bias_shift, out_shift);
        for (long c = 0; c < dim_vec; c++) {
            long index = x4 ? x4_index(r, c, dim_vec, num_of_rows) : r * dim_vec + c;
            sum += (int32_t)pV[c] * pM[index];
        }
        pOut[r] = nn2mcu_q7_finish(sum, out_shift);
    }
}

arm_status arm_fully_connected_q7(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                  const uint16_t num_of_rows, const uint16_t bias_shift,
                                  const uint16_t out_shift, const q7_t *bias, q7_t *pOut, q15_t *vec_buffer)
{
    (void)vec_buffer;
    fully_connected(pV, pM, dim_vec, num_of_rows, bias_shift, out_shift, bias, pOut, 0);
    return ARM_MATH_SUCCESS;
}

arm_status arm_fully_connected_q7_opt(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                      const uint16_t num_of_rows, const uint16_t bias_shift,
                                      const uint16_t out_shift, const q7_t *bias, q7_t *pOut,
                                      q15_t *vec_buffer)
{
    (void)vec_buffer;
    fully_connected(pV, pM, dim_vec, num_of_rows, bias_shift, out_shift, bias, pOut, 1);
    return ARM_MATH_SUCCESS;
}
