/* The simulation's per-site kernels (derivations/sgd-noise-scaling.md §5, "erf", "Ziggurat
   normals" and "Instruction sets"). No contraction of a * b + c into fused multiply-adds
   unless written: the default variant must round as the Swift kernels do. */
#pragma STDC FP_CONTRACT OFF

#include "CKernels.h"

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

enum { COEFFICIENTS = 8 };  /* per interval: degree 7 */

/* One point of FastErf.evaluate: |x| in interval floor(32 |x|) of [0, 6), Horner in
   t = 2 (32 |x| - interval) - 1 in [-1, 1]; `fused` selects fused multiply-adds. */
static inline __attribute__((always_inline)) double erf_point(double x, const double *table, int fused) {
    double a = fabs(x);
    if (!(a < 6.0)) return isnan(x) ? x : (x < 0 ? -1.0 : 1.0);
    double scaled = a * 32.0;
    int interval = (int)scaled;
    double t = 2 * (scaled - (double)interval) - 1;
    const double *c = table + interval * COEFFICIENTS;
    double p = c[7];
    for (int k = 6; k >= 0; k--) p = fused ? __builtin_fma(p, t, c[k]) : p * t + c[k];
    return x < 0 ? -p : p;
}

static void erf_default(const double *z, double *x, long count, double argument_scale, double output_scale,
                        const double *table) {
    for (long i = 0; i < count; i++) x[i] = output_scale * erf_point(argument_scale * z[i], table, 0);
}

#if defined(__x86_64__)
/* Four points per vector. Each point's 8 coefficients are contiguous (interval-major table):
   two loads per point, then two 4 x 4 transposes give the vectors of c_k across the 4 points
   (cheaper than 8 gathers on the machines measured, derivations/sgd-noise-scaling.md §5). */
__attribute__((target("avx2,fma")))
static inline void transpose4(__m256d r0, __m256d r1, __m256d r2, __m256d r3, __m256d column[4]) {
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    column[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    column[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    column[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    column[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

__attribute__((target("avx2,fma")))
static void erf_avx2(const double *z, double *x, long count, double argument_scale, double output_scale,
                     const double *table) {
    const __m256d argument = _mm256_set1_pd(argument_scale), output = _mm256_set1_pd(output_scale);
    const __m256d six = _mm256_set1_pd(6), perUnit = _mm256_set1_pd(32), two = _mm256_set1_pd(2);
    const __m256d one = _mm256_set1_pd(1), zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0);
    long i = 0;
    for (; i + 4 <= count; i += 4) {
        __m256d xs = _mm256_mul_pd(argument, _mm256_loadu_pd(z + i));
        __m256d a = _mm256_andnot_pd(sign, xs);
        __m256d inside = _mm256_cmp_pd(a, six, _CMP_LT_OQ);
        /* |x| >= 6 and NaN read interval 0; their value is replaced below. */
        __m256d scaled = _mm256_mul_pd(_mm256_and_pd(a, inside), perUnit);
        __m128i interval = _mm256_cvttpd_epi32(scaled);
        __m256d t = _mm256_sub_pd(_mm256_mul_pd(two, _mm256_sub_pd(scaled, _mm256_cvtepi32_pd(interval))), one);
        /* The offsets 8 * interval through general registers (a store and 4 reloads would wait on
           store forwarding). */
        __m128i offset = _mm_slli_epi32(interval, 3);
        uint64_t first = (uint64_t)_mm_cvtsi128_si64(offset), second = (uint64_t)_mm_extract_epi64(offset, 1);
        const double *c0 = table + (uint32_t)first, *c1 = table + (first >> 32);
        const double *c2 = table + (uint32_t)second, *c3 = table + (second >> 32);
        __m256d low[4], high[4];
        transpose4(_mm256_loadu_pd(c0), _mm256_loadu_pd(c1), _mm256_loadu_pd(c2), _mm256_loadu_pd(c3), low);
        transpose4(_mm256_loadu_pd(c0 + 4), _mm256_loadu_pd(c1 + 4), _mm256_loadu_pd(c2 + 4), _mm256_loadu_pd(c3 + 4), high);
        __m256d p = high[3];
        p = _mm256_fmadd_pd(p, t, high[2]);
        p = _mm256_fmadd_pd(p, t, high[1]);
        p = _mm256_fmadd_pd(p, t, high[0]);
        for (int k = 3; k >= 0; k--) p = _mm256_fmadd_pd(p, t, low[k]);
        __m256d magnitude = _mm256_blendv_pd(one, p, inside);
        magnitude = _mm256_blendv_pd(magnitude, xs, _mm256_cmp_pd(xs, xs, _CMP_UNORD_Q));
        __m256d negative = _mm256_cmp_pd(xs, zero, _CMP_LT_OQ);
        magnitude = _mm256_xor_pd(magnitude, _mm256_and_pd(negative, sign));
        _mm256_storeu_pd(x + i, _mm256_mul_pd(output, magnitude));
    }
    for (; i < count; i++) x[i] = output_scale * erf_point(argument_scale * z[i], table, 1);
}

/* Eight points per vector, the last partial vector under a mask: one 64-byte load per point
   (its 8 coefficients) and an 8 x 8 transpose (24 shuffles) instead of 8 gathers. */
__attribute__((target("avx512f")))
static inline void transpose8(const __m512d r[8], __m512d column[8]) {
    __m512d t[8], u[8];
    for (int j = 0; j < 4; j++) {
        t[2 * j] = _mm512_unpacklo_pd(r[2 * j], r[2 * j + 1]);      /* c0 c2 c4 c6 of points 2j, 2j+1 */
        t[2 * j + 1] = _mm512_unpackhi_pd(r[2 * j], r[2 * j + 1]);  /* c1 c3 c5 c7 */
    }
    for (int h = 0; h < 2; h++) {  /* points 0-3, then 4-7 */
        u[4 * h] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0x88);          /* c0 c4 */
        u[4 * h + 1] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0xDD);      /* c2 c6 */
        u[4 * h + 2] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0x88);  /* c1 c5 */
        u[4 * h + 3] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0xDD);  /* c3 c7 */
    }
    column[0] = _mm512_shuffle_f64x2(u[0], u[4], 0x88);
    column[4] = _mm512_shuffle_f64x2(u[0], u[4], 0xDD);
    column[2] = _mm512_shuffle_f64x2(u[1], u[5], 0x88);
    column[6] = _mm512_shuffle_f64x2(u[1], u[5], 0xDD);
    column[1] = _mm512_shuffle_f64x2(u[2], u[6], 0x88);
    column[5] = _mm512_shuffle_f64x2(u[2], u[6], 0xDD);
    column[3] = _mm512_shuffle_f64x2(u[3], u[7], 0x88);
    column[7] = _mm512_shuffle_f64x2(u[3], u[7], 0xDD);
}

