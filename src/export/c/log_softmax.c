/* ---- int8 LOG_SOFTMAX in gemmlowp fixed point (TFLite Micro's reference_integer_ops::LogSoftmax;
 * quantlens src/export/c/log_softmax.c). Needs the fixed point of softmax.c. ---- */

/* ln x for a fixed-point x >= 1 with input_bits integer bits, returned with output_bits integer bits.
 * x = 2^k r with r in [sqrt(1/2), sqrt(2)): ln x = k ln 2 + ln r. Two normalisations are tried (x
 * shifted to [1/2, 1) times sqrt(1/2), and x shifted so that x sqrt(1/2) is there), the smaller mantissa
 * is kept with k adjusted by +-1/4 so that r is centred on 2^(-1/4); with q = 2(r - 2^(-1/4)) and
 * p = (r + 2^(-1/4))/2, ln r ~ (q r + an q^3) / (1 + p (ai + q + ad q^2) + af q). */
static inline int32_t log_x_for_x_greater_than_or_equal_to_1(int32_t x, int output_bits, int input_bits) {
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250, one_quarter = 536870912;
    const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769, alpha_f = 638450708;
    int accum_bits = output_bits + 1;
    int32_t shifted_quarter = rescale(one_quarter, 0, accum_bits);

    int z_a_headroom_plus_1 = count_leading_zeros((uint32_t)x);
    int32_t r_a = sat_rmul_pot(srdhm(sat_rmul_pot(x, z_a_headroom_plus_1 - 1), sqrt_half), 1);
    int32_t z_a_pow_2_adj = clamp32((int64_t)sat_rmul_pot(input_bits - z_a_headroom_plus_1, 31 - accum_bits) + shifted_quarter, INT32_MIN, INT32_MAX);

    int32_t z_b = srdhm(x, sqrt_half);
    int z_b_headroom = count_leading_zeros((uint32_t)z_b) - 1;
    int32_t r_b = sat_rmul_pot(x, z_b_headroom);
    int32_t z_b_pow_2_adj = clamp32((int64_t)sat_rmul_pot(input_bits - z_b_headroom, 31 - accum_bits) - shifted_quarter, INT32_MIN, INT32_MAX);

    int32_t r = r_a < r_b ? r_a : r_b;
    int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;

    int32_t p = rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = sub(r, sqrt_sqrt_half);
    q = add(q, q);
    int32_t common_sq = srdhm(q, q);
    int32_t num = add(srdhm(q, r), srdhm(srdhm(q, common_sq), alpha_n));
    int32_t denom_minus_one = add(srdhm(p, add(add(alpha_i, q), srdhm(alpha_d, common_sq))), srdhm(alpha_f, q));
    int32_t recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one);
    int32_t num_scaled = rescale(num, 0, accum_bits);
    return rescale(add(srdhm(z_pow_2_adj, log_2), srdhm(num_scaled, recip_denom)), accum_bits, output_bits);
}

/* One row of n int8 values -> n log-probabilities on the grid 16/256, zero point 127.
 * d = x - max is rescaled to Q5.26 by M_in = m * 2^left_shift; exp(d) (Q0.31) is summed in Q12.19
 * over d >= diff_min; L = ln(sum) in Q5.26; y = rdbpot(d M_in - L, 31 - 5 - 4) + 127, or -128 where
 * d <= adjusted_diff_min (d M_in - L would underflow Q5.26: L + INT32_MIN mapped back to input steps
 * by the reverse multiplier rev_m * 2^rev_shift). */
static inline void log_softmax_row(const int32_t *in, int32_t *out, int n, int32_t m, int left_shift, int32_t rev_m, int rev_shift, int32_t diff_min) {
    int32_t max = -128;
    for (int i = 0; i < n; i++) if (in[i] > max) max = in[i];
    int32_t sum = 0; /* Q12.19 */
    for (int i = 0; i < n; i++) {
        int32_t d = in[i] - max;
        if (d >= diff_min) sum = add(sum, rescale(exp_on_negative_values(requant(d, m, left_shift, 0), 5), 0, 12));
    }
    int32_t log_sum = log_x_for_x_greater_than_or_equal_to_1(sum, 5, 12);
    int32_t adjusted_diff_min = requant(add(log_sum, INT32_MIN), rev_m, rev_shift, 0);
    if (adjusted_diff_min < diff_min - 1) adjusted_diff_min = diff_min - 1;
    for (int i = 0; i < n; i++) {
        int32_t d = in[i] - max;
        out[i] = d > adjusted_diff_min ? clamp32((int64_t)rdbpot(sub(requant(d, m, left_shift, 0), log_sum), 31 - 5 - 4) + 127, -128, 127) : -128;
    }
}
