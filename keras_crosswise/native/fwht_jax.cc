// XLA FFI handler (CPU) for keras-crosswise's native Walsh-Hadamard kernel:
// y = scale * x @ H_n over the last axis of a float32 or float64 array.
// Built on first use against the XLA FFI headers that jaxlib ships
// (jax.ffi.include_dir()) and linked with fwht.c; registered with JAX by
// keras_crosswise.native._jax.
#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

extern "C" int crosswise_fwht_f32(const float *src, float *dst, int64_t rows,
                                  int64_t n, double scale);
extern "C" int crosswise_fwht_f64(const double *src, double *dst, int64_t rows,
                                  int64_t n, double scale);

static ffi::Error Fwht(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
                       double scale) {
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
                                  n, scale);
      break;
    case ffi::DataType::F64:
      status = crosswise_fwht_f64(static_cast<const double *>(x.untyped_data()),
                                  static_cast<double *>(y->untyped_data()),
                                  rows, n, scale);
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
                                  .Attr<double>("scale"));
