/* ---- the integer-only forward pass (quantlens src/export/model_rt.c) ----
 *
 * Requantization is TFLite Micro's: acc * M0 * 2^(shift - 31) with gemmlowp's
 * SaturatingRoundingDoublingHighMul (SRDHM) followed by RoundingDivideByPOT
 * (ROUNDING 0); codes 1 and 2 (LiteRT builtin ties-up shift, single rounding)
 * are here too. SOFTMAX is gemmlowp's fixed-point softmax, as TFLite Micro and
 * the reference kernels compute it:
 *   1. d = x - max(x) (<= 0); differences below SM_DIFF_MIN give output 0 (Z_OUT);
 *   2. d scaled to Q5.26 by SRDHM(d << SM_LEFT_SHIFT, SM_MULTIPLIER)
 *      (= beta * S_in * d * 2^26, the multiplier computed as for any M);
 *   3. exp(d) in Q0.31 by exp_on_negative_values: exp on [-1/4, 0) by a
 *      Taylor polynomial around -1/8, times exp(-2^k) for every set bit k of
 *      the remainder (the constants m[] are exp(-1/4), exp(-1/2), ... in Q0.31);
 *   4. the sum of exps in Q12.19, its reciprocal by Newton-Raphson
 *      (one_over_one_plus_x_for_x_in_0_1, 48/17 - 32/17 x start, 3 steps);
 *   5. exp * reciprocal, rounding shift to the output's 1/256 grid, + Z_OUT, clamp.
 * No floating point anywhere.
 */
#include <stdint.h>
#include "model.h"

int ql_run_layer(int layer, const int32_t *x, int32_t *y) {
    if (layer < 0 || layer >= QL_NUM_LAYERS) return QL_ERR_LAYER;
    const ql_layer_t *L = &ql_layers[layer];
    if ((L->kind == 1 || L->kind == 2) && L->rounding > 2) return QL_ERR_FLOAT;
    if (L->kind == 3 && !L->sm_fixed_point) return QL_ERR_FLOAT;
    switch (L->kind) {
    case 1: /* QUANTIZE between integer types */
        for (int i = 0; i < L->out_size; i++)
            y[i] = clamp32((int64_t)requant(x[i] - L->z1, L->m0_scalar, L->shift_scalar, L->rounding) + L->z3, L->act_min, L->act_max);
        break;
    case 2: /* FULLY_CONNECTED */
        for (int c = 0; c < L->out_features; c++) {
            int64_t acc = 0;
            for (int i = 0; i < L->in_features; i++) {
                int32_t w = ql_get(L->weights, L->weight_dtype, (long)c * L->in_features + i) - L->z2[c];
                acc += (int64_t)(x[i] - L->z1) * w;
            }
            int32_t accb = wrap32(acc + L->bias[c]);
            y[c] = clamp32((int64_t)requant(accb, L->m0[c], L->shift[c], L->rounding) + L->z3, L->act_min, L->act_max);
        }
        break;
    case 3: /* SOFTMAX over the whole (1 x n) output */
        softmax_row(x, y, L->out_size, L->sm_diff_min, L->sm_left_shift, L->sm_multiplier, L->out_dtype == 3 ? 16 : 8, L->act_min, L->act_max);
        break;
    case 4: /* RESHAPE */
        for (int i = 0; i < L->out_size; i++) y[i] = x[i];
        break;
    default:
        return QL_ERR_LAYER;
    }
    return QL_OK;
}


const char *ql_kind_name(int kind) {
    switch (kind) {
    case 1: return "QUANTIZE";
    case 2: return "FULLY_CONNECTED";
    case 3: return "SOFTMAX";
    case 4: return "RESHAPE";
    default: return "?";
    }
}

int ql_invoke(const int32_t *input, int32_t *output) {
    static int32_t a[QL_MAX_SIZE], b[QL_MAX_SIZE];
    int32_t *cur = a, *nxt = b;
    for (int i = 0; i < QL_INPUT_SIZE; i++) cur[i] = input[i];
    for (int l = 0; l < QL_NUM_LAYERS; l++) {
        int err = ql_run_layer(l, cur, nxt);
        if (err) return err;
        int32_t *t = cur; cur = nxt; nxt = t;
    }
    for (int i = 0; i < QL_OUTPUT_SIZE; i++) output[i] = cur[i];
    return QL_OK;
}
