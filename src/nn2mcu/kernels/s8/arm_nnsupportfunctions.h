/*
 * nn2mcu portable kernels: the part of CMSIS-NN's support header that generated code uses,
 * with CMSIS-NN's name, signature and results (v7.0.0): arm_nn_requantize, which the input
 * stage of nn.c calls. The arithmetic is nn2mcu_requantize (nn2mcu_s8_arith.h), written
 * without undefined behaviour; CMSIS_NN_USE_SINGLE_ROUNDING selects the single rounding.
 */
#ifndef ARM_NNSUPPORTFUNCTIONS_H
#define ARM_NNSUPPORTFUNCTIONS_H

#include <stdint.h>

#include "nn2mcu_s8_arith.h"

static inline int32_t arm_nn_requantize(const int32_t val, const int32_t multiplier, const int32_t shift)
{
    return nn2mcu_requantize(val, multiplier, shift);
}

#endif /* ARM_NNSUPPORTFUNCTIONS_H */
