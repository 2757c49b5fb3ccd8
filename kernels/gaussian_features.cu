// Gaussian features with their first and second derivatives in x, and their backward pass:
// the CUDA implementation of torch.ops.opl.gaussian_features and
// torch.ops.opl.gaussian_features_backward (the specification is the pure-torch reference in
// opl/ops/gaussian_features.py). Plain CUDA, no torch headers; the torch binding is
// kernels/opl_kernels.cpp and the loader opl/ops/kernels.py.
//
// Maths, per (point n, Gaussian k) pair, with u_j = x_j - mu_kj, a_j = 1/s_kj^2, ua_j = u_j a_j:
//   E = sum_j u_j ua_j,   g = exp(-E/2)          (the pair is skipped when E > cutoff^2)
//   q = sum_j w_j (ua_j^2 - a_j)
//   values_c     += f_kc g
//   gradients_cj -= f_kc g ua_j
//   curvatures_c += f_kc g q
// Backward of l = <gV, values> + <gG, gradients> + <gL, curvatures>, with
//   alpha = sum_c gV_c f_kc,  beta_j = sum_c gG_cj f_kc,  rho = sum_c gL_c f_kc,
//   h = alpha - sum_j beta_j ua_j + rho q:
//   grad_f_kc  += g (gV_c - sum_j gG_cj ua_j + gL_c q)
//   dl/du_j     = g (-ua_j h - beta_j a_j + 2 rho w_j ua_j a_j)     -> grad_x_nj += , grad_mu_kj -=
//   dl/da_j     = g (-u_j^2 h / 2 - beta_j u_j + rho w_j (2 u_j ua_j - 1))
//   grad_s_kj   = (sum_n dl/da_j) * (-2 a_j / s_kj)                 (da/ds = -2/s^3)
// Differences are taken directly (u = x - mu), not through the GEMM expansion of the CPU path,
// so float32 keeps its precision far from the centre of the Gaussians.
//
// Channels. Every kernel handles a group of kGroup = 4 channels per thread (the group is a grid
// dimension), so any number c of channels works with registers and shared memory independent of
// c. alpha, beta and rho are sums over channels and the backward formulas are linear in them, so
// each channel group contributes its own share to grad_x, grad_mu and grad_s; the shares are
// added with atomicAdd. The cost is that a pair's E, g and q are recomputed once per group.
//
// Kernels:
//   forward_kernel      one thread per point; Gaussians (mu, a, f of the group) streamed through
//                       shared-memory tiles of kBlock; every output element written by exactly
//                       one thread (no reliance on zeroed memory).
//   grad_x_kernel       one thread per point, Gaussians tiled as above; with more than one
//                       channel group the groups' shares are atomically added into a zeroed
//                       grad_x, otherwise written directly.
//   grad_params_kernel  one thread per Gaussian; points (x and the group's upstream gradients)
//                       streamed through shared-memory tiles; the point range is split over
//                       grid.y so that small K still fills the GPU, and the partial sums of the
//                       splits and channel groups are atomically added into zeroed grad_mu,
//                       grad_s, grad_f.
// The atomics only make the order of the floating-point additions, hence the last bits of the
// backward results, vary from run to run; the sums themselves are exact decompositions.
//
// Layouts (row major, contiguous): x (N, d), means and scales (K, d), features (K, c),
// weights (d,), values and curvatures (N, c), gradients (N, c, d); the upstream gradients have
// the shapes of the outputs. d is 1, 2 or 3 (a template parameter). The launchers return
// cudaErrorInvalidValue for an unsupported d or too many channels (more than kMaxChannels:
// the grid dimension holding the channel groups is limited to 65535), and otherwise the
// status of the launches.

#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kBlock = 128;  // threads per block, and points or Gaussians per shared tile
constexpr int kGroup = 4;    // channels per thread
constexpr int64_t kMaxGridYZ = 65535;

template <typename T>
__device__ __forceinline__ T gaussian(T energy);

template <>
__device__ __forceinline__ float gaussian<float>(float energy) {
  return expf(-0.5f * energy);
}

