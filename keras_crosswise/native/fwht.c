/* keras-crosswise's native fast Walsh-Hadamard transform (CPU, float32 and
 * float64): dst = factor * src @ H_n over the last axis, rows after rows,
 * single-threaded; and the whole Fastfood product S H G Pi H B x + bias with
 * its gradient, one row in cache at a time (crosswise_fastfood_forward_*,
 * crosswise_fastfood_backward_*). Built on first use by keras_crosswise.native (see there);
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
#include <stdlib.h>
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
  static void NAME(const T *src, T *dst, int64_t rows, int64_t n, T factor,     \
                   const T *diag, int64_t diag_rows, const int32_t *perm) {    \
    for (int64_t r = 0; r < rows; r++) {                                       \
      T *out = dst + r * n;                                                    \
      const T *d = diag ? diag + (r % diag_rows) * n : 0;                      \
      const int32_t *p = perm ? perm + (r % diag_rows) * n : 0;                \
      for (int64_t i = 0; i < n; i++)                                          \
        out[i] = src[r * n + (p ? p[i] : i)] * factor * (d ? d[i] : (T)1);      \
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

/* dst = factor * (src[:, perm] * diag) @ H_n, rows x n, n a power of two (dst
 * must not overlap src when perm is given); row r takes row r % blocks of
 * the (blocks, n) `diag` and `perm` (each row a permutation of 0 .. n-1),
 * either NULL for none. Returns 0, -1 for bad sizes, or -2 (nothing written)
 * for a `perm` index outside 0 .. n-1. */
int crosswise_fastfood_step_f32(const float *src, float *dst, int64_t rows,
                                int64_t n, double factor, const float *diag,
                                const int32_t *perm, int64_t blocks) {
  if (bad_sizes(rows, n, blocks)) return -1;
  if (bad_permutation(perm, blocks, n)) return -2;
  int which = crosswise_fwht_level();
  if (n < LANES_F32[which])
    rows_f32_scalar(src, dst, rows, n, (float)factor, diag, blocks, perm);
  else
    ROWS_F32[which](src, dst, rows, n, (float)factor, diag, blocks, perm);
  return 0;
}

int crosswise_fastfood_step_f64(const double *src, double *dst, int64_t rows,
                                int64_t n, double factor, const double *diag,
                                const int32_t *perm, int64_t blocks) {
  if (bad_sizes(rows, n, blocks)) return -1;
  if (bad_permutation(perm, blocks, n)) return -2;
  int which = crosswise_fwht_level();
  if (n < LANES_F64[which])
    rows_f64_scalar(src, dst, rows, n, factor, diag, blocks, perm);
  else
    ROWS_F64[which](src, dst, rows, n, factor, diag, blocks, perm);
  return 0;
}

/* dst = factor * src @ H_n (dst may equal src). */
int crosswise_fwht_f32(const float *src, float *dst, int64_t rows, int64_t n,
                       double factor) {
  return crosswise_fastfood_step_f32(src, dst, rows, n, factor, 0, 0, 1);
}

int crosswise_fwht_f64(const double *src, double *dst, int64_t rows, int64_t n,
                       double factor) {
  return crosswise_fastfood_step_f64(src, dst, rows, n, factor, 0, 0, 1);
}

/* The whole Fastfood product, one input row and block at a time, the row's
 * two length-n buffers staying in cache:
 *
 *   y[r, b n + i] = scale[b n + i] * (H G_b Pi_b H B_b x_r)[i] + bias[b n + i]
 *
 * for i < min(n, outputs - b n); x is (rows, d), d <= n (zero-padded to n
 * here), y is (rows, outputs), signs/gaussian (blocks, n), perm (blocks, n)
 * with each row a permutation of 0 .. n-1, scale and bias (outputs,), with
 * (blocks - 1) n < outputs <= blocks n. The backward recomputes the forward
 * per row (two transforms) instead of keeping anything from it, and takes
 * two more: it keeps no activation. Status: 0; -1 bad sizes; -2 a bad
 * permutation (nothing written); -3 no memory. */
