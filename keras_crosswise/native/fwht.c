/* keras-crosswise's native fast Walsh-Hadamard transform (CPU, float32 and
 * float64): dst = scale * src @ H_n over the last axis, rows after rows,
 * single-threaded. Built on first use by keras_crosswise.native (see there);
 * called from JAX through XLA's FFI (fwht_jax.cc) and from PyTorch through
 * ctypes under a torch.library custom op.
 *
 * The ideas are FFHT's (Andoni et al., 2015): transform inside vector
 * registers first, then block the remaining stages to the L1 cache, several
 * stages per pass over memory. The code is our own (fwht_kernel.h).
 *
 * Variants: a portable one (16-byte vectors: SSE2 on x86-64, NEON on arm64,
 * scalar code elsewhere), and on x86-64 AVX2 and AVX-512 ones chosen at run
 * time from what the CPU supports (crosswise_fwht_select).
 */
#include <stdint.h>
#include <string.h>

#define FWHT_BLOCK_BYTES 16384 /* a block of stages stays in a 32 KiB L1 */

#if !defined(__GNUC__)
#error "keras-crosswise's native kernel needs GCC or Clang vector extensions"
#endif

#define K_T float
#define K_INDEX int32_t
#define K_LANES 4
#define K_NAME f32_portable
#define K_TARGET
#include "fwht_kernel.h"

#define K_T double
#define K_INDEX int64_t
#define K_LANES 2
#define K_NAME f64_portable
#define K_TARGET
#include "fwht_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#define FWHT_X86 1

#define K_T float
#define K_INDEX int32_t
#define K_LANES 8
#define K_NAME f32_avx2
#define K_TARGET __attribute__((target("avx2,fma")))
#include "fwht_kernel.h"

#define K_T double
#define K_INDEX int64_t
#define K_LANES 4
#define K_NAME f64_avx2
#define K_TARGET __attribute__((target("avx2,fma")))
#include "fwht_kernel.h"

#define K_T float
#define K_INDEX int32_t
#define K_LANES 16
#define K_NAME f32_avx512
#define K_TARGET __attribute__((target("avx512f")))
#include "fwht_kernel.h"

#define K_T double
#define K_INDEX int64_t
#define K_LANES 8
#define K_NAME f64_avx512
#define K_TARGET __attribute__((target("avx512f")))
#include "fwht_kernel.h"
#endif

/* Rows shorter than a vector: plain butterflies. */
#define SCALAR_ROWS(T, NAME)                                                   \
  static void NAME(const T *src, T *dst, int64_t rows, int64_t n, T scale,     \
                   const T *diag, int64_t diag_rows, const int32_t *perm) {    \
    for (int64_t r = 0; r < rows; r++) {                                       \
      T *out = dst + r * n;                                                    \
      const T *d = diag ? diag + (r % diag_rows) * n : 0;                      \
      const int32_t *p = perm ? perm + (r % diag_rows) * n : 0;                \
      for (int64_t i = 0; i < n; i++)                                          \
        out[i] = src[r * n + (p ? p[i] : i)] * scale * (d ? d[i] : (T)1);      \
      for (int64_t h = 1; h < n; h <<= 1)                                      \
        for (int64_t base = 0; base < n; base += 2 * h)                        \
          for (int64_t j = base; j < base + h; j++) {                          \
            T a = out[j], b = out[j + h];                                      \
            out[j] = a + b;                                                    \
            out[j + h] = a - b;                                                \
          }                                                                    \
    }                                                                          \
  }
SCALAR_ROWS(float, rows_f32_scalar)
SCALAR_ROWS(double, rows_f64_scalar)

typedef void (*rows_f32_fn)(const float *, float *, int64_t, int64_t, float,
                            const float *, int64_t, const int32_t *);
typedef void (*rows_f64_fn)(const double *, double *, int64_t, int64_t, double,
                            const double *, int64_t, const int32_t *);

