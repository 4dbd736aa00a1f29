/* quantlens export harness — runs an exported model (model.h) on the exported
 * golden images (golden.h) with integer arithmetic only, and compares every
 * layer's output with the golden output, element by element.
 *
 *   gcc -std=c99 -O2 -I<export dir> -o harness harness.c && ./harness [out.bin]
 *
 * Prints "layer <k> <KIND>: <d> of <n> differ" per layer; exits 0 when nothing
 * differs. With out.bin, writes every computed layer output as little-endian
 * int32, layer by layer, image by image, element by element.
 *
 * The requantization is TFLite Micro's: M0 * 2^shift applied with gemmlowp's
 * SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT (ROUNDING 0);
 * codes 1 and 2 (LiteRT builtin ties-up shift, single rounding) are here too.
 * SOFTMAX is gemmlowp's fixed-point softmax (TFLM and the reference kernels).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "golden.h"

static int32_t get(const void *p, int dtype, long i) {
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
    default:
        fprintf(stderr, "harness: rounding code %d needs floating point; export with --profile tflm\n", rounding);
        exit(3);
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

static int32_t get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    int headroom_plus_one = x == 0 ? 32 : __builtin_clz((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    int32_t shifted_minus_one = (int32_t)(((uint32_t)x << (headroom_plus_one & 31)) - (1u << 31));
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one);
}

static void softmax_row(const ql_layer_t *L, const int32_t *in, int32_t *out, int n) {
    if (!L->sm_fixed_point) {
        fprintf(stderr, "harness: this SOFTMAX uses an f32 table; export with --profile tflm\n");
        exit(3);
    }
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

static void run_layer(const ql_layer_t *L, const int32_t *x, int32_t *y) {
    switch (L->kind) {
    case 1: /* QUANTIZE between integer types */
        for (int i = 0; i < L->out_size; i++)
            y[i] = clamp32((int64_t)requant(x[i] - L->z1, L->m0_scalar, L->shift_scalar, L->rounding) + L->z3, L->act_min, L->act_max);
        break;
    case 2: /* FULLY_CONNECTED */
        for (int c = 0; c < L->out_features; c++) {
            int64_t acc = 0;
            for (int i = 0; i < L->in_features; i++) {
                int32_t w = get(L->weights, L->weight_dtype, (long)c * L->in_features + i) - L->z2[c];
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
        fprintf(stderr, "harness: unknown layer kind %d\n", L->kind);
        exit(3);
    }
}

static const char *kind_name(int k) {
    switch (k) {
    case 1: return "QUANTIZE";
    case 2: return "FULLY_CONNECTED";
    case 3: return "SOFTMAX";
    case 4: return "RESHAPE";
    default: return "?";
    }
}

int main(int argc, char **argv) {
    long offsets[QL_NUM_LAYERS + 1];
    offsets[0] = 0;
    for (int l = 0; l < QL_NUM_LAYERS; l++) offsets[l + 1] = offsets[l] + (long)QL_GOLDEN_N * ql_layers[l].out_size;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(offsets[QL_NUM_LAYERS] > 0 ? offsets[QL_NUM_LAYERS] : 1));
    int32_t *cur = malloc(sizeof(int32_t) * QL_MAX_SIZE);
    if (!all || !cur) return 3;
    long differ[QL_NUM_LAYERS] = {0};
    long first_img[QL_NUM_LAYERS], first_el[QL_NUM_LAYERS];
    for (int l = 0; l < QL_NUM_LAYERS; l++) first_img[l] = first_el[l] = -1;
    for (long n = 0; n < QL_GOLDEN_N; n++) {
        for (int i = 0; i < QL_INPUT_SIZE; i++) cur[i] = get(ql_golden_input, QL_INPUT_DTYPE, n * QL_INPUT_SIZE + i);
        for (int l = 0; l < QL_NUM_LAYERS; l++) {
            const ql_layer_t *L = &ql_layers[l];
            int32_t *y = all + offsets[l] + n * L->out_size;
            run_layer(L, cur, y);
            for (int i = 0; i < L->out_size; i++) {
                if (y[i] != get(ql_golden_outputs[l], L->out_dtype, n * L->out_size + i)) {
                    if (differ[l]++ == 0) { first_img[l] = n; first_el[l] = i; }
                }
            }
            for (int i = 0; i < L->out_size; i++) cur[i] = y[i];
        }
    }
    long total = 0;
    for (int l = 0; l < QL_NUM_LAYERS; l++) {
        printf("layer %d %s: %ld of %ld differ", l, kind_name(ql_layers[l].kind), differ[l], (long)QL_GOLDEN_N * ql_layers[l].out_size);
        if (differ[l]) printf(" (first: image %ld element %ld)", first_img[l], first_el[l]);
        printf("\n");
        total += differ[l];
    }
    printf("%s: %d images, %d layers, profile %s\n", total ? "MISMATCH" : "BIT-EXACT", QL_GOLDEN_N, QL_NUM_LAYERS, QL_PROFILE);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "wb");
        if (!f) return 3;
        for (long i = 0; i < offsets[QL_NUM_LAYERS]; i++) {
            uint32_t v = (uint32_t)all[i];
            unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
            fwrite(b, 1, 4, f);
        }
        fclose(f);
    }
    free(all);
    free(cur);
    return total ? 1 : 0;
}
