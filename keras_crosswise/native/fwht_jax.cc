// XLA FFI handler (CPU) for keras-crosswise's native Walsh-Hadamard kernel:
// y = factor * x @ H_n over the last axis of a float32 or float64 array; and
// the fused Fastfood product scale * (H G Pi H B x)[:outputs] + bias with its
// backward (CrosswiseFastfood, CrosswiseFastfoodBackward).
// Built on first use against the XLA FFI headers that jaxlib ships
// (jax.ffi.include_dir()) and linked with fwht.c; registered with JAX by
// keras_crosswise.native._jax.
#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#define CROSSWISE_FASTFOOD(T, SFX)                                              \
  extern "C" int crosswise_fastfood_forward_##SFX(                              \
      const T *x, T *y, int64_t rows, int64_t d, int64_t n, int64_t blocks,      \
      int64_t outputs, const T *signs, const int32_t *perm, const T *gaussian,   \
      const T *scale, const T *bias);                                           \
  extern "C" int crosswise_fastfood_backward_##SFX(                             \
      const T *x, const T *g, int64_t rows, int64_t d, int64_t n,               \
      int64_t blocks, int64_t outputs, const T *signs, const int32_t *perm,      \
      const T *gaussian, const T *scale, T *dx, T *dsigns, T *dgaussian,         \
      T *dscale, T *dbias);
CROSSWISE_FASTFOOD(float, f32)
CROSSWISE_FASTFOOD(double, f64)

extern "C" int crosswise_fwht_f32(const float *src, float *dst, int64_t rows,
                                  int64_t n, double factor);
extern "C" int crosswise_fwht_f64(const double *src, double *dst, int64_t rows,
                                  int64_t n, double factor);

