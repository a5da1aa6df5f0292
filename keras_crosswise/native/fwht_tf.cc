// TensorFlow op (CPU) for keras-crosswise's native Walsh-Hadamard kernel:
// y = factor * x @ H_n over the last axis of a float32 or float64 tensor
// (factor a float64 scalar).
// Built on first use against the headers TensorFlow ships
// (tf.sysconfig.get_compile_flags()), linked with fwht.c, and loaded by
// keras_crosswise.native._tensorflow with tf.load_op_library, which also
// registers its gradient (the same op: H is symmetric). Rows are split over
// TensorFlow's intra-op thread pool; each row is one kernel call's work.
#include <cstdint>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

extern "C" int crosswise_fwht_f32(const float *src, float *dst, int64_t rows,
                                  int64_t n, double factor);
extern "C" int crosswise_fwht_f64(const double *src, double *dst, int64_t rows,
                                  int64_t n, double factor);

namespace {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::errors::InvalidArgument;

int Run(const float *src, float *dst, int64_t rows, int64_t n, double factor) {
  return crosswise_fwht_f32(src, dst, rows, n, factor);
}

int Run(const double *src, double *dst, int64_t rows, int64_t n,
        double factor) {
  return crosswise_fwht_f64(src, dst, rows, n, factor);
}

template <typename T>
class FwhtOp : public OpKernel {
 public:
  explicit FwhtOp(OpKernelConstruction *context) : OpKernel(context) {}

  void Compute(OpKernelContext *context) override {
    const Tensor &x = context->input(0);
    const Tensor &factor_tensor = context->input(1);
    OP_REQUIRES(context, factor_tensor.NumElements() == 1,
                InvalidArgument("KerasCrosswiseFwht: factor must be a scalar"));
    OP_REQUIRES(context, x.dims() >= 1,
                InvalidArgument("KerasCrosswiseFwht: x must have an axis"));
    const int64_t n = x.dim_size(x.dims() - 1);
    OP_REQUIRES(context, n >= 1 && (n & (n - 1)) == 0,
                InvalidArgument("KerasCrosswiseFwht: the last axis must be a "
                                "power of two; got ",
                                n));
    Tensor *y = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &y));
    const int64_t rows = x.NumElements() / n;
    if (rows == 0) return;
    const T *src = x.flat<T>().data();
    T *dst = y->flat<T>().data();
    const double factor = static_cast<double>(factor_tensor.flat<double>()(0));
    int64_t log2n = 0;
    while ((int64_t{1} << log2n) < n) log2n++;
    auto work = [&](int64_t begin, int64_t end) {
      Run(src + begin * n, dst + begin * n, end - begin, n, factor);
    };
    auto *threads = context->device()->tensorflow_cpu_worker_threads();
    // Cost of a row: about n log2(n) additions, read and written.
    ::tensorflow::Shard(threads->num_threads, threads->workers, rows,
                        n * (log2n + 1) * 4, work);
  }
};

}  // namespace

REGISTER_OP("KerasCrosswiseFwht")
    .Input("x: T")
    .Input("factor: double")
    .Output("y: T")
    .Attr("T: {float, double}")
    .SetShapeFn(::tensorflow::shape_inference::UnchangedShape)
    .Doc("y = factor * x @ H_n over the last axis (keras-crosswise).");

REGISTER_KERNEL_BUILDER(Name("KerasCrosswiseFwht")
                            .Device(DEVICE_CPU)
                            .HostMemory("factor")
                            .TypeConstraint<float>("T"),
                        FwhtOp<float>);
REGISTER_KERNEL_BUILDER(Name("KerasCrosswiseFwht")
                            .Device(DEVICE_CPU)
                            .HostMemory("factor")
                            .TypeConstraint<double>("T"),
                        FwhtOp<double>);
