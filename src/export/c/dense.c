/* ---- FULLY_CONNECTED over rows (quantlens src/export/c/dense.c) ----
 * For each of `rows` input rows and each output channel c:
 *   y = clamp(Z3 + requant(bias[c] + sum_i (x[i] - Z1) * (W[c][i] - Z2[c]), M0[c], shift[c]), act_min, act_max)
 * with W - Z2 stored (centred int8 weights, [out][in]), or (w_u8, a legacy uint8 model) the stored uint8 W, Z2[c] subtracted here. */
static inline void ql_dense(int rows, int in_f, int out_f, const void *w, int w_u8, const int32_t *z2, const int32_t *bias, const int32_t *m0, const int32_t *shift,
                     int32_t z1, int32_t z3, int32_t act_min, int32_t act_max, int rounding, const int32_t *x, int32_t *y) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < out_f; c++) {
            int64_t acc = 0;
            const int32_t *xp = x + (long)r * in_f;
            if (w_u8) {
                const uint8_t *wp = (const uint8_t *)w + (long)c * in_f;
                for (int i = 0; i < in_f; i++) acc += (int64_t)(xp[i] - z1) * (wp[i] - z2[c]);
            } else {
                const int8_t *wp = (const int8_t *)w + (long)c * in_f;
                for (int i = 0; i < in_f; i++) acc += (int64_t)(xp[i] - z1) * wp[i];
            }
            int32_t a = wrap32(acc + bias[c]);
            y[(long)r * out_f + c] = clamp32((int64_t)requant(a, m0[c], shift[c], rounding) + z3, act_min, act_max);
        }
}