__attribute__((target("avx512f")))
static void erf_avx512(const double *z, double *x, long count, double argument_scale, double output_scale,
                       const double *table) {
    const __m512d argument = _mm512_set1_pd(argument_scale), output = _mm512_set1_pd(output_scale);
    const __m512d six = _mm512_set1_pd(6), perUnit = _mm512_set1_pd(32), two = _mm512_set1_pd(2);
    const __m512d one = _mm512_set1_pd(1), zero = _mm512_setzero_pd();
    const __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000ULL);
    for (long i = 0; i < count; i += 8) {
        __mmask8 lanes = count - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (count - i)) - 1);
        __m512d xs = _mm512_mul_pd(argument, _mm512_maskz_loadu_pd(lanes, z + i));
        __m512d a = _mm512_abs_pd(xs);
        /* |x| >= 6, NaN and the lanes past the end read interval 0; their value is replaced or dropped. */
        __mmask8 inside = _mm512_cmp_pd_mask(a, six, _CMP_LT_OQ);
        __m512d scaled = _mm512_mul_pd(_mm512_maskz_mov_pd(inside, a), perUnit);
        __m256i interval = _mm512_cvttpd_epi32(scaled);
        __m512d t = _mm512_sub_pd(_mm512_mul_pd(two, _mm512_sub_pd(scaled, _mm512_cvtepi32_pd(interval))), one);
        /* The offsets 8 * interval through general registers (a store and 8 reloads would wait on
           store forwarding). */
        __m256i offset = _mm256_slli_epi32(interval, 3);
        __m512d rows[8], c[8];
        uint64_t pairs[4] = {(uint64_t)_mm256_extract_epi64(offset, 0), (uint64_t)_mm256_extract_epi64(offset, 1),
                             (uint64_t)_mm256_extract_epi64(offset, 2), (uint64_t)_mm256_extract_epi64(offset, 3)};
        for (int j = 0; j < 4; j++) {
            rows[2 * j] = _mm512_loadu_pd(table + (uint32_t)pairs[j]);
            rows[2 * j + 1] = _mm512_loadu_pd(table + (pairs[j] >> 32));
        }
        transpose8(rows, c);
        __m512d p = c[7];
        for (int k = 6; k >= 0; k--) p = _mm512_fmadd_pd(p, t, c[k]);
        __m512d magnitude = _mm512_mask_blend_pd(inside, one, p);
        magnitude = _mm512_mask_mov_pd(magnitude, _mm512_cmp_pd_mask(xs, xs, _CMP_UNORD_Q), xs);
        __mmask8 negative = _mm512_cmp_pd_mask(xs, zero, _CMP_LT_OQ);
        magnitude = _mm512_castsi512_pd(_mm512_mask_xor_epi64(_mm512_castpd_si512(magnitude), negative,
                                                              _mm512_castpd_si512(magnitude), sign));
        _mm512_mask_storeu_pd(x + i, lanes, _mm512_mul_pd(output, magnitude));
    }
}