template <>
__device__ __forceinline__ double gaussian<double>(double energy) {
  return exp(-0.5 * energy);
}

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The terms of the pair (point x, Gaussian mu, a = 1/s^2): u_j = x_j - mu_j, ua_j = u_j a_j,
// E = sum_j u_j ua_j, g = exp(-E/2) and q = sum_j w_j (ua_j^2 - a_j). Returns false, with only
// u, ua computed, when the pair is cut off (E > cut2).
template <typename T, int D>
__device__ __forceinline__ bool pair_terms(const T (&x)[D], const T (&mu)[D], const T (&a)[D],
                                           const T (&w)[D], T cut2, T (&u)[D], T (&ua)[D], T& g,
                                           T& q) {
  T energy = T(0);
#pragma unroll
  for (int j = 0; j < D; ++j) {
    u[j] = x[j] - mu[j];
    ua[j] = u[j] * a[j];
    energy += u[j] * ua[j];
  }
  if (energy > cut2) return false;
  g = gaussian(energy);
  q = T(0);
#pragma unroll
  for (int j = 0; j < D; ++j) q += w[j] * (ua[j] * ua[j] - a[j]);
  return true;
}

// A tile of kBlock Gaussians: means, 1/s^2 and the features of one channel group.
template <typename T, int D>
struct GaussianTile {
  T mu[kBlock][D];
  T a[kBlock][D];
  T f[kBlock][kGroup];
};

// Thread t loads Gaussian begin + t (zero features when past the end or the channel count).
template <typename T, int D>
__device__ __forceinline__ void load_gaussians(GaussianTile<T, D>& tile, const T* means,
                                               const T* scales, const T* features, int64_t k,
                                               int64_t c, int64_t c_begin, int64_t begin) {
  const int t = threadIdx.x;
  const int64_t gaussian_index = begin + t;
  const bool valid = gaussian_index < k;
#pragma unroll
  for (int j = 0; j < D; ++j) {
    const T s = valid ? scales[gaussian_index * D + j] : T(1);
    tile.mu[t][j] = valid ? means[gaussian_index * D + j] : T(0);
    tile.a[t][j] = T(1) / (s * s);
  }
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const int64_t channel = c_begin + i;
    tile.f[t][i] = valid && channel < c ? features[gaussian_index * c + channel] : T(0);
  }
}

// grid (ceil(N / kBlock), ceil(c / kGroup)), block kBlock.
template <typename T, int D>
__global__ void __launch_bounds__(kBlock)
    forward_kernel(const T* __restrict__ x, const T* __restrict__ means,
                   const T* __restrict__ scales, const T* __restrict__ features,
                   const T* __restrict__ weights, int64_t n, int64_t k, int64_t c, T cut2,
                   T* __restrict__ values, T* __restrict__ gradients,
                   T* __restrict__ curvatures) {
  __shared__ GaussianTile<T, D> tile;
  const int64_t point = blockIdx.x * int64_t(kBlock) + threadIdx.x;
  const int64_t c_begin = blockIdx.y * int64_t(kGroup);
  const bool active = point < n;
  T xp[D], w[D];
#pragma unroll
  for (int j = 0; j < D; ++j) {
    xp[j] = active ? x[point * D + j] : T(0);
    w[j] = weights[j];
  }
  T value[kGroup], grad[kGroup][D], curv[kGroup];
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    value[i] = T(0);
    curv[i] = T(0);
#pragma unroll
    for (int j = 0; j < D; ++j) grad[i][j] = T(0);
  }
  for (int64_t begin = 0; begin < k; begin += kBlock) {
    __syncthreads();  // the previous tile has been used by every thread
    load_gaussians(tile, means, scales, features, k, c, c_begin, begin);
    __syncthreads();
    const int count = static_cast<int>(min64(kBlock, k - begin));
    for (int m = 0; m < count; ++m) {
      T u[D], ua[D], g, q;
      if (!pair_terms(xp, tile.mu[m], tile.a[m], w, cut2, u, ua, g, q)) continue;
#pragma unroll
      for (int i = 0; i < kGroup; ++i) {
        const T gf = g * tile.f[m][i];
        value[i] += gf;
        curv[i] += gf * q;
#pragma unroll
        for (int j = 0; j < D; ++j) grad[i][j] -= gf * ua[j];
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const int64_t channel = c_begin + i;
    if (channel >= c) break;
    const int64_t out = point * c + channel;
    values[out] = value[i];
    curvatures[out] = curv[i];
#pragma unroll
    for (int j = 0; j < D; ++j) gradients[out * D + j] = grad[i][j];
  }
}

// The upstream gradients of one point for channels c_begin .. c_begin + kGroup - 1 (zero past
// the channel count, or for an inactive thread's point).
template <typename T, int D>
__device__ __forceinline__ void load_upstream(const T* grad_values, const T* grad_gradients,
                                              const T* grad_curvatures, bool active,
                                              int64_t point, int64_t c, int64_t c_begin,
                                              T gv[kGroup], T gg[kGroup][D], T gl[kGroup]) {
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const int64_t channel = c_begin + i;
    const bool valid = active && channel < c;
    const int64_t at = point * c + channel;
    gv[i] = valid ? grad_values[at] : T(0);
    gl[i] = valid ? grad_curvatures[at] : T(0);
#pragma unroll
    for (int j = 0; j < D; ++j) gg[i][j] = valid ? grad_gradients[at * D + j] : T(0);
  }
}