static int fastfood_bad_sizes(int64_t rows, int64_t d, int64_t n, int64_t blocks,
                              int64_t outputs) {
  return bad_sizes(rows, n, blocks) || d < 1 || d > n || outputs < 1 ||
         outputs > blocks * n || outputs <= (blocks - 1) * n;
}

/* *inverse = the inverse of each row of `perm` (malloc'd). Returns 0; -2
 * (nothing allocated) if some row is not a permutation of 0 .. n-1 (an index
 * out of range, or one taken twice); -3 for no memory. */
static int inverse_permutation(const int32_t *perm, int64_t blocks, int64_t n,
                               int32_t **inverse) {
  int32_t *found = malloc((size_t)(blocks * n) * sizeof(int32_t));
  if (!found) return -3;
  for (int64_t i = 0; i < blocks * n; i++) found[i] = -1;
  for (int64_t b = 0; b < blocks; b++)
    for (int64_t i = 0; i < n; i++) {
      int32_t j = perm[b * n + i];
      if (j < 0 || j >= n || found[b * n + j] >= 0) {
        free(found);
        return -2;
      }
      found[b * n + j] = (int32_t)i;
    }
  *inverse = found;
  return 0;
}

#define FASTFOOD(T, SFX, ROWS, LANES, SCALAR)                                  \
  typedef void (*row_##SFX##_fn)(const T *, T *, int64_t, int64_t, T,           \
                                 const T *, int64_t, const int32_t *);         \
  static row_##SFX##_fn row_##SFX(int64_t n) {                                 \
    int which = crosswise_fwht_level();                                        \
    return n < LANES[which] ? SCALAR : ROWS[which];                            \
  }                                                                            \
                                                                               \
  /* u = H B_b x_r, x_r zero-padded from d to n. */                            \
  static void signed_transform_##SFX(row_##SFX##_fn h, const T *x, T *u,       \
                                     int64_t d, int64_t n, const T *signs) {   \
    if (d == n) {                                                              \
      h(x, u, 1, n, 1, signs, 1, 0);                                           \
      return;                                                                  \
    }                                                                          \
    for (int64_t i = 0; i < d; i++) u[i] = x[i] * signs[i];                    \
    memset(u + d, 0, (size_t)(n - d) * sizeof(T));                             \
    h(u, u, 1, n, 1, 0, 1, 0);                                                 \
  }                                                                            \
                                                                               \
  static T *buffer_##SFX(int64_t n) {                                          \
    size_t bytes = ((size_t)n * sizeof(T) + 63) / 64 * 64;                     \
    return aligned_alloc(64, bytes);                                           \
  }                                                                            \
                                                                               \
  int crosswise_fastfood_forward_##SFX(                                        \
      const T *x, T *y, int64_t rows, int64_t d, int64_t n, int64_t blocks,     \
      int64_t outputs, const T *signs, const int32_t *perm, const T *gaussian,  \
      const T *scale, const T *bias) {                                         \
    if (fastfood_bad_sizes(rows, d, n, blocks, outputs)) return -1;            \
    if (bad_permutation(perm, blocks, n)) return -2;                           \
    T *u = buffer_##SFX(n), *v = buffer_##SFX(n);                              \
    if (!u || !v) {                                                            \
      free(u);                                                                 \
      free(v);                                                                 \
      return -3;                                                               \
    }                                                                          \
    row_##SFX##_fn h = row_##SFX(n);                                           \
    for (int64_t r = 0; r < rows; r++)                                         \
      for (int64_t b = 0; b < blocks; b++) {                                   \
        signed_transform_##SFX(h, x + r * d, u, d, n, signs + b * n);          \
        h(u, v, 1, n, 1, gaussian + b * n, 1, perm + b * n);                   \
        int64_t width = outputs - b * n < n ? outputs - b * n : n;             \
        T *out = y + r * outputs + b * n;                                      \
        const T *s = scale + b * n, *c = bias + b * n;                         \
        for (int64_t i = 0; i < width; i++) out[i] = v[i] * s[i] + c[i];       \
      }                                                                        \
    free(u);                                                                   \
    free(v);                                                                   \
    return 0;                                                                  \
  }                                                                            \
                                                                               \
  /* The gradients of the forward's sum against `g` (rows, outputs): dx      \
   * (rows, d), dsigns and dgaussian (blocks, n), dscale and dbias           \
   * (outputs,); all overwritten. */                                          \
  int crosswise_fastfood_backward_##SFX(                                       \
      const T *x, const T *g, int64_t rows, int64_t d, int64_t n,              \
      int64_t blocks, int64_t outputs, const T *signs, const int32_t *perm,     \
      const T *gaussian, const T *scale, T *dx, T *dsigns, T *dgaussian,        \
      T *dscale, T *dbias) {                                                   \
    if (fastfood_bad_sizes(rows, d, n, blocks, outputs)) return -1;            \
    int32_t *inverse = 0;                                                      \
    int inverted = inverse_permutation(perm, blocks, n, &inverse);             \
    if (inverted != 0) return inverted;                                        \
    T *u = buffer_##SFX(n), *v = buffer_##SFX(n);                              \
    T *moved = malloc((size_t)(blocks * n) * sizeof(T));                       \
    if (!u || !v || !moved) {                                                  \
      free(u);                                                                 \
      free(v);                                                                 \
      free(moved);                                                             \
      free(inverse);                                                           \
      return -3;                                                               \
    }                                                                          \
    /* Pi^T G: (Pi^T G a)[j] = gaussian[inverse[j]] a[inverse[j]]. */         \
    for (int64_t i = 0; i < blocks * n; i++)                                   \
      moved[i] = gaussian[(i / n) * n + inverse[i]];                           \
    memset(dx, 0, (size_t)(rows * d) * sizeof(T));                             \
    memset(dsigns, 0, (size_t)(blocks * n) * sizeof(T));                       \
    memset(dgaussian, 0, (size_t)(blocks * n) * sizeof(T));                    \
    memset(dscale, 0, (size_t)outputs * sizeof(T));                            \
    memset(dbias, 0, (size_t)outputs * sizeof(T));                             \
    row_##SFX##_fn h = row_##SFX(n);                                           \
    for (int64_t r = 0; r < rows; r++)                                         \
      for (int64_t b = 0; b < blocks; b++) {                                   \
        const T *xr = x + r * d;                                               \
        const int32_t *p = perm + b * n;                                       \
        signed_transform_##SFX(h, xr, u, d, n, signs + b * n);                 \
        h(u, v, 1, n, 1, gaussian + b * n, 1, p);                              \
        int64_t width = outputs - b * n < n ? outputs - b * n : n;             \
        const T *gr = g + r * outputs + b * n, *s = scale + b * n;             \
        T *ds = dscale + b * n, *dc = dbias + b * n;                           \
        for (int64_t i = 0; i < width; i++) {                                  \
          ds[i] += gr[i] * v[i];                                               \
          dc[i] += gr[i];                                                      \
          v[i] = gr[i] * s[i];                                                 \
        }                                                                      \
        memset(v + width, 0, (size_t)(n - width) * sizeof(T));                 \
        h(v, v, 1, n, 1, 0, 1, 0); /* the gradient at G Pi H B x */           \
        T *dg = dgaussian + b * n;                                             \
        for (int64_t i = 0; i < n; i++) dg[i] += v[i] * u[p[i]];               \
        /* the gradient at B x: H Pi^T G v */                                  \
        h(v, u, 1, n, 1, moved + b * n, 1, inverse + b * n);                   \
        T *dsb = dsigns + b * n, *dxr = dx + r * d;                            \
        const T *sb = signs + b * n;                                           \
        for (int64_t i = 0; i < d; i++) {                                      \
          dsb[i] += u[i] * xr[i];                                              \
          dxr[i] += u[i] * sb[i];                                              \
        }                                                                      \
      }                                                                        \
    free(u);                                                                   \
    free(v);                                                                   \
    free(moved);                                                               \
    free(inverse);                                                             \
    return 0;                                                                  \
  }

FASTFOOD(float, f32, ROWS_F32, LANES_F32, rows_f32_scalar)
FASTFOOD(double, f64, ROWS_F64, LANES_F64, rows_f64_scalar)
