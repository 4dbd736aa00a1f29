/* ---- LOGISTIC and TANH on int8 (TFLite Micro's reference integer kernels: gemmlowp fixed point;
 * quantlens src/export/c/activation.c) ----
 * d = x - Z_in; d <= -RADIUS gives -128 and d >= RADIUS gives 127 (the function has saturated);
 * otherwise a = d * M * 2^LEFT_SHIFT (SRDHM then rounding shift) is d * S_in in Q4.27 and
 *   LOGISTIC: y = RoundingDivideByPOT(logistic(a), 23) - 128   (Q0.31 to the 1/256 grid, Z = -128)
 *   TANH:     y = RoundingDivideByPOT(tanh(a), 24)             (Q0.31 to the 1/128 grid, Z = 0)
 * clamped to [-128, 127]. logistic(a) = 1/(1 + exp(-|a|)) mirrored as 1 - . for a < 0;
 * tanh(a) = (1 - exp(-2|a|))/(1 + exp(-2|a|)) with the sign of a. */
/* (1 - a)/(1 + a) = 2/(1 + a) - 1. */
static inline int32_t one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    return rescale(sub(newton_one_over_half_denominator(a), fp_one(2)), 2, 0);
}

static inline int32_t fp_logistic(int32_t a, int int_bits) {
    if (a == 0) return rdbpot(fp_one(0), 1);
    int32_t abs = a > 0 ? a : wrap32(-(int64_t)a);
    int32_t positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-(int64_t)abs), int_bits));
    return a > 0 ? positive : sub(fp_one(0), positive);
}

static inline int32_t fp_tanh(int32_t a, int int_bits) {
    if (a == 0) return 0;
    int32_t n = a < 0 ? a : wrap32(-(int64_t)a);
    int32_t t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, int_bits + 1));
    return a < 0 ? wrap32(-(int64_t)t) : t;
}

static inline void ql_logistic_tanh(long n, int is_tanh, int32_t z_in, int32_t multiplier, int left_shift, int32_t radius, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        int32_t d = x[i] - z_in, r;
        if (d <= -radius) {
            r = -128;
        } else if (d >= radius) {
            r = 127;
        } else {
            int32_t a = requant(d, multiplier, left_shift, 0);
            r = is_tanh ? rdbpot(fp_tanh(a, 4), 31 - 7) : rdbpot(fp_logistic(a, 4), 31 - 8) - 128;
        }
        y[i] = clamp32(r, -128, 127);
    }
}
