/* ---- PRELU, RESIZE_BILINEAR and TRANSPOSE_CONV (TFLite's reference integer kernels;
 * quantlens src/export/c/vision.c) ----
 * PRELU: x' = x - Z1; y = clamp(Z3 + (x' >= 0 ? requant(x', M1) : requant(x' * alpha[k], M2))), where
 *   alpha[k] = q_alpha - Z_alpha of the alpha element output i uses (alpha_index[i], the broadcast resolved).
 * RESIZE_BILINEAR (int8): each output row and column has its two source rows / columns lo, hi and its
 *   source position in Q10; with fy = pos_y - 1024 lo_y (and fx alike),
 *   sum = tl (1024 - fy)(1024 - fx) + bl fy (1024 - fx) + tr (1024 - fy) fx + br fy fx,
 *   y = (sum +- 2^19) / 2^20 (rounded half away from zero).
 * TRANSPOSE_CONV: every input element (x - Z1) scattered into the outputs its filter window covers,
 *   out (oy, ox) = (y stride_h + ky - pad_h, x stride_w + kx - pad_w), weights [o][ky][kx][i]; then
 *   y = clamp(Z3 + requant(acc + bias[o], M0[o], shift[o]) with channel o's rounding). */
static inline void ql_prelu(long n, const int32_t *alpha_index, const int32_t *alpha, int32_t z1, int32_t z3, int32_t m1_m0, int32_t m1_shift,
                            int32_t m2_m0, int32_t m2_shift, int rounding, int32_t lo, int32_t hi, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        int32_t v = x[i] - z1;
        int32_t r = v >= 0 ? requant(v, m1_m0, m1_shift, rounding) : requant(v * alpha[alpha_index[i]], m2_m0, m2_shift, rounding);
        y[i] = clamp32((int64_t)r + z3, lo, hi);
    }
}

static inline void ql_resize_bilinear(const int32_t *in_shape, int out_h, int out_w, const int32_t *ys, const int32_t *xs, const int32_t *x, int32_t *y) {
    int n = in_shape[0], h = in_shape[1], w = in_shape[2], c = in_shape[3];
    long o = 0;
    for (int b = 0; b < n; b++)
        for (int r = 0; r < out_h; r++)
            for (int s = 0; s < out_w; s++) {
                const int32_t *ty = ys + 3 * r, *tx = xs + 3 * s;
                long tl = (((long)b * h + ty[0]) * w + tx[0]) * c, tr = (((long)b * h + ty[0]) * w + tx[1]) * c;
                long bl = (((long)b * h + ty[1]) * w + tx[0]) * c, br = (((long)b * h + ty[1]) * w + tx[1]) * c;
                int64_t fy = ty[2] - 1024 * ty[0], fx = tx[2] - 1024 * tx[0];
                for (int k = 0; k < c; k++) {
                    int64_t sum = x[tl + k] * (1024 - fy) * (1024 - fx) + x[bl + k] * fy * (1024 - fx) + x[tr + k] * (1024 - fy) * fx + x[br + k] * fy * fx;
                    y[o++] = (int32_t)((sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                }
            }
}

static inline void ql_transpose_conv(const int32_t *in_shape, const int32_t *out_shape, int k_h, int k_w, int stride_h, int stride_w, int pad_h, int pad_w,
                                     const int8_t *w, const int32_t *bias, const int32_t *m0, const int32_t *shift, const int32_t *rounding,
                                     int32_t z1, int32_t z3, int32_t lo, int32_t hi, const int32_t *x, int32_t *y, int64_t *acc) {
    int n = in_shape[0], h = in_shape[1], wd = in_shape[2], ci = in_shape[3], oh = out_shape[1], ow = out_shape[2], co = out_shape[3];
    long n_out = (long)n * oh * ow * co;
    for (long j = 0; j < n_out; j++) acc[j] = 0;
    for (int b = 0; b < n; b++)
        for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < wd; ix++)
                for (int i = 0; i < ci; i++) {
                    int64_t v = x[(((long)b * h + iy) * wd + ix) * ci + i] - z1;
                    for (int ky = 0; ky < k_h; ky++) {
                        int oy = iy * stride_h + ky - pad_h;
                        if (oy < 0 || oy >= oh) continue;
                        for (int kx = 0; kx < k_w; kx++) {
                            int ox = ix * stride_w + kx - pad_w;
                            if (ox < 0 || ox >= ow) continue;
                            long dst = (((long)b * oh + oy) * ow + ox) * co;
                            for (int o = 0; o < co; o++) acc[dst + o] += v * w[(((long)o * k_h + ky) * k_w + kx) * ci + i];
                        }
                    }
                }
    for (long j = 0; j < n_out; j++) {
        int o = (int)(j % co);
        y[j] = clamp32((int64_t)requant(wrap32(acc[j] + bias[o]), m0[o], shift[o], rounding[o]) + z3, lo, hi);
    }
}