// grid (ceil(N / kBlock), ceil(c / kGroup)), block kBlock. With accumulate, grad_x must be
// zeroed and each channel group adds its share; otherwise (one group) it is written.
template <typename T, int D>
__global__ void __launch_bounds__(kBlock)
    grad_x_kernel(const T* __restrict__ grad_values, const T* __restrict__ grad_gradients,
                  const T* __restrict__ grad_curvatures, const T* __restrict__ x,
                  const T* __restrict__ means, const T* __restrict__ scales,
                  const T* __restrict__ features, const T* __restrict__ weights, int64_t n,
                  int64_t k, int64_t c, T cut2, bool accumulate, T* __restrict__ grad_x) {
  __shared__ GaussianTile<T, D> tile;
  const int64_t point = blockIdx.x * int64_t(kBlock) + threadIdx.x;
  const int64_t c_begin = blockIdx.y * int64_t(kGroup);
  const bool active = point < n;
  T xp[D], w[D], gv[kGroup], gg[kGroup][D], gl[kGroup], acc[D];
#pragma unroll
  for (int j = 0; j < D; ++j) {
    xp[j] = active ? x[point * D + j] : T(0);
    w[j] = weights[j];
    acc[j] = T(0);
  }
  load_upstream<T, D>(grad_values, grad_gradients, grad_curvatures, active, point, c, c_begin,
                      gv, gg, gl);
  for (int64_t begin = 0; begin < k; begin += kBlock) {
    __syncthreads();
    load_gaussians(tile, means, scales, features, k, c, c_begin, begin);
    __syncthreads();
    const int count = static_cast<int>(min64(kBlock, k - begin));
    for (int m = 0; m < count; ++m) {
      T u[D], ua[D], g, q;
      if (!pair_terms(xp, tile.mu[m], tile.a[m], w, cut2, u, ua, g, q)) continue;
      T alpha = T(0), rho = T(0), beta[D];
#pragma unroll
      for (int j = 0; j < D; ++j) beta[j] = T(0);
#pragma unroll
      for (int i = 0; i < kGroup; ++i) {
        const T f = tile.f[m][i];
        alpha += gv[i] * f;
        rho += gl[i] * f;
#pragma unroll
        for (int j = 0; j < D; ++j) beta[j] += gg[i][j] * f;
      }
      T h = alpha + rho * q;
#pragma unroll
      for (int j = 0; j < D; ++j) h -= beta[j] * ua[j];
#pragma unroll
      for (int j = 0; j < D; ++j) {
        const T a = tile.a[m][j];
        acc[j] += g * (-ua[j] * h - beta[j] * a + T(2) * rho * w[j] * ua[j] * a);
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int j = 0; j < D; ++j) {
    if (accumulate) {
      atomicAdd(&grad_x[point * D + j], acc[j]);
    } else {
      grad_x[point * D + j] = acc[j];
    }
  }
}

// A tile of kBlock points: x and the upstream gradients of one channel group.
template <typename T, int D>
struct PointTile {
  T x[kBlock][D];
  T gv[kBlock][kGroup];
  T gg[kBlock][kGroup][D];
  T gl[kBlock][kGroup];
};

// grid (ceil(K / kBlock), splits, ceil(c / kGroup)), block kBlock; split y covers the points
// [y * points_per_split, (y + 1) * points_per_split) (points_per_split a multiple of kBlock).
// grad_means, grad_scales and grad_features must be zeroed: every block adds its partial sums.
template <typename T, int D>
__global__ void __launch_bounds__(kBlock)
    grad_params_kernel(const T* __restrict__ grad_values, const T* __restrict__ grad_gradients,
                       const T* __restrict__ grad_curvatures, const T* __restrict__ x,
                       const T* __restrict__ means, const T* __restrict__ scales,
                       const T* __restrict__ features, const T* __restrict__ weights, int64_t n,
                       int64_t k, int64_t c, T cut2, int64_t points_per_split,
                       T* __restrict__ grad_means, T* __restrict__ grad_scales,
                       T* __restrict__ grad_features) {
  __shared__ PointTile<T, D> tile;
  const int t = threadIdx.x;
  const int64_t gaussian_index = blockIdx.x * int64_t(kBlock) + t;
  const int64_t c_begin = blockIdx.z * int64_t(kGroup);
  const bool active = gaussian_index < k;
  T mu[D], s[D], a[D], w[D], f[kGroup], acc_mu[D], acc_a[D], acc_f[kGroup];
#pragma unroll
  for (int j = 0; j < D; ++j) {
    mu[j] = active ? means[gaussian_index * D + j] : T(0);
    s[j] = active ? scales[gaussian_index * D + j] : T(1);
    a[j] = T(1) / (s[j] * s[j]);
    w[j] = weights[j];
    acc_mu[j] = T(0);
    acc_a[j] = T(0);
  }
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const int64_t channel = c_begin + i;
    f[i] = active && channel < c ? features[gaussian_index * c + channel] : T(0);
    acc_f[i] = T(0);
  }
  const int64_t split_begin = blockIdx.y * points_per_split;
  const int64_t split_end = min64(n, split_begin + points_per_split);
  for (int64_t begin = split_begin; begin < split_end; begin += kBlock) {
    __syncthreads();
    const int64_t point = begin + t;
    if (point < split_end) {
#pragma unroll
      for (int j = 0; j < D; ++j) tile.x[t][j] = x[point * D + j];
      load_upstream<T, D>(grad_values, grad_gradients, grad_curvatures, true, point, c, c_begin,
                          tile.gv[t], tile.gg[t], tile.gl[t]);
    }
    __syncthreads();
    const int count = static_cast<int>(min64(kBlock, split_end - begin));
    for (int m = 0; m < count; ++m) {
      T u[D], ua[D], g, q;
      if (!pair_terms(tile.x[m], mu, a, w, cut2, u, ua, g, q)) continue;
      T alpha = T(0), rho = T(0), beta[D];
#pragma unroll
      for (int j = 0; j < D; ++j) beta[j] = T(0);
#pragma unroll
      for (int i = 0; i < kGroup; ++i) {
        const T gv = tile.gv[m][i], gl = tile.gl[m][i];
        T upstream = gv + gl * q;  // gV_c - sum_j gG_cj ua_j + gL_c q
        alpha += gv * f[i];
        rho += gl * f[i];
#pragma unroll
        for (int j = 0; j < D; ++j) {
          const T gg = tile.gg[m][i][j];
          upstream -= gg * ua[j];
          beta[j] += gg * f[i];
        }
        acc_f[i] += g * upstream;
      }
      T h = alpha + rho * q;
#pragma unroll
      for (int j = 0; j < D; ++j) h -= beta[j] * ua[j];
#pragma unroll
      for (int j = 0; j < D; ++j) {
        acc_mu[j] -= g * (-ua[j] * h - beta[j] * a[j] + T(2) * rho * w[j] * ua[j] * a[j]);
        acc_a[j] += g * (T(-0.5) * u[j] * u[j] * h - beta[j] * u[j] +
                         rho * w[j] * (T(2) * u[j] * ua[j] - T(1)));
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int j = 0; j < D; ++j) {
    atomicAdd(&grad_means[gaussian_index * D + j], acc_mu[j]);
    atomicAdd(&grad_scales[gaussian_index * D + j], acc_a[j] * (T(-2) * a[j] / s[j]));
  }
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const int64_t channel = c_begin + i;
    if (channel >= c) break;
    atomicAdd(&grad_features[gaussian_index * c + channel], acc_f[i]);
  }
}

template <typename T>
cudaError_t zero(T* out, int64_t size, cudaStream_t stream) {
  return size == 0 ? cudaSuccess
                   : cudaMemsetAsync(out, 0, sizeof(T) * static_cast<size_t>(size), stream);
}

bool supported(int64_t d, int64_t c) {
  return d >= 1 && d <= 3 && c >= 0 && ceil_div(c, kGroup) <= kMaxGridYZ;
}

template <typename T, int D>
cudaError_t launch_forward(const T* x, const T* means, const T* scales, const T* features,
                           const T* weights, int64_t n, int64_t k, int64_t c, T cut2, T* values,
                           T* gradients, T* curvatures, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(ceil_div(n, kBlock)),
                  static_cast<unsigned>(ceil_div(c, kGroup)));
  forward_kernel<T, D><<<grid, kBlock, 0, stream>>>(x, means, scales, features, weights, n, k, c,
                                                    cut2, values, gradients, curvatures);
  return cudaGetLastError();
}

template <typename T>
cudaError_t forward(const T* x, const T* means, const T* scales, const T* features,
                    const T* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
                    T* values, T* gradients, T* curvatures, cudaStream_t stream) {
  if (!supported(d, c)) return cudaErrorInvalidValue;
  if (n == 0 || c == 0) return cudaSuccess;  // no output element
  const T cut2 = static_cast<T>(cutoff * cutoff);  // infinity for no cutoff
  switch (d) {
    case 1:
      return launch_forward<T, 1>(x, means, scales, features, weights, n, k, c, cut2, values,
                                  gradients, curvatures, stream);
    case 2:
      return launch_forward<T, 2>(x, means, scales, features, weights, n, k, c, cut2, values,
                                  gradients, curvatures, stream);
    default:
      return launch_forward<T, 3>(x, means, scales, features, weights, n, k, c, cut2, values,
                                  gradients, curvatures, stream);
  }
}

// Splits of the point range for grad_params_kernel: enough blocks for about kBlocksPerSm blocks
// on every multiprocessor, each split at least one tile long.
constexpr int64_t kBlocksPerSm = 8;

cudaError_t point_splits(int64_t n, int64_t k, int64_t c, int64_t* splits,
                         int64_t* points_per_split) {
  int device = 0, sms = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status != cudaSuccess) return status;
  status = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (status != cudaSuccess) return status;
  const int64_t blocks = ceil_div(k, kBlock) * ceil_div(c, kGroup);
  const int64_t wanted = ceil_div(kBlocksPerSm * sms, blocks);
  const int64_t tiles = ceil_div(n, kBlock);
  const int64_t tiles_per_split = ceil_div(tiles, min64(min64(wanted, tiles), kMaxGridYZ));
  *points_per_split = tiles_per_split * kBlock;
  *splits = ceil_div(n, *points_per_split);
  return cudaSuccess;
}