static ffi::Error Fwht(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
                       double factor) {
  auto dims = x.dimensions();
  if (dims.size() == 0) {
    return ffi::Error::InvalidArgument("crosswise_fwht: x must have an axis");
  }
  const int64_t n = dims.back();
  const int64_t rows = n > 0 ? static_cast<int64_t>(x.element_count()) / n : 0;
  int status;
  switch (x.element_type()) {
    case ffi::DataType::F32:
      status = crosswise_fwht_f32(static_cast<const float *>(x.untyped_data()),
                                  static_cast<float *>(y->untyped_data()), rows,
                                  n, factor);
      break;
    case ffi::DataType::F64:
      status = crosswise_fwht_f64(static_cast<const double *>(x.untyped_data()),
                                  static_cast<double *>(y->untyped_data()),
                                  rows, n, factor);
      break;
    default:
      return ffi::Error::InvalidArgument(
          "crosswise_fwht: x must be float32 or float64");
  }
  if (status != 0) {
    return ffi::Error::InvalidArgument(
        "crosswise_fwht: the last axis must be a power of two");
  }
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(CrosswiseFwht, Fwht,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<double>("factor"));

namespace {

// (rows, d, n, blocks, outputs) from the buffers' shapes: x (..., d), the
// tables (blocks, n), scale (outputs,). The kernel checks them again.
struct Sizes {
  int64_t rows, d, n, blocks, outputs;
};

ffi::Error FastfoodSizes(ffi::AnyBuffer &x, ffi::AnyBuffer &signs,
                         ffi::AnyBuffer &perm, ffi::AnyBuffer &scale,
                         Sizes *sizes) {
  auto xd = x.dimensions(), sd = signs.dimensions(), pd = perm.dimensions();
  if (xd.size() == 0 || sd.size() != 2 || pd.size() != 2 || sd[0] != pd[0] ||
      sd[1] != pd[1] || scale.dimensions().size() != 1 ||
      perm.element_type() != ffi::DataType::S32) {
    return ffi::Error::InvalidArgument("crosswise_fastfood: bad shapes");
  }
  sizes->d = xd.back();
  sizes->rows = sizes->d > 0 ? static_cast<int64_t>(x.element_count()) / sizes->d : 0;
  sizes->blocks = sd[0];
  sizes->n = sd[1];
  sizes->outputs = scale.dimensions()[0];
  return ffi::Error::Success();
}

ffi::Error FastfoodStatus(int status) {
  if (status == -2) {
    return ffi::Error::InvalidArgument(
        "crosswise_fastfood: each row of the permutation must be a "
        "permutation of 0..n-1");
  }
  if (status == -3) return ffi::Error::Internal("crosswise_fastfood: no memory");
  if (status != 0) return ffi::Error::InvalidArgument("crosswise_fastfood: bad sizes");
  return ffi::Error::Success();
}

template <typename T>
const T *In(ffi::AnyBuffer &b) {
  return static_cast<const T *>(b.untyped_data());
}

template <typename T>
T *Out(ffi::Result<ffi::AnyBuffer> &b) {
  return static_cast<T *>(b->untyped_data());
}

bool SameType(ffi::DataType type, std::initializer_list<ffi::AnyBuffer *> all) {
  for (auto *b : all)
    if (b->element_type() != type) return false;
  return true;
}

}  // namespace

static ffi::Error Fastfood(ffi::AnyBuffer x, ffi::AnyBuffer signs,
                           ffi::AnyBuffer perm, ffi::AnyBuffer gaussian,
                           ffi::AnyBuffer scale, ffi::AnyBuffer bias,
                           ffi::Result<ffi::AnyBuffer> y) {
  Sizes s;
  if (auto error = FastfoodSizes(x, signs, perm, scale, &s); error.failure()) return error;
  auto type = x.element_type();
  if (!SameType(type, {&signs, &gaussian, &scale, &bias})) {
    return ffi::Error::InvalidArgument("crosswise_fastfood: mixed dtypes");
  }
  const int32_t *p = static_cast<const int32_t *>(perm.untyped_data());
  if (type == ffi::DataType::F32) {
    return FastfoodStatus(crosswise_fastfood_forward_f32(
        In<float>(x), Out<float>(y), s.rows, s.d, s.n, s.blocks, s.outputs,
        In<float>(signs), p, In<float>(gaussian), In<float>(scale), In<float>(bias)));
  }
  if (type == ffi::DataType::F64) {
    return FastfoodStatus(crosswise_fastfood_forward_f64(
        In<double>(x), Out<double>(y), s.rows, s.d, s.n, s.blocks, s.outputs,
        In<double>(signs), p, In<double>(gaussian), In<double>(scale),
        In<double>(bias)));
  }
  return ffi::Error::InvalidArgument("crosswise_fastfood: float32 or float64 only");
}

static ffi::Error FastfoodBackward(
    ffi::AnyBuffer x, ffi::AnyBuffer g, ffi::AnyBuffer signs, ffi::AnyBuffer perm,
    ffi::AnyBuffer gaussian, ffi::AnyBuffer scale, ffi::Result<ffi::AnyBuffer> dx,
    ffi::Result<ffi::AnyBuffer> dsigns, ffi::Result<ffi::AnyBuffer> dgaussian,
    ffi::Result<ffi::AnyBuffer> dscale, ffi::Result<ffi::AnyBuffer> dbias) {
  Sizes s;
  if (auto error = FastfoodSizes(x, signs, perm, scale, &s); error.failure()) return error;
  auto type = x.element_type();
  if (!SameType(type, {&g, &signs, &gaussian, &scale}) ||
      static_cast<int64_t>(g.element_count()) != s.rows * s.outputs) {
    return ffi::Error::InvalidArgument("crosswise_fastfood_backward: bad upstream");
  }
  const int32_t *p = static_cast<const int32_t *>(perm.untyped_data());
  if (type == ffi::DataType::F32) {
    return FastfoodStatus(crosswise_fastfood_backward_f32(
        In<float>(x), In<float>(g), s.rows, s.d, s.n, s.blocks, s.outputs,
        In<float>(signs), p, In<float>(gaussian), In<float>(scale), Out<float>(dx),
        Out<float>(dsigns), Out<float>(dgaussian), Out<float>(dscale),
        Out<float>(dbias)));
  }
  if (type == ffi::DataType::F64) {
    return FastfoodStatus(crosswise_fastfood_backward_f64(
        In<double>(x), In<double>(g), s.rows, s.d, s.n, s.blocks, s.outputs,
        In<double>(signs), p, In<double>(gaussian), In<double>(scale),
        Out<double>(dx), Out<double>(dsigns), Out<double>(dgaussian),
        Out<double>(dscale), Out<double>(dbias)));
  }
  return ffi::Error::InvalidArgument("crosswise_fastfood: float32 or float64 only");
}

// Both fused handlers take six buffers: x (and the upstream gradient, for
// the backward) and the tables.
static auto SixBuffers() {
  return ffi::Ffi::Bind()
      .Arg<ffi::AnyBuffer>()
      .Arg<ffi::AnyBuffer>()
      .Arg<ffi::AnyBuffer>()
      .Arg<ffi::AnyBuffer>()
      .Arg<ffi::AnyBuffer>()
      .Arg<ffi::AnyBuffer>();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(CrosswiseFastfood, Fastfood,
                              SixBuffers().Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(CrosswiseFastfoodBackward, FastfoodBackward,
                              SixBuffers()
                                  .Ret<ffi::AnyBuffer>()  // dx
                                  .Ret<ffi::AnyBuffer>()  // dsigns
                                  .Ret<ffi::AnyBuffer>()  // dgaussian
                                  .Ret<ffi::AnyBuffer>()  // dscale
                                  .Ret<ffi::AnyBuffer>());  // dbias
