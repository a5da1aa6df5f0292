/* One variant of the Walsh-Hadamard kernel, included once per (type, vector
 * width, instruction set) by fwht.c with these macros defined:
 *
 *   K_T       the element type (float or double)
 *   K_INDEX   an integer type of its size (int32_t or int64_t)
 *   K_LANES   elements per vector (a power of two, >= 2)
 *   K_NAME    a suffix naming the variant (e.g. f32_avx2)
 *   K_TARGET  a function attribute (e.g. __attribute__((target("avx2")))), or empty
 *
 * and undefines them at its end, ready for the next variant.
 *
 * The vectors are GCC/Clang vector extensions, so one source serves SSE2, NEON,
 * AVX2 and AVX-512: the compiler emits the variant's instructions.
 *
 * Per row of n = 2^k elements (Sylvester order, unnormalised, then scaled):
 *   1. each vector is loaded from the source, scaled, and given the stages
 *      whose pairs lie inside it (stride < K_LANES) by shuffles;
 *   2. stages of stride K_LANES .. BLOCK/2 run block by block, each block
 *      small enough for the L1 cache, three stages a pass (radix 8);
 *   3. the stages of stride >= BLOCK run over the whole row, again three a pass.
 */

#define K_CAT_(a, b) a##b
#define K_CAT(a, b) K_CAT_(a, b)
#define K_V K_CAT(vec_, K_NAME)
#define K_FN(name) K_CAT(name##_, K_NAME)

#define K_I K_CAT(index_, K_NAME)
typedef K_T K_V __attribute__((vector_size(K_LANES * sizeof(K_T))));
/* Shuffle indices: integers of the element's size, as __builtin_shuffle wants. */
typedef K_INDEX K_I __attribute__((vector_size(K_LANES * sizeof(K_T))));

K_TARGET static inline K_V K_FN(load)(const K_T *p) {
  K_V v;
  memcpy(&v, p, sizeof v);
  return v;
}

K_TARGET static inline void K_FN(store)(K_T *p, K_V v) { memcpy(p, &v, sizeof v); }

/* The stage of stride h < K_LANES inside one vector: lane i becomes
 * v[i ^ h] + v[i] where bit h of i is clear, v[i ^ h] - v[i] where it is set.
 * Constant lane lists, so that the compiler emits one shuffle. */
#define K_IDX2(h) 0 ^ (h), 1 ^ (h)
#define K_IDX4(h) K_IDX2(h), 2 ^ (h), 3 ^ (h)
#define K_IDX8(h) K_IDX4(h), 4 ^ (h), 5 ^ (h), 6 ^ (h), 7 ^ (h)
#define K_IDX16(h) \
  K_IDX8(h), 8 ^ (h), 9 ^ (h), 10 ^ (h), 11 ^ (h), 12 ^ (h), 13 ^ (h), 14 ^ (h), 15 ^ (h)
#define K_SGN(i, h) (((i) & (h)) ? -1 : 1)
#define K_SGN2(h) K_SGN(0, h), K_SGN(1, h)
#define K_SGN4(h) K_SGN2(h), K_SGN(2, h), K_SGN(3, h)
#define K_SGN8(h) K_SGN4(h), K_SGN(4, h), K_SGN(5, h), K_SGN(6, h), K_SGN(7, h)
#define K_SGN16(h)                                                          \
  K_SGN8(h), K_SGN(8, h), K_SGN(9, h), K_SGN(10, h), K_SGN(11, h), K_SGN(12, h), \
      K_SGN(13, h), K_SGN(14, h), K_SGN(15, h)
#define K_IDX(h) K_CAT(K_IDX, K_LANES)(h)
#define K_SIGNS(h) K_CAT(K_SGN, K_LANES)(h)
#if defined(__clang__)
#define K_PARTNER(v, h) __builtin_shufflevector(v, v, K_IDX(h))
#else
#define K_PARTNER(v, h) __builtin_shuffle(v, (K_I){K_IDX(h)})
#endif
#define K_STAGE(v, h) (K_PARTNER(v, h) + (v) * (K_V){K_SIGNS(h)})

