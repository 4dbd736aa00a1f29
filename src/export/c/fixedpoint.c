/* ---- shared integer helpers (quantlens src/export/c/fixedpoint.c) ----
 * ql_get, gemmlowp's SaturatingRoundingDoublingHighMul (srdhm) and
 * RoundingDivideByPOT (rdbpot), and MultiplyByQuantizedMultiplier (requant)
 * under the exported rounding rule; emitted once per model.c. */
#include <stdint.h>
#include <string.h>
/* Element i of a stored array of the given dtype code (1 int8, 2 uint8, 3 int16, 4 int32); for code 5
 * (float32) the element's bits, so that floats are compared bit for bit. */
int32_t ql_get(const void *p, int dtype, long i) {
    switch (dtype) {
    case 1: return ((const int8_t *)p)[i];
    case 2: return ((const uint8_t *)p)[i];
    case 3: return ((const int16_t *)p)[i];
    case 5: {
        uint32_t bits;
        memcpy(&bits, (const unsigned char *)p + 4 * i, sizeof bits); /* the 4 bytes of a float */
        return (int32_t)bits;
    }
    default: return ((const int32_t *)p)[i];
    }
}

static inline int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties toward +inf. */
static inline int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31)); /* C division truncates toward zero */
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. */
static inline int32_t rdbpot(int32_t x, int e) {
    int32_t mask = (int32_t)((1LL << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static inline int32_t shl_wrap(int32_t x, int left) { return (int32_t)((uint32_t)x << left); }

/* acc * M0 * 2^(shift - 31) under the exported rounding rule. */
static inline int32_t requant(int32_t acc, int32_t m0, int32_t shift, int rounding) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    if (right > 31) right = 31;
    switch (rounding) {
    case 0: /* TFLM / gemmlowp: double rounding */
        return rdbpot(srdhm(shl_wrap(acc, left), m0), right);
    case 1: { /* high-mul, then shift rounding ties up */
        int64_t h = srdhm(shl_wrap(acc, left), m0);
        return right == 0 ? (int32_t)h : (int32_t)((h + (1LL << (right - 1))) >> right);
    }
    case 2: { /* single rounding ties up */
        int ts = 31 - shift;
        int64_t p = (int64_t)acc * (int64_t)m0;
        int64_t v = ts <= 0 ? p : ((p + (1LL << (ts - 1))) >> ts);
        if (v > INT32_MAX) v = INT32_MAX;
        if (v < INT32_MIN) v = INT32_MIN;
        return (int32_t)v;
    }
    default: /* codes 3 and 4 need floating point: ql_run_layer refuses them before calling */
        return 0;
    }
}

static inline int32_t clamp32(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : (int32_t)v); }

