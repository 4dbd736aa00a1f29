/* ---- gemmlowp fixed point: exp on negative values, 1/(1+x), and the SOFTMAX built on them (quantlens src/export/c/softmax.c); see the forward pass's comment above ---- */
static inline int32_t sat_rmul_pot(int32_t x, int e) {
    if (e > 0) {
        int32_t thr = (int32_t)((1LL << (31 - e)) - 1);
        if (x > thr) return INT32_MAX;
        if (x < -thr) return INT32_MIN;
        return shl_wrap(x, e);
    }
    if (e < 0) return rdbpot(x, -e);
    return x;
}
static inline int32_t rescale(int32_t x, int src_bits, int dst_bits) { return sat_rmul_pot(x, src_bits - dst_bits); }
static inline int32_t fp_one(int int_bits) { return int_bits == 0 ? INT32_MAX : (int32_t)(1LL << (31 - int_bits)); }
static inline int32_t add(int32_t a, int32_t b) { return wrap32((int64_t)a + b); }
static inline int32_t sub(int32_t a, int32_t b) { return wrap32((int64_t)a - b); }

static inline int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t exp_minus_one_eighth = 1895147668, one_third = 715827883;
    int32_t x = add(a, 1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t x4_over_4 = sat_rmul_pot(x4, -2);
    int32_t poly = sat_rmul_pot(add(srdhm(add(x4_over_4, x3), one_third), x2), -1);
    return add(exp_minus_one_eighth, srdhm(exp_minus_one_eighth, add(x, poly)));
}

static inline int32_t exp_on_negative_values(int32_t a, int int_bits) {
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

static inline int32_t rounding_half_sum(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    int64_t sign = s >= 0 ? 1 : -1;
    return (int32_t)((s + sign) / 2);
}

/* gemmlowp's Newton-Raphson division: x ~ 1/d for d = (1 + a)/2, a in [0, 1), in Q2.29
 * (start 48/17 - 32/17 d, three steps x += x(1 - d x)); shared by 1/(1+a) and (1-a)/(1+a). */
static inline int32_t newton_one_over_half_denominator(int32_t a) {
    const int32_t c48_over_17 = 1515870810, cneg32_over_17 = -1010580540;
    int32_t half_denominator = rounding_half_sum(a, fp_one(0));
    int32_t x = add(c48_over_17, srdhm(half_denominator, cneg32_over_17));
    for (int i = 0; i < 3; i++) {
        int32_t hdx = srdhm(half_denominator, x);
        int32_t one_minus = sub(fp_one(2), hdx);
        x = add(x, rescale(srdhm(x, one_minus), 4, 2));
    }
    return x;
}

static inline int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) { return rescale(newton_one_over_half_denominator(a), 1, 0); }

/* Leading zero bits of x (32 for 0), portable C99 (no compiler builtin). */
static inline int count_leading_zeros(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
}

static inline int32_t get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    int headroom_plus_one = count_leading_zeros((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    int32_t shifted_minus_one = (int32_t)(((uint32_t)x << (headroom_plus_one & 31)) - (1u << 31));
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one);
}

/* One row of n logits -> n probabilities on the output grid (1/256 for int8), z = out_min. */
static inline void softmax_row(const int32_t *in, int32_t *out, int n, int32_t diff_min, int left_shift, int32_t multiplier, int out_bits, int32_t out_min, int32_t out_max) {
    int32_t max = in[0];
    for (int i = 1; i < n; i++) if (in[i] > max) max = in[i];
    int32_t sum = 0; /* Q12.19 */
    for (int i = 0; i < n; i++) {
        int32_t diff = in[i] - max;
        if (diff >= diff_min) {
            int32_t d = srdhm(shl_wrap(diff, left_shift), multiplier);
            sum = add(sum, rescale(exp_on_negative_values(d, 5), 0, 12));
        }
    }
    int nbou;
    int32_t shifted_scale = get_reciprocal(sum, 12, &nbou);
    for (int i = 0; i < n; i++) {
        int32_t diff = in[i] - max;
        if (diff >= diff_min) {
            int32_t d = srdhm(shl_wrap(diff, left_shift), multiplier);
            int32_t e = exp_on_negative_values(d, 5);
            int sh = nbou + 31 - out_bits;
            if (sh < 0) sh = 0;
            if (sh > 31) sh = 31;
            int32_t unsat = rdbpot(srdhm(shifted_scale, e), sh);
            out[i] = clamp32((int64_t)unsat + out_min, out_min, out_max);
        } else {
            out[i] = out_min;
        }
    }
}