K_TARGET static inline K_V K_FN(in_vector)(K_V v) {
  v = K_STAGE(v, 1);
#if K_LANES > 2
  v = K_STAGE(v, 2);
#endif
#if K_LANES > 4
  v = K_STAGE(v, 4);
#endif
#if K_LANES > 8
  v = K_STAGE(v, 8);
#endif
  return v;
}

/* Eight butterflies of three stages (strides h, 2h, 4h) on the vectors a[0..8). */
#define K_RADIX8(a)                                                            \
  do {                                                                         \
    K_V b0 = a[0] + a[1], b1 = a[0] - a[1], b2 = a[2] + a[3], b3 = a[2] - a[3]; \
    K_V b4 = a[4] + a[5], b5 = a[4] - a[5], b6 = a[6] + a[7], b7 = a[6] - a[7]; \
    K_V c0 = b0 + b2, c2 = b0 - b2, c1 = b1 + b3, c3 = b1 - b3;                 \
    K_V c4 = b4 + b6, c6 = b4 - b6, c5 = b5 + b7, c7 = b5 - b7;                 \
    a[0] = c0 + c4, a[4] = c0 - c4, a[1] = c1 + c5, a[5] = c1 - c5;             \
    a[2] = c2 + c6, a[6] = c2 - c6, a[3] = c3 + c7, a[7] = c3 - c7;             \
  } while (0)

/* Stages h, 2h, 4h on x[0 .. m), h a multiple of K_LANES, 8h dividing m. */
K_TARGET static void K_FN(radix8)(K_T *x, int64_t m, int64_t h) {
  for (int64_t base = 0; base < m; base += 8 * h) {
    for (int64_t j = base; j < base + h; j += K_LANES) {
      K_V a[8];
      for (int i = 0; i < 8; i++) a[i] = K_FN(load)(x + j + i * h);
      K_RADIX8(a);
      for (int i = 0; i < 8; i++) K_FN(store)(x + j + i * h, a[i]);
    }
  }
}

/* Stages h, 2h on x[0 .. m). */
K_TARGET static void K_FN(radix4)(K_T *x, int64_t m, int64_t h) {
  for (int64_t base = 0; base < m; base += 4 * h) {
    for (int64_t j = base; j < base + h; j += K_LANES) {
      K_V a0 = K_FN(load)(x + j), a1 = K_FN(load)(x + j + h);
      K_V a2 = K_FN(load)(x + j + 2 * h), a3 = K_FN(load)(x + j + 3 * h);
      K_V b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3;
      K_FN(store)(x + j, b0 + b2);
      K_FN(store)(x + j + 2 * h, b0 - b2);
      K_FN(store)(x + j + h, b1 + b3);
      K_FN(store)(x + j + 3 * h, b1 - b3);
    }
  }
}

/* Stage h on x[0 .. m). */
K_TARGET static void K_FN(radix2)(K_T *x, int64_t m, int64_t h) {
  for (int64_t base = 0; base < m; base += 2 * h) {
    for (int64_t j = base; j < base + h; j += K_LANES) {
      K_V a0 = K_FN(load)(x + j), a1 = K_FN(load)(x + j + h);
      K_FN(store)(x + j, a0 + a1);
      K_FN(store)(x + j + h, a0 - a1);
    }
  }
}

/* Stages of stride from .. to (exclusive, powers of two >= K_LANES) on x[0 .. m). */
K_TARGET static void K_FN(stages)(K_T *x, int64_t m, int64_t from, int64_t to) {
  int64_t h = from;
  while (h * 8 <= to) {
    K_FN(radix8)(x, m, h);
    h *= 8;
  }
  if (h * 4 <= to) {
    K_FN(radix4)(x, m, h);
    h *= 4;
  }
  if (h * 2 <= to) K_FN(radix2)(x, m, h);
}

