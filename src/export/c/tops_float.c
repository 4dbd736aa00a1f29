/* ---- CAST, RESHAPE, SELECT and CONCATENATION across float32 buffers (quantlens src/export/c/tops_float.c) ----
 * CAST is C++'s static_cast as the engine does it: an integer or bool to float32 is (float)x (rounded to
 * nearest even), float32 to bool is x != 0, float32 to an integer truncates toward zero, saturated to the
 * int64 range (NaN -> 0), then wraps to the target type like integer to integer casts do.
 * Target codes ("to"): 1 int8, 2 uint8, 4 int32, 6 bool. */
static inline int32_t ql_narrow(int64_t v, int to) {
    switch (to) {
    case 1: return (int32_t)(int8_t)(uint8_t)(uint64_t)v;
    case 2: return (int32_t)(uint8_t)(uint64_t)v;
    case 6: return v != 0;
    default: return wrap32(v);
    }
}

static inline void ql_cast_int_float(long n, const int32_t *x, float *y) {
    for (long i = 0; i < n; i++) y[i] = (float)x[i];
}

static inline void ql_cast_int_int(long n, int to, const int32_t *x, int32_t *y) {
    for (long i = 0; i < n; i++) y[i] = ql_narrow(x[i], to);
}

static inline void ql_cast_float_int(long n, int to, const float *x, int32_t *y) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        int64_t t;
        if (to == 6) {
            y[i] = v != 0.0f;
            continue;
        }
        if (v != v) t = 0;
        else if (v >= 9223372036854775807.0f) t = INT64_MAX;
        else if (v <= -9223372036854775808.0f) t = INT64_MIN;
        else t = (int64_t)v;
        y[i] = ql_narrow(t, to);
    }
}

/* RESHAPE of a float32 tensor: the same values under a new shape. */
static inline void ql_copy_f32(long n, const float *x, float *y) {
    for (long i = 0; i < n; i++) y[i] = x[i];
}

/* SELECT / SELECT_V2 on float32 values (bool condition 0 / 1; index maps as ql_select's). */
static inline void ql_select_f32(long n, const int32_t *ic, const int32_t *ix, const int32_t *iy, const int32_t *c, const float *x, const float *y, float *out) {
    for (long i = 0; i < n; i++) out[i] = c[QL_AT(ic, i)] ? x[QL_AT(ix, i)] : y[QL_AT(iy, i)];
}

/* CONCATENATION of float32 tensors: for each of `outer` blocks, chunk[j] elements of input j in turn. */
static inline void ql_interleave_f32(long outer, int k, const int32_t *chunk, const float *const *src, float *y) {
    long o = 0;
    for (long b = 0; b < outer; b++)
        for (int j = 0; j < k; j++)
            for (int i = 0; i < chunk[j]; i++) y[o++] = src[j][b * chunk[j] + i];
}
