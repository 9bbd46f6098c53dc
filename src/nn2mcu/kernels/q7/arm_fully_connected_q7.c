/*
 * nn2mcu portable kernels: the legacy q7 fully-connected layers.
 *
 * pOut[r] = SSAT8(wrap32((bias[r] << bias_shift) + NN_ROUND(out_shift) + sum_j pV[j] * W[r][j]) >> out_shift).
 * arm_fully_connected_q7 reads W row-major; arm_fully_connected_q7_opt reads it in the
 * "x4" interleave: per block of four rows, per group of four columns the 16 values
 * r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3, then
 * each leftover column as r0 r1 r2 r3; leftover rows follow row-major. The interleave
 * lets 16 weights meet 4 vector values in 8 dual multiply-accumulates (nn2mcu_simd.h).
 * vec_buffer is not used.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_q7_arith.h"
#include "nn2mcu_simd.h"

/* Rows in row-major order (arm_fully_connected_q7, and the rows after the last block of
   four in the x4 interleave), from row `first` on, with W pointing at that row. */
static void rows_plain(const q7_t *pV, const q7_t *W, long dim_vec, long first, long num_rows,
                       uint16_t bias_shift, uint16_t out_shift, const q7_t *bias, q7_t *pOut)
{
    for (long r = first; r < num_rows; r++, W += dim_vec) {
        uint32_t sum = nn2mcu_q7_start32(bias[r], bias_shift, out_shift);
        long c = 0;
        for (; c + 4 <= dim_vec; c += 4) {
            uint32_t v = nn2mcu_load32(pV + c), w = nn2mcu_load32(W + c);
            sum = nn2mcu_smlad(nn2mcu_sxtb16(v), nn2mcu_sxtb16(w), sum);
            sum = nn2mcu_smlad(nn2mcu_sxtb16_ror8(v), nn2mcu_sxtb16_ror8(w), sum);
        }
        for (; c < dim_vec; c++) {
            sum += (uint32_t)((int32_t)pV[c] * W[c]);
        }
        pOut[r] = nn2mcu_q7_finish32(sum, out_shift);
    }
}

/* The x4 interleave, four rows at a time: a group's four words unpack (nn2mcu_sxtb16 and
   its ror8 form) to exactly the row pairs that meet the vector's pairs (v0, v2), (v1, v3). */
static void rows_x4(const q7_t *pV, const q7_t *pM, long dim_vec, long num_rows, uint16_t bias_shift,
                    uint16_t out_shift, const q7_t *bias, q7_t *pOut)
{
    const long rows4 = num_rows - num_rows % 4;
    const long cols4 = dim_vec - dim_vec % 4;
    const q7_t *w = pM;
    for (long r = 0; r < rows4; r += 4) {
        uint32_t acc0 = nn2mcu_q7_start32(bias[r], bias_shift, out_shift);
        uint32_t acc1 = nn2mcu_q7_start32(bias[r + 1], bias_shift, out_shift);
        uint32_t acc2 = nn2mcu_q7_start32(bias[r + 2], bias_shift, out_shift);
        uint32_t acc3 = nn2mcu_q7_start32(bias[r + 3], bias_shift, out_shift);
        for (long c = 0; c < cols4; c += 4, w += 16) {
            uint32_t v = nn2mcu_load32(pV + c);
            uint32_t v02 = nn2mcu_sxtb16(v), v13 = nn2mcu_sxtb16_ror8(v);
            uint32_t w1 = nn2mcu_load32(w), w2 = nn2mcu_load32(w + 4);
            uint32_t w3 = nn2mcu_load32(w + 8), w4 = nn2mcu_load32(w + 12);
            acc0 = nn2mcu_smlad(v13, nn2mcu_sxtb16(w3), nn2mcu_smlad(v02, nn2mcu_sxtb16(w1), acc0));
            acc1 = nn2mcu_smlad(v13, nn2mcu_sxtb16_ror8(w3), nn2mcu_smlad(v02, nn2mcu_sxtb16_ror8(w1), acc1));
            acc2 = nn2mcu_smlad(v13, nn2mcu_sxtb16(w4), nn2mcu_smlad(v02, nn2mcu_sxtb16(w2), acc2));
            acc3 = nn2mcu_smlad(v13, nn2mcu_sxtb16_ror8(w4), nn2mcu_smlad(v02, nn2mcu_sxtb16_ror8(w2), acc3));
        }
        for (long c = cols4; c < dim_vec; c++, w += 4) {
            int32_t v = pV[c];
            acc0 += (uint32_t)(v * w[0]);
            acc1 += (uint32_t)(v * w[1]);
            acc2 += (uint32_t)(v * w[2]);
            acc3 += (uint32_t)(v * w[3]);
        }
        pOut[r] = nn2mcu_q7_finish32(acc0, out_shift);
        pOut[r + 1] = nn2mcu_q7_finish32(acc1, out_shift);
        pOut[r + 2] = nn2mcu_q7_finish32(acc2, out_shift);
        pOut[r + 3] = nn2mcu_q7_finish32(acc3, out_shift);
    }
    rows_plain(pV, w, dim_vec, rows4, num_rows, bias_shift, out_shift, bias, pOut);
}

arm_status arm_fully_connected_q7(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                  const uint16_t num_of_rows, const uint16_t bias_shift,
                                  const uint16_t out_shift, const q7_t *bias, q7_t *pOut, q15_t *vec_buffer)
{
    (void)vec_buffer;
    rows_plain(pV, pM, dim_vec, 0, num_of_rows, bias_shift, out_shift, bias, pOut);
    return ARM_MATH_SUCCESS;
}

arm_status arm_fully_connected_q7_opt(const q7_t *pV, const q7_t *pM, const uint16_t dim_vec,
                                      const uint16_t num_of_rows, const uint16_t bias_shift,
                                      const uint16_t out_shift, const q7_t *bias, q7_t *pOut,
                                      q15_t *vec_buffer)
{
    (void)vec_buffer;
    rows_x4(pV, pM, dim_vec, num_of_rows, bias_shift, out_shift, bias, pOut);
    return ARM_MATH_SUCCESS;
}