/* out[0 .. 8 K_LANES) = factor * d * in[0 .. 8 K_LANES) with every stage of
 * stride < 8 K_LANES: the in-vector ones, then three across the eight
 * vectors. `d` is a diagonal's matching entries, or NULL for none. */
K_TARGET static inline K_V K_FN(gather)(const K_T *in, const int32_t *p) {
  /* Lane by lane into the vector: through a stack array, the vector load
   * that follows the scalar stores stalls (no store-to-load forwarding). */
  K_V v;
  for (int l = 0; l < K_LANES; l++) v[l] = in[p[l]];
  return v;
}

/* The input vector at j: in[j ..], or in[p[j ..]] where p is a permutation. */
K_TARGET static inline K_V K_FN(input)(const K_T *in, const int32_t *p, int64_t j) {
  return p ? K_FN(gather)(in, p + j) : K_FN(load)(in + j);
}

K_TARGET static inline void K_FN(first_pass)(const K_T *in, const int32_t *p,
                                             int64_t j, const K_T *d, K_T *out,
                                             K_V factors) {
  K_V a[8];
  for (int i = 0; i < 8; i++) {
    K_V v = K_FN(input)(in, p, j + i * K_LANES) * factors;
    if (d) v *= K_FN(load)(d + j + i * K_LANES);
    a[i] = K_FN(in_vector)(v);
  }
  K_RADIX8(a);
  for (int i = 0; i < 8; i++) K_FN(store)(out + j + i * K_LANES, a[i]);
}

/* dst[r] = factor * (src[r][perm[b]] * diag[b]) @ H_n for each of `rows` rows
 * (n >= K_LANES), b = r % diag_rows; `diag` of shape (diag_rows, n), and
 * `perm` (each row a permutation of 0 .. n-1), or NULL for none. */
K_TARGET static void K_FN(rows)(const K_T *src, K_T *dst, int64_t rows, int64_t n,
                                K_T factor, const K_T *diag, int64_t diag_rows,
                                const int32_t *perm) {
  const int64_t cap = FWHT_BLOCK_BYTES / (int64_t)sizeof(K_T);
  const int64_t block = n < cap ? n : cap, group = 8 * K_LANES;
  const K_V factors = (K_V){0} + factor;
  for (int64_t r = 0; r < rows; r++) {
    const K_T *in = src + r * n;
    const K_T *d = diag ? diag + (r % diag_rows) * n : NULL;
    const int32_t *p = perm ? perm + (r % diag_rows) * n : NULL;
    K_T *out = dst + r * n;
    if (n < group) {
      for (int64_t j = 0; j < n; j += K_LANES) {
        K_V v = K_FN(input)(in, p, j) * factors;
        if (d) v *= K_FN(load)(d + j);
        K_FN(store)(out + j, K_FN(in_vector)(v));
      }
      K_FN(stages)(out, n, K_LANES, n);
      continue;
    }
    for (int64_t b = 0; b < n; b += block) {
      for (int64_t j = b; j < b + block; j += group)
        K_FN(first_pass)(in, p, j, d, out, factors);
      K_FN(stages)(out + b, block, group, block);
    }
    K_FN(stages)(out, n, block, n);
  }
}

#undef K_RADIX8
#undef K_V
#undef K_I
#undef K_IDX2
#undef K_IDX4
#undef K_IDX8
#undef K_IDX16
#undef K_SGN
#undef K_SGN2
#undef K_SGN4
#undef K_SGN8
#undef K_SGN16
#undef K_IDX
#undef K_SIGNS
#undef K_PARTNER
#undef K_STAGE
#undef K_FN
#undef K_CAT
#undef K_CAT_
#undef K_T
#undef K_INDEX
#undef K_LANES
#undef K_NAME
#undef K_TARGET