template <typename T, int D>
cudaError_t launch_backward(const T* grad_values, const T* grad_gradients,
                            const T* grad_curvatures, const T* x, const T* means,
                            const T* scales, const T* features, const T* weights, int64_t n,
                            int64_t k, int64_t c, T cut2, T* grad_x, T* grad_means,
                            T* grad_scales, T* grad_features, cudaStream_t stream) {
  const int64_t groups = ceil_div(c, kGroup);
  const bool accumulate = groups > 1;
  if (accumulate) {
    const cudaError_t status = zero(grad_x, n * D, stream);
    if (status != cudaSuccess) return status;
  }
  const dim3 point_grid(static_cast<unsigned>(ceil_div(n, kBlock)),
                        static_cast<unsigned>(groups));
  grad_x_kernel<T, D><<<point_grid, kBlock, 0, stream>>>(grad_values, grad_gradients,
                                                         grad_curvatures, x, means, scales,
                                                         features, weights, n, k, c, cut2,
                                                         accumulate, grad_x);
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess || k == 0) return status;
  int64_t splits = 0, points_per_split = 0;
  status = point_splits(n, k, c, &splits, &points_per_split);
  if (status != cudaSuccess) return status;
  const dim3 gaussian_grid(static_cast<unsigned>(ceil_div(k, kBlock)),
                           static_cast<unsigned>(splits), static_cast<unsigned>(groups));
  grad_params_kernel<T, D><<<gaussian_grid, kBlock, 0, stream>>>(
      grad_values, grad_gradients, grad_curvatures, x, means, scales, features, weights, n, k, c,
      cut2, points_per_split, grad_means, grad_scales, grad_features);
  return cudaGetLastError();
}

