/* ---- CONV_2D, DEPTHWISE_CONV_2D and the pools (TFLite Micro's reference integer kernels;
 * quantlens src/export/c/conv.c) ----
 * Output (b, oy, ox, oc) reads the window whose top-left tap is at
 * (oy*stride_h - pad_h, ox*stride_w - pad_w), taps dil_h / dil_w apart. Taps outside the
 * input are skipped (TFLM's `is_point_inside_image`), which equals reading Z1 there.
 *   conv:      acc = sum_{ky,kx,ic} (x - Z1) * (W[oc][ky][kx][ic] - Z2)
 *   depthwise: acc = sum_{ky,kx} (x[ic] - Z1) * (W[0][ky][kx][oc] - Z2), ic = oc / depth_multiplier
 * W is int8 with Z2 = 0, or (w_u8, a legacy uint8 model) uint8 with its zero point Z2.
 *   y = clamp(Z3 + requant(acc + bias[oc], M0[oc], shift[oc]), act_min, act_max)
 * The int32 sums wrap as TFLM's do: they are kept in 64 bits and wrapped once (same value mod 2^32).
 * MAX_POOL_2D: the largest in-bounds tap; AVERAGE_POOL_2D: the sum over the in-bounds taps divided
 * by their count, rounded half away from zero; both clamped to [act_min, act_max]. */
typedef struct {
    int batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, depth_multiplier;
    int32_t z1, z3, act_min, act_max;
    int rounding;
    int32_t z2;
    int w_u8;
} ql_window_t;

static inline void ql_conv(const ql_window_t *g, int depthwise, const void *w, const int32_t *bias, const int32_t *m0,
                    const int32_t *shift, const int32_t *x, int32_t *y) {
    long o = 0;
    for (int b = 0; b < g->batches; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++)
                for (int oc = 0; oc < g->out_c; oc++) {
                    int64_t acc = 0;
                    int ic0 = depthwise ? oc / g->depth_multiplier : 0;
                    for (int ky = 0; ky < g->k_h; ky++) {
                        int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        for (int kx = 0; kx < g->k_w; kx++) {
                            int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) continue;
                            const int32_t *xp = x + (((long)b * g->in_h + iy) * g->in_w + ix) * g->in_c;
                            if (depthwise) {
                                long i = ((long)ky * g->k_w + kx) * g->out_c + oc;
                                int32_t wv = g->w_u8 ? ((const uint8_t *)w)[i] - g->z2 : ((const int8_t *)w)[i];
                                acc += (int64_t)(xp[ic0] - g->z1) * wv;
                            } else if (g->w_u8) {
                                const uint8_t *wp = (const uint8_t *)w + (((long)oc * g->k_h + ky) * g->k_w + kx) * g->in_c;
                                for (int ic = 0; ic < g->in_c; ic++) acc += (int64_t)(xp[ic] - g->z1) * (wp[ic] - g->z2);
                            } else {
                                const int8_t *wp = (const int8_t *)w + (((long)oc * g->k_h + ky) * g->k_w + kx) * g->in_c;
                                for (int ic = 0; ic < g->in_c; ic++) acc += (int64_t)(xp[ic] - g->z1) * wp[ic];
                            }
                        }
                    }
                    int32_t a = wrap32(acc + bias[oc]);
                    y[o++] = clamp32((int64_t)requant(a, m0[oc], shift[oc], g->rounding) + g->z3, g->act_min, g->act_max);
                }
}

static inline void ql_pool(const ql_window_t *g, int average, const int32_t *x, int32_t *y) {
    long o = 0;
    for (int b = 0; b < g->batches; b++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++)
                for (int c = 0; c < g->out_c; c++) {
                    int32_t sum = 0, max = INT32_MIN, count = 0;
                    for (int ky = 0; ky < g->k_h; ky++) {
                        int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        for (int kx = 0; kx < g->k_w; kx++) {
                            int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) continue;
                            int32_t v = x[(((long)b * g->in_h + iy) * g->in_w + ix) * g->in_c + c];
                            sum += v;
                            if (v > max) max = v;
                            count++;
                        }
                    }
                    int32_t r = max;
                    if (average) r = count == 0 ? 0 : (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
                    y[o++] = clamp32(r, g->act_min, g->act_max);
                }
}
