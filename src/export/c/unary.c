/* ---- element-wise ops on 8-bit integers as a 256-entry table (quantlens src/export/c/unary.c) ----
 * LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1 and QUANTIZE between 8-bit types
 * map each of the 256 input values to one output value; the table holds that map, computed at export
 * time by the engine's kernel for the exported profile (as LiteRT's optimized kernels precompute
 * their LUTs). y[i] = table[x[i] - in_min], in_min = -128 (int8) or 0 (uint8). */
static inline void ql_table(long n, int32_t in_min, const int16_t *table, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) y[i] = table[x[i] - in_min];
}

/* ql_rescale: RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU and QUANTIZE between 8-bit types in TFLite Micro's arithmetic:
 * d = x - Z_in; y = clamp(Z_out + requant(d, d >= 0 ? M_pos : M_neg), lo, hi). RELU and QUANTIZE have one multiplier
 * (S_in/S_out, M_neg = M_pos), LEAKY_RELU two (S_in/S_out and alpha*S_in/S_out); [lo, hi] is the activation's range
 * on the output grid (the output dtype's range for QUANTIZE and LEAKY_RELU). */
static inline void ql_rescale(long n, int32_t z_in, int32_t z_out, int32_t m0_pos, int32_t shift_pos, int32_t m0_neg, int32_t shift_neg,
                              int rounding, int32_t lo, int32_t hi, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        int32_t d = x[i] - z_in;
        int32_t r = d >= 0 ? requant(d, m0_pos, shift_pos, rounding) : requant(d, m0_neg, shift_neg, rounding);
        y[i] = clamp32((int64_t)r + z_out, lo, hi);
    }
}

/* ql_hard_swish: HARD_SWISH on int8 in the reference kernel's 16-bit fixed point (TFLite Micro's):
 *   v = (x - Z_in) * 2^7 (int16); preshift = SRDHM16(v, OUT_M); the "reluish" factor
 *   relu6(x + 3)/6 from v by RELUISH_M * 2^RELUISH_E (saturating shifts), mapped from [-1, 1] to [0, 1];
 *   y = clamp(RoundingDivideByPOT(DoublingHighMul16(reluish, preshift), -OUT_E) + Z_out, -128, 127),
 * every intermediate wrapped or saturated to 16 bits as the reference does. */
static inline int16_t wrap16(int32_t v) {
    int32_t m = v & 0xffff;
    return (int16_t)(m >= 0x8000 ? m - 0x10000 : m);
}
static inline int16_t srdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    int32_t ab = (int32_t)a * b;
    int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}
static inline int16_t sat_shl16(int16_t v, int amount) {
    int64_t r = (int64_t)v * ((int64_t)1 << amount);
    return (int16_t)(r < INT16_MIN ? INT16_MIN : (r > INT16_MAX ? INT16_MAX : r));
}
static inline void ql_hard_swish(long n, int32_t z_in, int32_t z_out, int16_t out_m, int out_e, int16_t reluish_m, int reluish_e,
                                 const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        int16_t hires = wrap16(wrap16(x[i] - z_in) * 128);
        int16_t preshift_output = srdhm16(hires, out_m);
        int16_t reluish = hires, preshift, out;
        if (reluish_e > 0) reluish = sat_shl16(reluish, reluish_e - 1);
        reluish = srdhm16(reluish, reluish_m);
        if (reluish_e > 0) reluish = sat_shl16(reluish, 1);
        if (reluish_e < 0) reluish = (int16_t)rdbpot(reluish, -reluish_e);
        reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
        preshift = (reluish == INT16_MIN && preshift_output == INT16_MIN) ? INT16_MAX : (int16_t)(((int32_t)reluish * preshift_output) / (1 << 15));
        out = wrap16((int32_t)(int16_t)rdbpot(preshift, -out_e) + wrap16(z_out));
        y[i] = clamp32(out, -128, 127);
    }
}