template <typename T>
cudaError_t backward(const T* grad_values, const T* grad_gradients, const T* grad_curvatures,
                     const T* x, const T* means, const T* scales, const T* features,
                     const T* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
                     T* grad_x, T* grad_means, T* grad_scales, T* grad_features,
                     cudaStream_t stream) {
  if (!supported(d, c)) return cudaErrorInvalidValue;
  // the parameter gradients are sums over points: zeroed, then added to
  cudaError_t status = zero(grad_means, k * d, stream);
  if (status == cudaSuccess) status = zero(grad_scales, k * d, stream);
  if (status == cudaSuccess) status = zero(grad_features, k * c, stream);
  if (status != cudaSuccess || n == 0) return status;
  if (c == 0) return zero(grad_x, n * d, stream);
  const T cut2 = static_cast<T>(cutoff * cutoff);
  switch (d) {
    case 1:
      return launch_backward<T, 1>(grad_values, grad_gradients, grad_curvatures, x, means,
                                   scales, features, weights, n, k, c, cut2, grad_x, grad_means,
                                   grad_scales, grad_features, stream);
    case 2:
      return launch_backward<T, 2>(grad_values, grad_gradients, grad_curvatures, x, means,
                                   scales, features, weights, n, k, c, cut2, grad_x, grad_means,
                                   grad_scales, grad_features, stream);
    default:
      return launch_backward<T, 3>(grad_values, grad_gradients, grad_curvatures, x, means,
                                   scales, features, weights, n, k, c, cut2, grad_x, grad_means,
                                   grad_scales, grad_features, stream);
  }
}

}  // namespace

