// The torch binding of every opl CUDA kernel: the one C++ file that includes torch headers
// (the .cu files are plain CUDA behind extern "C" launchers, so nvcc never compiles torch).
// For each kernel this file declares its launchers, checks the tensors (CUDA, one device,
// contiguous, dtype, shapes; the messages name the argument), allocates the outputs, launches on
// the current CUDA stream of the inputs' device and turns a failed status into an error.
// opl/ops/kernels.py builds it with the .cu sources (torch.utils.cpp_extension.load) and
// registers the functions into the CUDA slots of the torch.ops.opl custom ops.
//
// Adding a kernel: its launcher declarations in the extern "C" block, a section with its
// binding functions, and an m.def line per function in PYBIND11_MODULE.

// Only the headers used (not torch/extension.h, which is all of torch: 24 s against 6 s of g++).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/csrc/utils/pybind.h>

#include <cstdint>
#include <string>
#include <tuple>

extern "C" {

// kernels/gaussian_features.cu
int64_t opl_gaussian_features_max_channels();
cudaError_t opl_gaussian_features_forward_f32(const float* x, const float* means,
                                              const float* scales, const float* features,
                                              const float* weights, int64_t n, int64_t k,
                                              int64_t d, int64_t c, double cutoff, float* values,
                                              float* gradients, float* curvatures,
                                              cudaStream_t stream);
cudaError_t opl_gaussian_features_forward_f64(const double* x, const double* means,
                                              const double* scales, const double* features,
                                              const double* weights, int64_t n, int64_t k,
                                              int64_t d, int64_t c, double cutoff,
                                              double* values, double* gradients,
                                              double* curvatures, cudaStream_t stream);
cudaError_t opl_gaussian_features_backward_f32(
    const float* grad_values, const float* grad_gradients, const float* grad_curvatures,
    const float* x, const float* means, const float* scales, const float* features,
    const float* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
    float* grad_x, float* grad_means, float* grad_scales, float* grad_features,
    cudaStream_t stream);
cudaError_t opl_gaussian_features_backward_f64(
    const double* grad_values, const double* grad_gradients, const double* grad_curvatures,
    const double* x, const double* means, const double* scales, const double* features,
    const double* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
    double* grad_x, double* grad_means, double* grad_scales, double* grad_features,
    cudaStream_t stream);

// kernels/mg_smooth.cu
int64_t opl_mg_smooth_shared_bytes(int64_t cu, int64_t cf, int64_t element_size);
cudaError_t opl_mg_smooth_f32(const float* u, const float* f, const float* stiffness,
                              const float* smoother, int64_t batch, int64_t cu, int64_t cf,
                              int64_t h, int64_t w, int padding, float* out, float* residual_out,
                              cudaStream_t stream);
cudaError_t opl_mg_smooth_f64(const double* u, const double* f, const double* stiffness,
                              const double* smoother, int64_t batch, int64_t cu, int64_t cf,
                              int64_t h, int64_t w, int padding, double* out,
                              double* residual_out, cudaStream_t stream);

}  // extern "C"

