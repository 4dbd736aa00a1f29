/* ---- MEAN (TFLite Micro's integer mean; quantlens src/export/c/reduce.c) ----
 * Every input element is added, in input order, to the sum of its output (the element with the reduced
 * dimensions dropped; out_stride[d] = 0 for a reduced dimension d); then
 *   y = clamp(Zout + requant(sum - n * Zin, M0, shift), -128, 127), n = elements per output. */
static inline void ql_mean(int rank, const int32_t *in_shape, const int32_t *out_stride, long n_out, int32_t count, int32_t z_in, int32_t z_out,
                    int32_t m0, int32_t shift, int rounding, int32_t out_min, int32_t out_max, const int32_t *x, int32_t *y, int64_t *sums) {
    long n_in = 1;
    for (int d = 0; d < rank; d++) n_in *= in_shape[d];
    for (long o = 0; o < n_out; o++) sums[o] = 0;
    for (long i = 0; i < n_in; i++) {
        long rest = i, o = 0;
        for (int d = rank - 1; d >= 0; d--) {
            long k = rest % in_shape[d];
            rest /= in_shape[d];
            o += k * out_stride[d];
        }
        sums[o] += x[i];
    }
    for (long o = 0; o < n_out; o++) {
        int32_t centred = wrap32(sums[o] - (int64_t)z_in * count);
        y[o] = clamp32((int64_t)requant(centred, m0, shift, rounding) + z_out, out_min, out_max);
    }
}
