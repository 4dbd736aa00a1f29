/* ---- comparisons, logic, SELECT, MAXIMUM / MINIMUM, DIV, reductions and int8 L2_NORMALIZATION
 * (LiteRT's and TFLite Micro's reference kernels; quantlens src/export/c/tops.c) ----
 * Broadcasting is an index map computed at export time: output element i reads a[QL_AT(ia, i)],
 * where a null map means "the same position" (no broadcast). bool tensors are 0 / 1 in int32 buffers.
 * A kernel that returns nonzero met an input outside the op's domain (a zero divisor); the engine
 * refuses the same input, and ql_run_layer returns QL_ERR_INPUT. */
#define QL_AT(map, i) ((map) ? (long)(map)[i] : (i))

/* LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL (cmp 0..5), LOGICAL_AND, LOGICAL_OR (6, 7).
 * With scaled = 1 (int8 / uint8, LiteRT's ComparisonWithScaling) each side is first brought to a common
 * grid: requant((q - Z) * 2^8, M0, shift) in gemmlowp double rounding, M0 * 2^(shift - 31) = S. */
typedef struct {
    int cmp, scaled;
    long n;
    int32_t z_a, m0_a, shift_a, z_b, m0_b, shift_b;
} ql_compare_t;

static inline void ql_compare(const ql_compare_t *p, const int32_t *ia, const int32_t *ib, const int32_t *a, const int32_t *b, int32_t *y) {
    for (long i = 0; i < p->n; i++) {
        int32_t u = a[QL_AT(ia, i)], v = b[QL_AT(ib, i)], r;
        if (p->scaled) {
            u = requant((u - p->z_a) * 256, p->m0_a, p->shift_a, 0);
            v = requant((v - p->z_b) * 256, p->m0_b, p->shift_b, 0);
        }
        switch (p->cmp) {
        case 0: r = u < v; break;
        case 1: r = u <= v; break;
        case 2: r = u > v; break;
        case 3: r = u >= v; break;
        case 4: r = u == v; break;
        case 5: r = u != v; break;
        case 6: r = u && v; break;
        default: r = u || v; break;
        }
        y[i] = r;
    }
}

/* SELECT / SELECT_V2: y = cond ? x : y, values copied in their own dtype (x, y and the output share one grid). */
static inline void ql_select(long n, const int32_t *ic, const int32_t *ix, const int32_t *iy, const int32_t *c, const int32_t *x, const int32_t *y, int32_t *out) {
    for (long i = 0; i < n; i++) out[i] = c[QL_AT(ic, i)] ? x[QL_AT(ix, i)] : y[QL_AT(iy, i)];
}

/* MAXIMUM (max = 1) and MINIMUM on the stored integers (inputs and output share one grid). */
static inline void ql_max_min(long n, int max, const int32_t *ia, const int32_t *ib, const int32_t *a, const int32_t *b, int32_t *y) {
    for (long i = 0; i < n; i++) {
        int32_t u = a[QL_AT(ia, i)], v = b[QL_AT(ib, i)];
        y[i] = max ? (u > v ? u : v) : (u < v ? u : v);
    }
}

/* TFLite's CountLeadingSignBits. */
static inline int leading_sign_bits(int32_t x) {
    if (x >= 0) return count_leading_zeros((uint32_t)x) - 1;
    if (x != INT32_MIN) return count_leading_zeros((uint32_t)(2 * -x + 1)) - 1;
    return 0;
}

/* int8 DIV (LiteRT's DivElementwise): a' = a - Za, b' = b - Zb (both negated when b' < 0);
 * 1/b' = r * 2^-e (GetReciprocal, Q0.31); h = leading sign bits of a'; u = SRDHM(a' * 2^h, r);
 * y = clamp(Zout + requant(u, M0, shift - e - h), lo, hi), M = S_a / (S_b * S_out). */
typedef struct {
    long n;
    int32_t z_a, z_b, z_out, m0, shift, lo, hi;
} ql_div_t;

static inline int ql_div(const ql_div_t *p, const int32_t *ia, const int32_t *ib, const int32_t *a, const int32_t *b, int32_t *y) {
    for (long i = 0; i < p->n; i++) {
        int32_t x = a[QL_AT(ia, i)] - p->z_a, d = b[QL_AT(ib, i)] - p->z_b, r, u, q;
        int e, h;
        if (d == 0) return 1;
        if (d < 0) {
            x = -x;
            d = -d;
        }
        r = get_reciprocal(d, 31, &e);
        h = leading_sign_bits(x);
        u = srdhm(shl_wrap(x, h), r);
        q = requant(u, p->m0, p->shift - e - h, 0);
        y[i] = clamp32((int64_t)q + p->z_out, p->lo, p->hi);
    }
    return 0;
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, ...): M0 rounded to 16 bits, one rounding shift. */
static inline int32_t mbqm64(int64_t x, int32_t m0, int32_t shift) {
    int64_t reduced = m0 < 0x7FFF0000 ? ((int64_t)m0 + (1 << 15)) >> 16 : 0x7FFF;
    int total = 15 - shift;
    uint64_t v = (uint64_t)x * (uint64_t)reduced + ((uint64_t)1 << (total - 1));
    return wrap32((int64_t)v >> total);
}

/* SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD on int8 (fold 0..3): input element i goes, in input order,
 * into output dest[i].
 *   SUM:  s = sum of q (int32, wrapping; as_u8: the bytes read as uint8 and the result clamped to 0..255,
 *         LiteRT 2.3's reference kernel), y = clamp(Zout + requant(s - count * Zin, M0, shift));
 *   MAX / MIN: the raw values (input and output share one grid);
 *   PROD: p = q1 - Zin, p = mbqm64(p * (qk - Zin), M0, shift) for each later element, then
 *         y = clamp(Zout + mbqm64(p, M0, shift)), M0 * 2^(shift - 31) = S_in / S_out^(1/count). */
typedef struct {
    int fold, as_u8;
    long n_in, n_out;
    int32_t count, z_in, z_out, m0, shift;
} ql_reduce_t;

static inline void ql_reduce(const ql_reduce_t *p, const int32_t *dest, const int32_t *x, int32_t *y, int32_t *seen) {
    long i, o;
    for (o = 0; o < p->n_out; o++) {
        seen[o] = 0;
        y[o] = p->fold == 1 ? INT32_MIN : (p->fold == 2 ? INT32_MAX : 0);
    }
    for (i = 0; i < p->n_in; i++) {
        int32_t q = x[i];
        o = dest[i];
        switch (p->fold) {
        case 0: y[o] = wrap32((int64_t)y[o] + (p->as_u8 ? (q & 0xff) : q)); break;
        case 1: if (q > y[o]) y[o] = q; break;
        case 2: if (q < y[o]) y[o] = q; break;
        default:
            y[o] = seen[o] ? mbqm64((int64_t)y[o] * (q - p->z_in), p->m0, p->shift) : q - p->z_in;
            seen[o] = 1;
            break;
        }
    }
    for (o = 0; o < p->n_out; o++) {
        if (p->fold == 0) {
            int32_t lo = p->as_u8 ? 0 : -128, hi = p->as_u8 ? 255 : 127;
            int32_t v = clamp32((int64_t)requant(wrap32((int64_t)y[o] - (int64_t)p->z_in * p->count), p->m0, p->shift, 0) + p->z_out, lo, hi);
            y[o] = (int32_t)(int8_t)(uint8_t)v;
        } else if (p->fold == 3) {
            y[o] = clamp32((int64_t)mbqm64(seen[o] ? y[o] : 1, p->m0, p->shift) + p->z_out, -128, 127);
        }
    }
}

/* 1/sqrt(a) = m * 2^e for a > 1 (TFLite's GetInvSqrtQuantizedMultiplierExp): a normalised into F3,
 * five Newton-Raphson steps x <- 1.5 x - (a/2) x^3 from x = 1, times sqrt(2)/2. */
static inline void inv_sqrt_multiplier_exp(int32_t a, int32_t *m, int32_t *e) {
    int shift = 11, max_left, pairs, k;
    int32_t half_a, x, three_halves = (1 << 28) + (1 << 27), r;
    if (a <= 1) {
        *m = INT32_MAX;
        *e = 0;
        return;
    }
    while (a >= (1 << 29)) {
        a /= 4;
        shift++;
    }
    max_left = count_leading_zeros((uint32_t)a) - 1;
    pairs = max_left / 2 - 1;
    shift -= pairs;
    a = shl_wrap(a, 2 * pairs);
    half_a = sat_rmul_pot(a >> 1, -1);
    x = fp_one(3);
    for (k = 0; k < 5; k++) {
        int32_t x3 = rescale(srdhm(srdhm(x, x), x), 9, 3);
        int32_t t = sub(srdhm(three_halves, x), srdhm(half_a, x3));
        x = rescale(t, 6, 3);
    }
    r = srdhm(x, 1518500250);
    if (shift < 0) {
        r = shl_wrap(r, -shift);
        shift = 0;
    }
    *m = r;
    *e = -shift;
}

/* int8 L2_NORMALIZATION over rows of depth (reference_integer_ops::L2Normalization, output 1/128, 0):
 * acc = sum (q - Z)^2, 1/sqrt(acc) = m * 2^e, y = clamp(requant(q - Z, m, e + 7), -128, 127). */
static inline void ql_l2_norm(long rows, long depth, int32_t z, const int32_t *x, int32_t *y) {
    for (long r = 0; r < rows; r++) {
        const int32_t *row = x + r * depth;
        int32_t acc = 0, m, e;
        for (long i = 0; i < depth; i++) acc = wrap32((int64_t)acc + (row[i] - z) * (row[i] - z));
        inv_sqrt_multiplier_exp(acc, &m, &e);
        for (long i = 0; i < depth; i++) y[r * depth + i] = clamp32(requant(row[i] - z, m, e + 7, 0), -128, 127);
    }
}