namespace {

// ---- shared checks -----------------------------------------------------------------------------

// `tensor` (argument `name` of `op`) is a contiguous CUDA tensor of `reference`'s dtype and
// device with the given shape.
void check_tensor(const char* op, const char* name, const at::Tensor& tensor,
                  const at::Tensor& reference, at::IntArrayRef shape) {
  TORCH_CHECK(tensor.is_cuda(), op, ": ", name, " must be a CUDA tensor, got one on ",
              tensor.device());
  TORCH_CHECK(tensor.device() == reference.device(), op, ": ", name, " must be on ",
              reference.device(), " (as x), got ", tensor.device());
  TORCH_CHECK(tensor.scalar_type() == reference.scalar_type(), op, ": ", name, " must be ",
              reference.scalar_type(), " (as x), got ", tensor.scalar_type());
  TORCH_CHECK(tensor.sizes() == shape, op, ": ", name, " must have shape ", shape, ", got ",
              tensor.sizes());
  TORCH_CHECK(tensor.is_contiguous(), op, ": ", name, " must be contiguous");
}

void check_status(const char* op, cudaError_t status) {
  TORCH_CHECK(status == cudaSuccess, op, ": CUDA launch failed: ", cudaGetErrorString(status));
}

// ---- gaussian_features (kernels/gaussian_features.cu) ------------------------------------------

constexpr const char* kForward = "opl_kernels.gaussian_features_forward";
constexpr const char* kBackward = "opl_kernels.gaussian_features_backward";

// x (N, d), means and scales (K, d), features (K, c), weights (d,) within the kernel's limits;
// returns {d, c}.
std::tuple<int64_t, int64_t> check_gaussian_inputs(const char* op, const at::Tensor& x,
                                                   const at::Tensor& means,
                                                   const at::Tensor& scales,
                                                   const at::Tensor& features,
                                                   const at::Tensor& weights) {
  TORCH_CHECK(x.dim() == 2, op, ": x must have shape (N, d), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": the kernel supports float32 and float64, got x of ", x.scalar_type());
  const int64_t d = x.size(1);
  TORCH_CHECK(d >= 1 && d <= 3, op, ": the kernel supports d = 1, 2 or 3, got x of shape ",
              x.sizes());
  TORCH_CHECK(features.dim() == 2, op, ": features must have shape (K, c), got ",
              features.sizes());
  const int64_t k = features.size(0), c = features.size(1);
  const int64_t max_channels = opl_gaussian_features_max_channels();
  TORCH_CHECK(c <= max_channels, op, ": the kernel supports at most ", max_channels,
              " channels, got features of shape ", features.sizes());
  check_tensor(op, "x", x, x, {x.size(0), d});
  check_tensor(op, "means", means, x, {k, d});
  check_tensor(op, "scales", scales, x, {k, d});
  check_tensor(op, "features", features, x, {k, c});
  check_tensor(op, "weights", weights, x, {d});
  return {d, c};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gaussian_features_forward(
    const at::Tensor& x, const at::Tensor& means, const at::Tensor& scales,
    const at::Tensor& features, const at::Tensor& weights, double cutoff) {
  const auto [d, c] = check_gaussian_inputs(kForward, x, means, scales, features, weights);
  const int64_t n = x.size(0), k = means.size(0);
  const c10::cuda::CUDAGuard guard(x.device());
  auto values = at::empty({n, c}, x.options());
  auto gradients = at::empty({n, c, d}, x.options());
  auto curvatures = at::empty({n, c}, x.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  cudaError_t status;
  if (x.scalar_type() == at::kFloat) {
    status = opl_gaussian_features_forward_f32(
        x.data_ptr<float>(), means.data_ptr<float>(), scales.data_ptr<float>(),
        features.data_ptr<float>(), weights.data_ptr<float>(), n, k, d, c, cutoff,
        values.data_ptr<float>(), gradients.data_ptr<float>(), curvatures.data_ptr<float>(),
        stream);
  } else {
    status = opl_gaussian_features_forward_f64(
        x.data_ptr<double>(), means.data_ptr<double>(), scales.data_ptr<double>(),
        features.data_ptr<double>(), weights.data_ptr<double>(), n, k, d, c, cutoff,
        values.data_ptr<double>(), gradients.data_ptr<double>(), curvatures.data_ptr<double>(),
        stream);
  }
  check_status(kForward, status);
  return {values, gradients, curvatures};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gaussian_features_backward(
    const at::Tensor& grad_values, const at::Tensor& grad_gradients,
    const at::Tensor& grad_curvatures, const at::Tensor& x, const at::Tensor& means,
    const at::Tensor& scales, const at::Tensor& features, const at::Tensor& weights,
    double cutoff) {
  const auto [d, c] = check_gaussian_inputs(kBackward, x, means, scales, features, weights);
  const int64_t n = x.size(0), k = means.size(0);
  check_tensor(kBackward, "grad_values", grad_values, x, {n, c});
  check_tensor(kBackward, "grad_gradients", grad_gradients, x, {n, c, d});
  check_tensor(kBackward, "grad_curvatures", grad_curvatures, x, {n, c});
  const c10::cuda::CUDAGuard guard(x.device());
  auto grad_x = at::empty_like(x);
  auto grad_means = at::empty_like(means);
  auto grad_scales = at::empty_like(scales);
  auto grad_features = at::empty_like(features);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  cudaError_t status;
  if (x.scalar_type() == at::kFloat) {
    status = opl_gaussian_features_backward_f32(
        grad_values.data_ptr<float>(), grad_gradients.data_ptr<float>(),
        grad_curvatures.data_ptr<float>(), x.data_ptr<float>(), means.data_ptr<float>(),
        scales.data_ptr<float>(), features.data_ptr<float>(), weights.data_ptr<float>(), n, k, d,
        c, cutoff, grad_x.data_ptr<float>(), grad_means.data_ptr<float>(),
        grad_scales.data_ptr<float>(), grad_features.data_ptr<float>(), stream);
  } else {
    status = opl_gaussian_features_backward_f64(
        grad_values.data_ptr<double>(), grad_gradients.data_ptr<double>(),
        grad_curvatures.data_ptr<double>(), x.data_ptr<double>(), means.data_ptr<double>(),
        scales.data_ptr<double>(), features.data_ptr<double>(), weights.data_ptr<double>(), n, k,
        d, c, cutoff, grad_x.data_ptr<double>(), grad_means.data_ptr<double>(),
        grad_scales.data_ptr<double>(), grad_features.data_ptr<double>(), stream);
  }
  check_status(kBackward, status);
  return {grad_x, grad_means, grad_scales, grad_features};
}

// ---- mg_smooth (kernels/mg_smooth.cu) -----------------------------------------------------------

constexpr const char* kSmooth = "opl_kernels.mg_smooth";
constexpr const char* kSmoothAdjoint = "opl_kernels.mg_smooth_adjoint";

// u (B, Cu, H, W) float32 or float64, stiffness (Cf, Cu, 3, 3), smoother (Cu, Cf, 3, 3), padding
// 0 (zeros), 1 (circular) or 2 (reflect); returns Cf.
int64_t check_smooth_inputs(const char* op, const at::Tensor& u, const at::Tensor& stiffness,
                            const at::Tensor& smoother, int64_t padding) {
  TORCH_CHECK(u.dim() == 4, op, ": u must have shape (B, Cu, H, W), got ", u.sizes());
  TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble, op,
              ": the kernel supports float32 and float64, got u of ", u.scalar_type());
  TORCH_CHECK(padding >= 0 && padding <= 2, op,
              ": padding must be 0 (zeros), 1 (circular) or 2 (reflect), got ", padding);
  TORCH_CHECK(stiffness.dim() == 4, op, ": stiffness must have shape (Cf, Cu, 3, 3), got ",
              stiffness.sizes());
  const int64_t cu = u.size(1), cf = stiffness.size(0);
  check_tensor(op, "u", u, u, u.sizes());
  check_tensor(op, "stiffness", stiffness, u, {cf, cu, 3, 3});
  check_tensor(op, "smoother", smoother, u, {cu, cf, 3, 3});
  return cf;
}

// Launches the kernel: out = u + S * (f - A * u), f == nullptr for f = 0, the residual written
// to residual_out unless it is nullptr.
void launch_smooth(const char* op, const at::Tensor& u, const at::Tensor* f,
                   const at::Tensor& stiffness, const at::Tensor& smoother, int64_t padding,
                   at::Tensor& out, at::Tensor* residual_out) {
  const int64_t batch = u.size(0), cu = u.size(1), cf = stiffness.size(0);
  const int64_t h = u.size(2), w = u.size(3);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(u.device().index()).stream();
  cudaError_t status;
  if (u.scalar_type() == at::kFloat) {
    status = opl_mg_smooth_f32(
        u.data_ptr<float>(), f ? f->data_ptr<float>() : nullptr, stiffness.data_ptr<float>(),
        smoother.data_ptr<float>(), batch, cu, cf, h, w, static_cast<int>(padding),
        out.data_ptr<float>(), residual_out ? residual_out->data_ptr<float>() : nullptr, stream);
  } else {
    status = opl_mg_smooth_f64(
        u.data_ptr<double>(), f ? f->data_ptr<double>() : nullptr, stiffness.data_ptr<double>(),
        smoother.data_ptr<double>(), batch, cu, cf, h, w, static_cast<int>(padding),
        out.data_ptr<double>(), residual_out ? residual_out->data_ptr<double>() : nullptr,
        stream);
  }
  TORCH_CHECK(status != cudaErrorInvalidValue, op, ": unsupported launch: batch ", batch,
              " (at most 65535) or ", opl_mg_smooth_shared_bytes(cu, cf, u.element_size()),
              " bytes of shared memory per block for Cu = ", cu, ", Cf = ", cf,
              " (more than the device allows)");
  check_status(op, status);
}

// out = u + smoother * (f - stiffness * u).
at::Tensor mg_smooth(const at::Tensor& u, const at::Tensor& f, const at::Tensor& stiffness,
                     const at::Tensor& smoother, int64_t padding) {
  const int64_t cf = check_smooth_inputs(kSmooth, u, stiffness, smoother, padding);
  check_tensor(kSmooth, "f", f, u, {u.size(0), cf, u.size(2), u.size(3)});
  const c10::cuda::CUDAGuard guard(u.device());
  auto out = at::empty_like(u);
  launch_smooth(kSmooth, u, &f, stiffness, smoother, padding, out, nullptr);
  return out;
}

// (g + smoother * (0 - stiffness * g), 0 - stiffness * g): with stiffness = -S^T and smoother =
// -A^T (transposed and flipped), the gradients (grad_u, grad_f) of out with respect to u and f
// for an upstream gradient g (zeros and circular padding).
std::tuple<at::Tensor, at::Tensor> mg_smooth_adjoint(const at::Tensor& g,
                                                     const at::Tensor& stiffness,
                                                     const at::Tensor& smoother,
                                                     int64_t padding) {
  const int64_t cf = check_smooth_inputs(kSmoothAdjoint, g, stiffness, smoother, padding);
  const c10::cuda::CUDAGuard guard(g.device());
  auto out = at::empty_like(g);
  auto residual = at::empty({g.size(0), cf, g.size(2), g.size(3)}, g.options());
  launch_smooth(kSmoothAdjoint, g, nullptr, stiffness, smoother, padding, out, &residual);
  return {out, residual};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gaussian_features_forward", &gaussian_features_forward,
        "(values, gradients, curvatures) of torch.ops.opl.gaussian_features", py::arg("x"),
        py::arg("means"), py::arg("scales"), py::arg("features"), py::arg("weights"),
        py::arg("cutoff"));
  m.def("gaussian_features_backward", &gaussian_features_backward,
        "(grad_x, grad_means, grad_scales, grad_features) of "
        "torch.ops.opl.gaussian_features_backward",
        py::arg("grad_values"), py::arg("grad_gradients"), py::arg("grad_curvatures"),
        py::arg("x"), py::arg("means"), py::arg("scales"), py::arg("features"),
        py::arg("weights"), py::arg("cutoff"));
  m.def("mg_smooth", &mg_smooth, "u + smoother * (f - stiffness * u): torch.ops.opl.mg_smooth",
        py::arg("u"), py::arg("f"), py::arg("stiffness"), py::arg("smoother"),
        py::arg("padding"));
  m.def("mg_smooth_adjoint", &mg_smooth_adjoint,
        "(g + smoother * (-stiffness * g), -stiffness * g): the (u, f) gradients of "
        "torch.ops.opl.mg_smooth with the adjoint weights",
        py::arg("g"), py::arg("stiffness"), py::arg("smoother"), py::arg("padding"));
  m.def("mg_smooth_shared_bytes", &opl_mg_smooth_shared_bytes,
        "bytes of shared memory a block of the kernel needs", py::arg("cu"), py::arg("cf"),
        py::arg("element_size"));
}