/* Which state components the operating system saves (XCR0), read without the xsave target. */
static uint64_t enabled_state(void) {
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
}
#endif

int convemerge_isa_supported(convemerge_isa isa) {
    if (isa == CONVEMERGE_ISA_DEFAULT) return 1;
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    uint64_t state = enabled_state();
    if ((state & 0x6) != 0x6) return 0;  /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int avx2 = (ebx >> 5) & 1, avx512f = (ebx >> 16) & 1;
    switch (isa) {
    case CONVEMERGE_ISA_AVX2_FMA: return avx2;
    case CONVEMERGE_ISA_AVX512F: return avx512f && (state & 0xE0) == 0xE0;  /* opmask, ZMM state */
    default: return 0;
    }
#else
    return 0;
#endif
}

convemerge_isa convemerge_isa_best(void) {
    if (convemerge_isa_supported(CONVEMERGE_ISA_AVX512F)) return CONVEMERGE_ISA_AVX512F;
    if (convemerge_isa_supported(CONVEMERGE_ISA_AVX2_FMA)) return CONVEMERGE_ISA_AVX2_FMA;
    return CONVEMERGE_ISA_DEFAULT;
}

const char *convemerge_isa_name(convemerge_isa isa) {
    switch (isa) {
    case CONVEMERGE_ISA_AVX2_FMA: return "avx2+fma";
    case CONVEMERGE_ISA_AVX512F: return "avx512f";
    default: return "default";
    }
}

void convemerge_erf_table(convemerge_isa isa, const double *z, double *x, long count,
                          double argument_scale, double output_scale, const double *table) {
    switch (isa) {
#if defined(__x86_64__)
    case CONVEMERGE_ISA_AVX2_FMA: erf_avx2(z, x, count, argument_scale, output_scale, table); return;
    case CONVEMERGE_ISA_AVX512F: erf_avx512(z, x, count, argument_scale, output_scale, table); return;
#endif
    default: erf_default(z, x, count, argument_scale, output_scale, table); return;
    }
}

/* xoshiro256** (Blackman & Vigna), as Xoshiro256.next. */
static inline uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next_bits(uint64_t s[4]) {
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

static inline double next_open_uniform(uint64_t s[4]) { return ((double)(next_bits(s) >> 11) + 0.5) * 0x1.0p-53; }

/* The wedge and tail draws of Xoshiro256.zigguratSlowPath; 0 means rejected, draw again. */
static __attribute__((noinline)) int ziggurat_slow_path(uint64_t s[4], double u, int layer, const double *table,
                                                        double *value) {
    if (layer == 0) {
        /* Marsaglia's tail algorithm beyond R = x_1. */
        double r = table[1], x, y;
        do {
            x = log(next_open_uniform(s)) / r;
            y = log(next_open_uniform(s));
        } while (-2 * y < x * x);
        *value = u < 0 ? x - r : r - x;
        return 1;
    }
    double x = u * table[layer];
    double f0 = exp(-0.5 * (table[layer] * table[layer] - x * x));
    double f1 = exp(-0.5 * (table[layer + 1] * table[layer + 1] - x * x));
    *value = x;
    return f1 + next_open_uniform(s) * (f0 - f1) < 1;
}

void convemerge_fill_ziggurat(uint64_t state[4], double *buffer, long count, const double *table) {
    /* The state in a local whose address never escapes (registers) on the fast path; the rare
       slow path runs on a copy in memory, as the Swift kernel does. */
    struct { uint64_t s[4]; } generator = {{state[0], state[1], state[2], state[3]}};
    const double *ratios = table + 129;
    for (long k = 0; k < count; k++) {
        for (;;) {
            uint64_t bits = next_bits(generator.s);
            /* Top 53 bits give u in (-1, 1); the low 7 bits, unused by u, the layer. */
            double u = 2 * (((double)(bits >> 11) + 0.5) * 0x1.0p-53) - 1;
            int layer = (int)(bits & 0x7F);
            if (fabs(u) < ratios[layer]) {
                buffer[k] = u * table[layer];
                break;
            }
            uint64_t copy[4] = {generator.s[0], generator.s[1], generator.s[2], generator.s[3]};
            double value;
            int accepted = ziggurat_slow_path(copy, u, layer, table, &value);
            for (int j = 0; j < 4; j++) generator.s[j] = copy[j];
            if (accepted) {
                buffer[k] = value;
                break;
            }
        }
    }
    for (int j = 0; j < 4; j++) state[j] = generator.s[j];
}

/* The montecarlo closure's one pass (derivations/monte-carlo-closure.md, "C kernel"). One
   body, inlined into a function per instruction set: the compiler vectorises its fixed lanes
   (the 8 partial sums of the dot product, the axpy) with that set's registers, and `fused`
   selects explicit fused multiply-adds. The lanes and their summation tree are written out,
   so no variant's result depends on how the compiler vectorises. */
#define MC_LANES 8

#define MC_RELU_PASS_BODY(ROW_TYPE, fused)                                                          \
    for (long i = 0; i < d; i++) accumulator[i] = 0;                                               \
    long vector_end = d & ~(long)(MC_LANES - 1);                                                   \
    for (long m = 0; m < count; m++) {                                                             \
        const ROW_TYPE *row = rows + m * d;                                                        \
        double s[MC_LANES] = {0};                                                                  \
        for (long i = 0; i < vector_end; i += MC_LANES)                                            \
            for (int k = 0; k < MC_LANES; k++)                                                     \
                s[k] = (fused) ? __builtin_fma((double)row[i + k], w[i + k], s[k])                 \
                               : s[k] + (double)row[i + k] * w[i + k];                             \
        double lambda = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));         \
        for (long i = vector_end; i < d; i++) lambda += (double)row[i] * w[i];                     \
        /* relu: (y - relu(x)) relu'(x) with x = lambda + b, as ErrorSignal to the bit. */         \
        double x = lambda * scale + bias;                                                          \
        if (!(x > 0)) continue;                                                                    \
        double h = target - x;                                                                     \
        if (h == 0) continue;                                                                      \
        for (long i = 0; i < d; i++)                                                               \
            accumulator[i] = (fused) ? __builtin_fma(h, (double)row[i], accumulator[i])            \
                                     : accumulator[i] + h * (double)row[i];                        \
    }

