/* ---- the transformer ops of the ViT (quantlens src/export/c/transformer.c) ----
 * ql_batch_matmul: int8 BATCH_MATMUL of run-time operands (LiteRT's reference integer kernel), for each
 *   batch b, row i, column j:
 *     acc = sum_k (X[ox[b] + i*xi + k*xk] - Zx) * (Y[oy[b] + k*yk + j*yj] - Zy)   (int32, wrapping)
 *     out = clamp(Zout + requant(acc, M0, shift), -128, 127)
 *   ox[b], oy[b]: where batch b's matrices start (the batch dimensions broadcast); the strides say
 *   whether an operand is read transposed (adj_x, adj_y).
 * ql_table_checked: RSQRT on int8 as the engine's own kernel on each of the 256 inputs; an input below
 *   valid_min (below the zero point: a negative variance) is refused, as LiteRT refuses it: returns 1.
 * ql_neg_f32: NEG on float32, -x (the sign flipped) or 0 - x (zeros come out +0), per the profile. */
static inline void ql_batch_matmul(long batches, const int32_t *ox, const int32_t *oy, int rows, int cols, int depth, int xi, int xk,
                                   int yk, int yj, int32_t zx, int32_t zy, int32_t zout, int32_t m0, int32_t shift, int rounding,
                                   const int32_t *x, const int32_t *y, int32_t *out) {
    long o = 0;
    for (long b = 0; b < batches; b++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                int64_t acc = 0;
                const int32_t *xp = x + ox[b] + (long)i * xi;
                const int32_t *yp = y + oy[b] + (long)j * yj;
                for (int k = 0; k < depth; k++) acc += (int64_t)(xp[(long)k * xk] - zx) * (yp[(long)k * yk] - zy);
                out[o++] = clamp32((int64_t)requant(wrap32(acc), m0, shift, rounding) + zout, -128, 127);
            }
}

static inline int ql_table_checked(long n, int32_t in_min, int32_t valid_min, const int16_t *table, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        if (x[i] < valid_min) return 1;
        y[i] = table[x[i] - in_min];
    }
    return 0;
}

static inline void ql_neg_f32(long n, int zero_minus, const float *x, float *y) {
    for (long i = 0; i < n; i++) y[i] = zero_minus ? 0.0f - x[i] : -x[i];
}