enum { LEVEL_PORTABLE = 0, LEVEL_AVX2 = 1, LEVEL_AVX512 = 2 };
static const char *const LEVEL_NAMES[] = {"portable", "avx2", "avx512"};
static const int LANES_F32[] = {4, 8, 16}, LANES_F64[] = {2, 4, 8};
static const rows_f32_fn ROWS_F32[] = {
    rows_f32_portable,
#ifdef FWHT_X86
    rows_f32_avx2, rows_f32_avx512,
#endif
};
static const rows_f64_fn ROWS_F64[] = {
    rows_f64_portable,
#ifdef FWHT_X86
    rows_f64_avx2, rows_f64_avx512,
#endif
};

/* The widest instruction set this CPU runs. */
int crosswise_fwht_best_level(void) {
#ifdef FWHT_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return LEVEL_AVX512;
  if (__builtin_cpu_supports("avx2")) return LEVEL_AVX2;
#endif
  return LEVEL_PORTABLE;
}

static int level = -1; /* set by crosswise_fwht_select, else on first call */

/* Use `wanted` (0 portable, 1 AVX2, 2 AVX-512), or the best the CPU runs if it
 * runs less or `wanted` < 0. Returns the level now in use. */
int crosswise_fwht_select(int wanted) {
  int best = crosswise_fwht_best_level();
  level = (wanted < 0 || wanted > best) ? best : wanted;
  return level;
}

const char *crosswise_fwht_level_name(int which) {
  return (which >= 0 && which <= LEVEL_AVX512) ? LEVEL_NAMES[which] : "unknown";
}

int crosswise_fwht_level(void) {
  if (level < 0) crosswise_fwht_select(-1);
  return level;
}

static int bad_sizes(int64_t rows, int64_t n, int64_t blocks) {
  return rows < 0 || n < 1 || (n & (n - 1)) != 0 || blocks < 1;
}

/* Whether an index of the (blocks, n) `perm` is outside 0 .. n-1: a gather by
 * it would read outside its row. Never trusted: O(blocks n), against the
 * O(rows n log n) of the transform. */
static int bad_permutation(const int32_t *perm, int64_t blocks, int64_t n) {
  if (!perm) return 0;
  for (int64_t i = 0; i < blocks * n; i++)
    if (perm[i] < 0 || perm[i] >= n) return 1;
  return 0;
}

/* dst = scale * (src[:, perm] * diag) @ H_n, rows x n, n a power of two (dst
 * must not overlap src when perm is given); row r takes row r % blocks of
 * the (blocks, n) `diag` and `perm` (each row a permutation of 0 .. n-1),
 * either NULL for none. Returns 0, -1 for bad sizes, or -2 (nothing written)
 * for a `perm` index outside 0 .. n-1. */
int crosswise_fastfood_step_f32(const float *src, float *dst, int64_t rows,
                                int64_t n, double scale, const float *diag,
                                const int32_t *perm, int64_t blocks) {
  if (bad_sizes(rows, n, blocks)) return -1;
  if (bad_permutation(perm, blocks, n)) return -2;
  int which = crosswise_fwht_level();
  if (n < LANES_F32[which])
    rows_f32_scalar(src, dst, rows, n, (float)scale, diag, blocks, perm);
  else
    ROWS_F32[which](src, dst, rows, n, (float)scale, diag, blocks, perm);
  return 0;
}

int crosswise_fastfood_step_f64(const double *src, double *dst, int64_t rows,
                                int64_t n, double scale, const double *diag,
                                const int32_t *perm, int64_t blocks) {
  if (bad_sizes(rows, n, blocks)) return -1;
  if (bad_permutation(perm, blocks, n)) return -2;
  int which = crosswise_fwht_level();
  if (n < LANES_F64[which])
    rows_f64_scalar(src, dst, rows, n, scale, diag, blocks, perm);
  else
    ROWS_F64[which](src, dst, rows, n, scale, diag, blocks, perm);
  return 0;
}

/* dst = scale * src @ H_n (dst may equal src). */
int crosswise_fwht_f32(const float *src, float *dst, int64_t rows, int64_t n,
                       double scale) {
  return crosswise_fastfood_step_f32(src, dst, rows, n, scale, 0, 0, 1);
}

int crosswise_fwht_f64(const double *src, double *dst, int64_t rows, int64_t n,
                       double scale) {
  return crosswise_fastfood_step_f64(src, dst, rows, n, scale, 0, 0, 1);
}
