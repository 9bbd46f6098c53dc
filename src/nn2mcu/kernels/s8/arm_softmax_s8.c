/*
 * nn2mcu portable kernels: arm_softmax_s8, int8 in and out, the fixed-point algorithm of
 * CMSIS-NN v7.0.0 (gemmlowp's exp on negative values with 5 integer bits, 12 accumulator
 * bits, a Newton reciprocal), written without undefined or implementation-defined
 * behaviour. Row entries more than -diff_min below the row's maximum give -128.
 */
#include "arm_nnfunctions.h"
#include "nn2mcu_s8_arith.h"

#define NN2MCU_Q31_MAX ((int32_t)0x7FFFFFFF)
#define NN2MCU_Q31_MIN (-NN2MCU_Q31_MAX - 1)
#define NN2MCU_ACCUM_BITS 12

/* round(m1 * m2 / 2^31), ties away from zero; saturates the one overflow */
static int32_t mul_sat(int32_t m1, int32_t m2)
{
    if (m1 == NN2MCU_Q31_MIN && m2 == NN2MCU_Q31_MIN) {
        return NN2MCU_Q31_MAX;
    }
    int64_t total = (int64_t)m1 * m2 + (((m1 < 0) != (m2 < 0)) ? 1 - ((int64_t)1 << 30) : ((int64_t)1 << 30));
    int64_t quotient = total >= 0 ? total / ((int64_t)1 << 31) : -((-total) / ((int64_t)1 << 31));
    return nn2mcu_wrap32(quotient);
}

/* dividend / 2^exponent, ties away from zero */
static int32_t div_pow2(int32_t dividend, int32_t exponent)
{
    uint32_t mask = (uint32_t)(((uint64_t)1 << exponent) - 1u);
    uint32_t remainder = (uint32_t)dividend & mask;
    int32_t result = (int32_t)nn2mcu_asr64(dividend, exponent);
    uint32_t threshold = (mask >> 1) + (result < 0 ? 1u : 0u);
    return result + (remainder > threshold ? 1 : 0);
}

static int32_t add32(int64_t a, int64_t b)
{
    return nn2mcu_wrap32(a + b);
}

static int32_t mul_pow2(int32_t value, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (value > threshold) {
        return NN2MCU_Q31_MAX;
    }
    if (value < -threshold) {
        return NN2MCU_Q31_MIN;
    }
    return nn2mcu_wrap32((int64_t)value * ((int64_t)1 << exponent));
}

static int32_t exp_on_negative_values(int32_t value)
{
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    if (value == 0) {
        return NN2MCU_Q31_MAX;
    }
    const int32_t mod_minus_quarter = (int32_t)((uint32_t)value & ((1u << 24) - 1u)) - (1 << 24);
    const int32_t remainder = add32(mod_minus_quarter, -(int64_t)value);
    const int32_t x = add32((int64_t)mod_minus_quarter * 32, 1 << 28);
    const int32_t x2 = mul_sat(x, x);
    const int32_t inner = mul_sat(add32(div_pow2(mul_sat(x2, x2), 2), mul_sat(x2, x)), 715827883);
    int32_t result = add32(1895147668, mul_sat(1895147668, add32(x, div_pow2(add32(inner, x2), 1))));
    for (int bit = 0; bit < 7; bit++) {
        if (((uint32_t)remainder & (1u << (24 + bit))) != 0u) {
            result = mul_sat(result, factors[bit]);
        }
    }
    return result;
}

static int32_t one_over_one_plus_x(int32_t value)
{
    const int64_t sum = (int64_t)value + NN2MCU_Q31_MAX;
    const int64_t adjusted = sum + (sum >= 0 ? 1 : -1);
    const int32_t half_denominator = nn2mcu_wrap32(adjusted >= 0 ? adjusted / 2 : -((-adjusted) / 2));
    int32_t x = add32(1515870810, mul_sat(half_denominator, -1010580540));
    for (int step = 0; step < 3; step++) {
        x = add32(x, mul_pow2(mul_sat(x, add32(1 << 29, -(int64_t)mul_sat(half_denominator, x))), 2));
    }
    return mul_pow2(x, 1);
}

void arm_softmax_s8(const int8_t *input, const int32_t num_rows, const int32_t row_size, const int32_t mult,
                    const int32_t shift, const int32_t diff_min, int8_t *output)
{
    for (int32_t row = 0; row < num_rows; row++) {
        const int8_t *in = input + (long)row * row_size;
        int8_t *out = output + (long)row * row_size;
        int32_t max = in[0];
        for (int32_t i = 1; i < row_size; i++) {
            max = in[i] > max ? in[i] : max;
        }
        int64_t sum = 0;
        for (int32_t i = 0; i < row_size; i++) {
            int32_t diff = in[i] - max;
            if (diff >= diff_min) {
                sum += div_pow2(exp_on_negative_values(mul_sat(diff * (1 << shift), mult)), NN2MCU_ACCUM_BITS);
            }
        }
        const int32_t total = nn2mcu_wrap32(sum);
        int32_t headroom = 32;
        for (uint32_t bits = (uint32_t)total; total > 0 && bits != 0u; bits >>= 1) {
            headroom--;
        }
        uint32_t normalised = total > 0 ? (uint32_t)total << headroom : 0u;
        const int32_t scale = one_over_one_plus_x(nn2mcu_wrap32((int64_t)normalised - ((int64_t)1 << 31)));
        const int32_t bits_over_unit = NN2MCU_ACCUM_BITS - headroom + 23;
        for (int32_t i = 0; i < row_size; i++) {
            int32_t diff = in[i] - max;
            int32_t value = -128;
            if (diff >= diff_min) {
                value = div_pow2(mul_sat(scale, exp_on_negative_values(mul_sat(diff * (1 << shift), mult))),
                                 bits_over_unit) - 128;
                value = value > 127 ? 127 : (value < -128 ? -128 : value);
            }
            out[i] = (int8_t)value;
        }
    }
}
