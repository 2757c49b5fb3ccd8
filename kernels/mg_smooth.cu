// One smoothing step of MgNO's V-cycle, fused: out = u + S * (f - A * u), the CUDA
// implementation of torch.ops.opl.mg_smooth (the specification is the pure-torch reference in
// opl/ops/mg_smooth.py, whose docstring gives the maths). Plain CUDA, no torch headers; the torch
// binding is kernels/opl_kernels.cpp and the loader opl/ops/kernels.py.
//
// Maths. u (B, Cu, H, W), f (B, Cf, H, W), A (Cf, Cu, 3, 3), S (Cu, Cf, 3, 3), row major and
// contiguous. Each 3x3 convolution (cross-correlation) reads its input extended by one point
// beyond every side by the padding mode: zeros (0), circular (periodic) or reflect (v(-1) = v(1),
// v(n) = v(n - 2)):
//   r(p)   = f(p) - sum_{j, t} A[i, j, t] u~(p + t)     (the residual, channel i)
//   out(p) = u(p) + sum_{i, t} S[o, i, t] r~(p + t)     (channel o)
// with t over the 3x3 offsets {-1, 0, 1}^2 and ~ the extension. Note that r~ is the residual
// *extended by the padding*, not a residual computed beyond the grid: for zeros r~ = 0 outside;
// for circular r~(p) = r(p mod n), which equals the residual computed from the periodically
// extended u, so the tile below simply loads u periodically extended; for reflect r~(-1) = r(1)
// is computed at the mirrored point, from u around that point (which lies in the tile too).
//
// Design. One block per (8x8 output tile, sample). The block loads u on the tile plus a halo of
// two points, (8 + 4)^2 x Cu values, into shared memory; computes the residual on the tile plus a
// halo of one point, (8 + 2)^2 x Cf values, into shared memory (never to global memory); then
// the output on the tile. Global traffic: u once (with its halo), f once, out once, and the
// weights (read by every block, through the caches). Arithmetic: 9 Cu Cf multiply-adds per
// residual point, (10/8)^2 = 1.56 times the residuals the output needs, and 9 Cu Cf per output
// point. In both convolution phases a thread computes kGroup = 4 output channels of one point:
// the 9 taps of an input channel are read from shared memory once into registers and serve
// 4 x 9 multiply-adds (the weights come through the caches; the threads of a warp mostly share
// a channel group, so they read the same weights). Shared memory: ((12^2) Cu + (10^2) Cf) values, 62.5 KB for Cu = Cf = 64 in float32, so
// the launcher raises the kernel's dynamic shared-memory limit above the default 48 KB and
// refuses (cudaErrorInvalidValue) what the device cannot hold; opl/ops/kernels.py checks the
// same bound first (opl_mg_smooth_shared_bytes) and runs the reference for larger channel
// counts.
//
// Adjoint. For zeros and circular padding the transpose of a padded convolution is the padded
// convolution with the kernel transposed in channels and flipped in space, so the gradient pair
// (grad_u = g - A^T S^T g, grad_f = S^T g) is a smoothing step of g with f = 0, stiffness
// -S^T and smoother -A^T whose residual is grad_f: the same kernel with f = nullptr and
// residual_out set (the residual's interior points are then written; the output too).
//
// Launchers return cudaErrorInvalidValue for an unsupported padding mode, batch (grid.y, at most
// 65535) or a shared-memory need above the device's, and otherwise the status of the launch.

#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kTile = 8;             // output points per tile edge
constexpr int kRes = kTile + 2;      // residual tile edge (one halo point per side)
constexpr int kSol = kTile + 4;      // solution tile edge (two halo points per side)
constexpr int kThreads = 256;        // threads per block
constexpr int kGroup = 4;            // output channels per thread in the convolution phases
constexpr int64_t kMaxBatch = 65535;  // grid.y
constexpr size_t kDefaultShared = 48 * 1024;  // dynamic shared memory without opting in

enum Padding : int { kZeros = 0, kCircular = 1, kReflect = 2 };

__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

__device__ __forceinline__ int wrap(int i, int n) { return ((i % n) + n) % n; }

