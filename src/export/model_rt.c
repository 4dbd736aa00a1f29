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

/* Element i of a stored array of the given dtype code (1 int8, 2 uint8, 3 int16, 4 int32). */
int32_t ql_get(const void *p, int dtype, long i) {
    switch (dtype) {
    case 1: return ((const int8_t *)p)[i];
    case 2: return ((const uint8_t *)p)[i];
    case 3: return ((const int16_t *)p)[i];
    default: return ((const int32_t *)p)[i];
    }
}

static int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties toward +inf. */
static int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31)); /* C division truncates toward zero */
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. */
static int32_t rdbpot(int32_t x, int e) {
    int32_t mask = (int32_t)((1LL << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static int32_t shl_wrap(int32_t x, int left) { return (int32_t)((uint32_t)x << left); }

/* acc * M0 * 2^(shift - 31) under the exported rounding rule. */
static int32_t requant(int32_t acc, int32_t m0, int32_t shift, int rounding) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    if (right > 31) right = 31;
    switch (rounding) {
    case 0: /* TFLM / gemmlowp: double rounding */
        return rdbpot(srdhm(shl_wrap(acc, left), m0), right);
    case 1: { /* high-mul, then shift rounding ties up */
        int64_t h = srdhm(shl_wrap(acc, left), m0);
        return right == 0 ? (int32_t)h : (int32_t)((h + (1LL << (right - 1))) >> right);
    }
    case 2: { /* single rounding ties up */
        int ts = 31 - shift;
        int64_t p = (int64_t)acc * (int64_t)m0;
        int64_t v = ts <= 0 ? p : ((p + (1LL << (ts - 1))) >> ts);
        if (v > INT32_MAX) v = INT32_MAX;
        if (v < INT32_MIN) v = INT32_MIN;
        return (int32_t)v;
    }
    default: /* codes 3 and 4 need floating point: ql_run_layer refuses them before calling */
        return 0;
    }
}

static int32_t clamp32(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : (int32_t)v); }

/* ---- gemmlowp fixed point, for SOFTMAX ---- */
static int32_t sat_rmul_pot(int32_t x, int e) {
    if (e > 0) {
        int32_t thr = (int32_t)((1LL << (31 - e)) - 1);
        if (x > thr) return INT32_MAX;
        if (x < -thr) return INT32_MIN;
        return shl_wrap(x, e);
    }
    if (e < 0) return rdbpot(x, -e);
    return x;
}
static int32_t rescale(int32_t x, int src_bits, int dst_bits) { return sat_rmul_pot(x, src_bits - dst_bits); }
static int32_t fp_one(int int_bits) { return int_bits == 0 ? INT32_MAX : (int32_t)(1LL << (31 - int_bits)); }
static int32_t add(int32_t a, int32_t b) { return wrap32((int64_t)a + b); }
static int32_t sub(int32_t a, int32_t b) { return wrap32((int64_t)a - b); }

static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t exp_minus_one_eighth = 1895147668, one_third = 715827883;
    int32_t x = add(a, 1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t x4_over_4 = sat_rmul_pot(x4, -2);
    int32_t poly = sat_rmul_pot(add(srdhm(add(x4_over_4, x3), one_third), x2), -1);
    return add(exp_minus_one_eighth, srdhm(exp_minus_one_eighth, add(x, poly)));
}

static int32_t exp_on_negative_values(int32_t a, int int_bits) {
    int frac_bits = 31 - int_bits;
    int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    int32_t mask = one_quarter - 1;
    int32_t a_mod_q_minus_q = sub(a & mask, one_quarter);
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(a_mod_q_minus_q, int_bits, 0));
    int32_t remainder = sub(a_mod_q_minus_q, a);
    static const int k[7] = {-2, -1, 0, 1, 2, 3, 4};
    static const int32_t m[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int i = 0; i < 7; i++) {
        if (int_bits > k[i]) {
            int shift = frac_bits + k[i];
            if (remainder & (int32_t)(1u << shift)) result = srdhm(result, m[i]);
        }
    }
    if (int_bits > 5) {
        int32_t clamp = -((int32_t)1 << (36 - int_bits));
        if (a < clamp) result = 0;
    }
    if (a == 0) result = fp_one(0);
    return result;
}

static int32_t rounding_half_sum(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    int64_t sign = s >= 0 ? 1 : -1;
    return (int32_t)((s + sign) / 2);
}

static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t c48_over_17 = 1515870810, cneg32_over_17 = -1010580540;
    int32_t half_denominator = rounding_half_sum(a, fp_one(0));
    int32_t x = add(c48_over_17, srdhm(half_denominator, cneg32_over_17));
    for (int i = 0; i < 3; i++) {
        int32_t hdx = srdhm(half_denominator, x);
        int32_t one_minus = sub(fp_one(2), hdx);
        x = add(x, rescale(srdhm(x, one_minus), 4, 2));
    }
    return rescale(x, 1, 0);
}

/* Leading zero bits of x (32 for 0), portable C99 (no compiler builtin). */
static int count_leading_zeros(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
}

static int32_t get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    int headroom_plus_one = count_leading_zeros((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    int32_t shifted_minus_one = (int32_t)(((uint32_t)x << (headroom_plus_one & 31)) - (1u << 31));
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one);
}

static void softmax_row(const ql_layer_t *L, const int32_t *in, int32_t *out, int n) {
    int32_t max = in[0];
    for (int i = 1; i < n; i++) if (in[i] > max) max = in[i];
    int32_t sum = 0; /* Q12.19 */
    for (int i = 0; i < n; i++) {
        int32_t diff = in[i] - max;
        if (diff >= L->sm_diff_min) {
            int32_t d = srdhm(shl_wrap(diff, L->sm_left_shift), L->sm_multiplier);
            sum = add(sum, rescale(exp_on_negative_values(d, 5), 0, 12));
        }
    }
    int nbou;
    int32_t shifted_scale = get_reciprocal(sum, 12, &nbou);
    int out_bits = L->out_dtype == 3 ? 16 : 8;
    for (int i = 0; i < n; i++) {
        int32_t diff = in[i] - max;
        if (diff >= L->sm_diff_min) {
            int32_t d = srdhm(shl_wrap(diff, L->sm_left_shift), L->sm_multiplier);
            int32_t e = exp_on_negative_values(d, 5);
            int sh = nbou + 31 - out_bits;
            if (sh < 0) sh = 0;
            if (sh > 31) sh = 31;
            int32_t unsat = rdbpot(srdhm(shifted_scale, e), sh);
            out[i] = clamp32((int64_t)unsat + L->act_min, L->act_min, L->act_max);
        } else {
            out[i] = L->act_min;
        }
    }
}

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
        softmax_row(L, x, y, L->out_size);
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
