#ifndef CONVEMERGE_CKERNELS_H
#define CONVEMERGE_CKERNELS_H

#include <stdint.h>

/* The simulation's two per-site kernels in C, each erf pass compiled for several x86-64
   instruction sets and chosen at run time (the Swift package is built for baseline x86-64).
   Formulas: derivations/sgd-noise-scaling.md §5. */

/* Instruction-set variants of the erf pass. DEFAULT is plain C (SSE2, no FMA): the Swift
   kernel bit for bit. The others use fused multiply-adds and gathers, so the last bit of an
   erf value may differ; the error bound holds for each (SGDStepTests). */
typedef enum {
    CONVEMERGE_ISA_DEFAULT = 0,
    CONVEMERGE_ISA_AVX2_FMA = 1,
    CONVEMERGE_ISA_AVX512F = 2,
} convemerge_isa;

/* 1 if this CPU and operating system can run `isa` (cpuid and xgetbv), else 0. */
int convemerge_isa_supported(convemerge_isa isa);

/* The widest supported variant: what the sampler uses. */
convemerge_isa convemerge_isa_best(void);

/* "default", "avx2+fma", "avx512f". */
const char *convemerge_isa_name(convemerge_isa isa);

/* x_i = output_scale * erf(argument_scale * z_i) for i < count (x may alias z) by the
   piecewise table of FastErf: 8 coefficients per interval, interval-major, 192 intervals of
   width 1/32 on [0, 6); +-1 beyond 6, NaN for NaN. `isa` must be supported. */
void convemerge_erf_table(convemerge_isa isa, const double *z, double *x, long count,
                          double argument_scale, double output_scale, const double *table);

/* `count` N(0, 1) deviates by the ziggurat of Ziggurat.table (x_0 ... x_128, then the 128
   ratios), from the xoshiro256** state[4], which it advances: the Swift
   `fillZigguratGaussian` bit for bit, draw for draw. */
void convemerge_fill_ziggurat(uint64_t state[4], double *buffer, long count, const double *table);

/* The montecarlo closure's one pass over rows [0, count) of a row-major count x d sample
   (derivations/monte-carlo-closure.md, "C kernel"): for each row x, lambda = (w.x) * scale,
   h = target - (lambda + bias) where lambda + bias > 0, else 0 (relu's error signal), then
   accumulator += h x. The accumulator is cleared first. The dot product runs in 8 partial sums
   summed in a fixed tree, so each variant's result depends on the rows alone; the fused
   variants round the products and the axpy once (FMA), so their last bits may differ from
   DEFAULT's. `isa` must be supported. */
void convemerge_mc_relu_pass_double(convemerge_isa isa, const double *rows, long count, long d, const double *w,
                                    double scale, double bias, double target, double *accumulator);
void convemerge_mc_relu_pass_float(convemerge_isa isa, const float *rows, long count, long d, const double *w,
                                   double scale, double bias, double target, double *accumulator);

/* The same sum by the plainest one-pass loop (one scalar accumulator per dot product, scalar
   axpy, plain C as in the reference): the benchmark's baseline, not used by solves. */
void convemerge_mc_relu_plain_double(const double *rows, long count, long d, const double *w,
                                     double scale, double bias, double target, double *accumulator);

#endif