// Index i in [-2, n + 1] mirrored into [0, n - 1] (the reflect extension; a point two beyond a
// grid of two is clamped: the kernel never reads those, see the header).
__device__ __forceinline__ int mirror(int i, int n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    smooth_kernel(const T* __restrict__ u, const T* __restrict__ f, const T* __restrict__ stiffness,
                  const T* __restrict__ smoother, int cu, int cf, int h, int w, int padding,
                  T* __restrict__ out, T* __restrict__ residual_out) {
  extern __shared__ double shared_memory[];  // double: aligned for T = float and double
  T* sol = reinterpret_cast<T*>(shared_memory);  // [cu][kSol][kSol]
  T* res = sol + cu * kSol * kSol;                // [cf][kRes][kRes]

  const int tiles_x = static_cast<int>(ceil_div(w, kTile));
  const int y0 = static_cast<int>(blockIdx.x) / tiles_x * kTile;
  const int x0 = static_cast<int>(blockIdx.x) % tiles_x * kTile;
  const int64_t sample = blockIdx.y;
  const int64_t plane = static_cast<int64_t>(h) * w;
  const T* u_sample = u + sample * cu * plane;

  // 1. u on the tile and two halo points, extended by the padding.
  for (int index = threadIdx.x; index < cu * kSol * kSol; index += kThreads) {
    const int channel = index / (kSol * kSol);
    const int local = index % (kSol * kSol);
    int y = y0 - 2 + local / kSol, x = x0 - 2 + local % kSol;
    T value = T(0);
    if (padding == kZeros) {
      if (y >= 0 && y < h && x >= 0 && x < w) value = u_sample[channel * plane + y * w + x];
    } else {
      y = padding == kCircular ? wrap(y, h) : mirror(y, h);
      x = padding == kCircular ? wrap(x, w) : mirror(x, w);
      value = u_sample[channel * plane + y * w + x];
    }
    sol[index] = value;
  }
  __syncthreads();

  // 2. The residual on the tile and one halo point, as S will read it (r~), for a group of
  //    kGroup channels per thread (each solution value read from shared memory serves kGroup
  //    multiply-adds).
  const int res_groups = static_cast<int>(ceil_div(cf, kGroup));
  for (int index = threadIdx.x; index < res_groups * kRes * kRes; index += kThreads) {
    const int first = index / (kRes * kRes) * kGroup;
    const int local = index % (kRes * kRes);
    const int ry = local / kRes, rx = local % kRes;
    int y = y0 - 1 + ry, x = x0 - 1 + rx;  // the point of r~
    int cy = ry + 1, cx = rx + 1;          // its centre in the solution tile
    T value[kGroup] = {};
    const bool outside = y < 0 || y >= h || x < 0 || x >= w;
    // Points more than one beyond the grid (a partial tile's) are read by no output; skipping
    // them also keeps a mirrored centre inside the solution tile.
    const bool needed = y <= h && x <= w && !(outside && padding == kZeros);
    if (needed) {
      if (padding == kCircular) {
        y = wrap(y, h);
        x = wrap(x, w);
      } else if (padding == kReflect) {
        const int my = mirror(y, h), mx = mirror(x, w);
        cy += my - y;
        cx += mx - x;
        y = my;
        x = mx;
      }
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        if (f != nullptr && first + g < cf) {
          value[g] = f[(sample * cf + first + g) * plane + y * w + x];
        }
      }
      for (int j = 0; j < cu; ++j) {
        const T* s = sol + j * kSol * kSol + (cy - 1) * kSol + (cx - 1);
        T taps[9];
#pragma unroll
        for (int t = 0; t < 9; ++t) taps[t] = s[(t / 3) * kSol + t % 3];
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          if (first + g < cf) {
            const T* a = stiffness + (static_cast<int64_t>(first + g) * cu + j) * 9;
#pragma unroll
            for (int t = 0; t < 9; ++t) value[g] -= a[t] * taps[t];
          }
        }
      }
      if (residual_out != nullptr && !outside && ry >= 1 && ry <= kTile && rx >= 1 &&
          rx <= kTile) {
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          if (first + g < cf) {
            residual_out[(sample * cf + first + g) * plane + y * w + x] = value[g];
          }
        }
      }
    }
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (first + g < cf) res[(first + g) * kRes * kRes + local] = value[g];
    }
  }
  __syncthreads();

  // 3. out = u + S * r~ on the tile's points inside the grid, kGroup channels per thread.
  const int out_groups = static_cast<int>(ceil_div(cu, kGroup));
  for (int index = threadIdx.x; index < out_groups * kTile * kTile; index += kThreads) {
    const int first = index / (kTile * kTile) * kGroup;
    const int oy = index % (kTile * kTile) / kTile, ox = index % kTile;
    const int y = y0 + oy, x = x0 + ox;
    if (y >= h || x >= w) continue;
    T value[kGroup];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      value[g] = first + g < cu ? sol[(first + g) * kSol * kSol + (oy + 2) * kSol + ox + 2] : T(0);
    }
    for (int i = 0; i < cf; ++i) {
      const T* r = res + i * kRes * kRes + oy * kRes + ox;
      T taps[9];
#pragma unroll
      for (int t = 0; t < 9; ++t) taps[t] = r[(t / 3) * kRes + t % 3];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        if (first + g < cu) {
          const T* s = smoother + (static_cast<int64_t>(first + g) * cf + i) * 9;
#pragma unroll
          for (int t = 0; t < 9; ++t) value[g] += s[t] * taps[t];
        }
      }
    }
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (first + g < cu) out[(sample * cu + first + g) * plane + y * w + x] = value[g];
    }
  }
}

