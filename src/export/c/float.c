/* ---- QUANTIZE from float32 and DEQUANTIZE to float32 (quantlens src/export/c/float.c) ----
 * Compile with -ffp-contract=off (no fused multiply-add the runtimes do not do) and link with -lm.
 * ql_quantize_f32: TFLite Micro's AffineQuantize, q = clamp(round(r / S) + Z, lo, hi): the f32 quotient
 *   r / S, rounded half away from zero (roundf); NaN counts as 0; a quotient beyond the integer range
 *   (and +-inf) clamps. */
#include <math.h>
static inline void ql_quantize_f32(long n, float s, int32_t z, int32_t lo, int32_t hi, const float *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        double q = (double)roundf(x[i] / s);
        if (q != q) q = 0.0;
        q += z;
        y[i] = q < lo ? lo : (q > hi ? hi : (int32_t)q);
    }
}

/* ql_dequantize_f32: r = S * (q - Z) in f32. method 0 (TFLite Micro, LiteRT reference, XNNPACK): the
 * product rounded once to f32 (exact in double, then rounded); method 1 (LiteRT's optimized NEON kernel):
 * f32(q) * S + f32(-Z * S), a multiply then an add, eight elements at a time, the last n mod 8 as method 0. */
static inline void ql_dequantize_f32(long n, float s, int32_t z, int method, const int32_t *x, float *y) {
    long i = 0;
    if (method == 1) {
        float zs = (float)(-(double)z * (double)s);
        for (; i < n - n % 8; i++) y[i] = (float)x[i] * s + zs;
    }
    for (; i < n; i++) y[i] = (float)((double)s * (double)(x[i] - z));
}
