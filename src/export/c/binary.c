/* ---- ADD, SUB and MUL with broadcasting (TFLite Micro's reference integer kernels;
 * quantlens src/export/c/binary.c) ----
 * ADD/SUB (the left-shift recipe): both inputs centred and shifted up by LEFT_SHIFT (20 for int8),
 *   a' = requant((a - Za) << LS, Ma), b' = requant((b - Zb) << LS, Mb),
 *   y = clamp(Zout + requant(a' + sign_b * b', Mout), act_min, act_max), sign_b = -1 for SUB.
 * MUL: y = clamp(Zout + requant((a - Za) * (b - Zb), M), act_min, act_max).
 * SQUARED_DIFFERENCE (int8, LiteRT's reference): a', b' as for ADD with LS = 7, d = a' - b',
 *   y = clamp(Zout + requant(d * d, Mout), -128, 127) (d * d wrapping to 32 bits).
 * kind: 0 ADD/SUB, 1 MUL, 2 SQUARED_DIFFERENCE.
 * Output element i reads a[sum_d k_d * a_stride[d]] and b[sum_d k_d * b_stride[d]], k its index
 * along each output dimension (stride 0 where an input broadcasts). */
typedef struct {
    int kind, rank;
    long n;
    int shape[6], a_stride[6], b_stride[6];
    int32_t z_a, z_b, z_out, act_min, act_max;
    int left_shift, sign_b, rounding;
    int32_t m0_a, shift_a, m0_b, shift_b, m0, shift;
} ql_binary_t;

static inline void ql_binary(const ql_binary_t *p, const int32_t *a, const int32_t *b, int32_t *y) {
    for (long i = 0; i < p->n; i++) {
        long rest = i, ia = 0, ib = 0;
        for (int d = p->rank - 1; d >= 0; d--) {
            long k = rest % p->shape[d];
            rest /= p->shape[d];
            ia += k * p->a_stride[d];
            ib += k * p->b_stride[d];
        }
        int32_t r;
        if (p->kind == 1) {
            r = requant(wrap32((int64_t)(a[ia] - p->z_a) * (b[ib] - p->z_b)), p->m0, p->shift, p->rounding);
        } else {
            int32_t sa = requant(shl_wrap(a[ia] - p->z_a, p->left_shift), p->m0_a, p->shift_a, p->rounding);
            int32_t sb = requant(shl_wrap(b[ib] - p->z_b, p->left_shift), p->m0_b, p->shift_b, p->rounding);
            int64_t d = (int64_t)sa - (int64_t)sb;
            r = p->kind == 2 ? requant(wrap32(d * d), p->m0, p->shift, p->rounding)
                             : requant(wrap32((int64_t)sa + (int64_t)p->sign_b * sb), p->m0, p->shift, p->rounding);
        }
        y[i] = clamp32((int64_t)r + p->z_out, p->act_min, p->act_max);
    }
}