template <typename T>
cudaError_t launch(const T* u, const T* f, const T* stiffness, const T* smoother, int64_t batch,
                   int64_t cu, int64_t cf, int64_t h, int64_t w, int padding, T* out,
                   T* residual_out, cudaStream_t stream) {
  if (padding < kZeros || padding > kReflect || batch > kMaxBatch) return cudaErrorInvalidValue;
  if (batch == 0 || cu == 0 || h == 0 || w == 0) return cudaSuccess;  // nothing to compute
  const size_t bytes = static_cast<size_t>(cu * kSol * kSol + cf * kRes * kRes) * sizeof(T);
  if (bytes > kDefaultShared) {  // opt in to more (a host call per launch, so only when needed)
    int device = 0, limit = 0;
    cudaError_t status = cudaGetDevice(&device);
    if (status != cudaSuccess) return status;
    status = cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    if (status != cudaSuccess) return status;
    if (bytes > static_cast<size_t>(limit)) return cudaErrorInvalidValue;
    status = cudaFuncSetAttribute(smooth_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(bytes));
    if (status != cudaSuccess) return status;
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(h, kTile) * ceil_div(w, kTile)),
                  static_cast<unsigned>(batch));
  smooth_kernel<T><<<grid, kThreads, bytes, stream>>>(
      u, f, stiffness, smoother, static_cast<int>(cu), static_cast<int>(cf), static_cast<int>(h),
      static_cast<int>(w), padding, out, residual_out);
  return cudaGetLastError();
}

}  // namespace

extern "C" {

// Bytes of shared memory a block needs for cu solution and cf residual channels of
// element_size-byte values (the bound opl/ops/kernels.py checks before launching).
int64_t opl_mg_smooth_shared_bytes(int64_t cu, int64_t cf, int64_t element_size) {
  return (cu * kSol * kSol + cf * kRes * kRes) * element_size;
}

// out = u + S * (f - A * u); f may be nullptr (f = 0); residual_out, if not nullptr, receives
// the residual f - A * u. padding: 0 zeros, 1 circular, 2 reflect.
cudaError_t opl_mg_smooth_f32(const float* u, const float* f, const float* stiffness,
                              const float* smoother, int64_t batch, int64_t cu, int64_t cf,
                              int64_t h, int64_t w, int padding, float* out, float* residual_out,
                              cudaStream_t stream) {
  return launch(u, f, stiffness, smoother, batch, cu, cf, h, w, padding, out, residual_out,
                stream);
}

cudaError_t opl_mg_smooth_f64(const double* u, const double* f, const double* stiffness,
                              const double* smoother, int64_t batch, int64_t cu, int64_t cf,
                              int64_t h, int64_t w, int padding, double* out,
                              double* residual_out, cudaStream_t stream) {
  return launch(u, f, stiffness, smoother, batch, cu, cf, h, w, padding, out, residual_out,
                stream);
}

}  // extern "C"