#define MC_RELU_PASS_FUNCTION(NAME, ROW_TYPE, fused, ...)                                           \
    __VA_ARGS__ static void NAME(const ROW_TYPE *restrict rows, long count, long d,                \
                                 const double *restrict w, double scale, double bias, double target, \
                                 double *restrict accumulator) {                                   \
        MC_RELU_PASS_BODY(ROW_TYPE, fused)                                                         \
    }

MC_RELU_PASS_FUNCTION(mc_relu_pass_double_default, double, 0)
MC_RELU_PASS_FUNCTION(mc_relu_pass_float_default, float, 0)
#if defined(__x86_64__)
MC_RELU_PASS_FUNCTION(mc_relu_pass_double_avx2, double, 1, __attribute__((target("avx2,fma"))))
MC_RELU_PASS_FUNCTION(mc_relu_pass_float_avx2, float, 1, __attribute__((target("avx2,fma"))))
MC_RELU_PASS_FUNCTION(mc_relu_pass_double_avx512, double, 1, __attribute__((target("avx512f"))))
MC_RELU_PASS_FUNCTION(mc_relu_pass_float_avx512, float, 1, __attribute__((target("avx512f"))))
#endif

void convemerge_mc_relu_pass_double(convemerge_isa isa, const double *rows, long count, long d, const double *w,
                                    double scale, double bias, double target, double *accumulator) {
    switch (isa) {
#if defined(__x86_64__)
    case CONVEMERGE_ISA_AVX2_FMA: mc_relu_pass_double_avx2(rows, count, d, w, scale, bias, target, accumulator); return;
    case CONVEMERGE_ISA_AVX512F: mc_relu_pass_double_avx512(rows, count, d, w, scale, bias, target, accumulator); return;
#endif
    default: mc_relu_pass_double_default(rows, count, d, w, scale, bias, target, accumulator); return;
    }
}

void convemerge_mc_relu_pass_float(convemerge_isa isa, const float *rows, long count, long d, const double *w,
                                   double scale, double bias, double target, double *accumulator) {
    switch (isa) {
#if defined(__x86_64__)
    case CONVEMERGE_ISA_AVX2_FMA: mc_relu_pass_float_avx2(rows, count, d, w, scale, bias, target, accumulator); return;
    case CONVEMERGE_ISA_AVX512F: mc_relu_pass_float_avx512(rows, count, d, w, scale, bias, target, accumulator); return;
#endif
    default: mc_relu_pass_float_default(rows, count, d, w, scale, bias, target, accumulator); return;
    }
}

void convemerge_mc_relu_plain_double(const double *rows, long count, long d, const double *w,
                                     double scale, double bias, double target, double *accumulator) {
    for (long i = 0; i < d; i++) accumulator[i] = 0;
    for (long m = 0; m < count; m++) {
        const double *row = rows + m * d;
        double lambda = 0;
        for (long i = 0; i < d; i++) lambda += row[i] * w[i];
        double x = lambda * scale + bias;
        if (x > 0)
            for (long i = 0; i < d; i++) accumulator[i] += (target - x) * row[i];
    }
}
