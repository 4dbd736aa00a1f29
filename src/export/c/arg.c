/* ---- ARG_MAX / ARG_MIN (quantlens src/export/c/arg.c) ----
 * Along an axis of length len (outer blocks before it, inner elements after it): the index of the first
 * extreme value; a later element replaces it only when strictly greater (ARG_MAX) or smaller (ARG_MIN). */
static inline void ql_arg(long outer, long len, long inner, int max, const int32_t *x, int32_t *y) {
    for (long o = 0; o < outer; o++) {
        for (long i = 0; i < inner; i++) {
            const int32_t *row = x + o * len * inner + i;
            long best = 0;
            for (long k = 1; k < len; k++) {
                int32_t v = row[k * inner], b = row[best * inner];
                if (max ? v > b : v < b) best = k;
            }
            y[o * inner + i] = (int32_t)best;
        }
    }
}