extern "C" {

int64_t opl_gaussian_features_max_channels() { return kMaxGridYZ * kGroup; }

cudaError_t opl_gaussian_features_forward_f32(const float* x, const float* means,
                                              const float* scales, const float* features,
                                              const float* weights, int64_t n, int64_t k,
                                              int64_t d, int64_t c, double cutoff, float* values,
                                              float* gradients, float* curvatures,
                                              cudaStream_t stream) {
  return forward<float>(x, means, scales, features, weights, n, k, d, c, cutoff, values,
                        gradients, curvatures, stream);
}

cudaError_t opl_gaussian_features_forward_f64(const double* x, const double* means,
                                              const double* scales, const double* features,
                                              const double* weights, int64_t n, int64_t k,
                                              int64_t d, int64_t c, double cutoff,
                                              double* values, double* gradients,
                                              double* curvatures, cudaStream_t stream) {
  return forward<double>(x, means, scales, features, weights, n, k, d, c, cutoff, values,
                         gradients, curvatures, stream);
}

cudaError_t opl_gaussian_features_backward_f32(
    const float* grad_values, const float* grad_gradients, const float* grad_curvatures,
    const float* x, const float* means, const float* scales, const float* features,
    const float* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
    float* grad_x, float* grad_means, float* grad_scales, float* grad_features,
    cudaStream_t stream) {
  return backward<float>(grad_values, grad_gradients, grad_curvatures, x, means, scales,
                         features, weights, n, k, d, c, cutoff, grad_x, grad_means, grad_scales,
                         grad_features, stream);
}

cudaError_t opl_gaussian_features_backward_f64(
    const double* grad_values, const double* grad_gradients, const double* grad_curvatures,
    const double* x, const double* means, const double* scales, const double* features,
    const double* weights, int64_t n, int64_t k, int64_t d, int64_t c, double cutoff,
    double* grad_x, double* grad_means, double* grad_scales, double* grad_features,
    cudaStream_t stream) {
  return backward<double>(grad_values, grad_gradients, grad_curvatures, x, means, scales,
                          features, weights, n, k, d, c, cutoff, grad_x, grad_means, grad_scales,
                          grad_features, stream);
}

}  // extern "C"
