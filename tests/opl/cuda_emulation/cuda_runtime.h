// A CPU stand-in for the part of the CUDA runtime that kernels/*.cu use, so that the tests can
// run the kernels' code (indexing, shared-memory tiles, channel groups, point splits, atomics,
// zeroing) on a machine without a GPU: tests/opl/test_kernels.py compiles a .cu file with g++
// against this header, after rewriting each launch `kernel<<<grid, block, shared, stream>>>(args)`
// into `emulate_launch(grid, dim3(block), shared, kernel, args)` and each dynamic shared-memory
// declaration `extern __shared__ T name[];` into `T* name = emulated_dynamic_shared<T>();`.
//
// Blocks run one after another; the threads of a block run as std::threads, with a std::barrier
// for __syncthreads, function-local statics for __shared__ variables and one buffer for the
// dynamic shared memory (one block at a time uses them; the buffer is NaN-filled before each
// block, so a read of shared memory the block did not write shows). Nothing warp-level is modelled, and the arithmetic is the host's (no GPU fused
// multiply-adds or expf), so this checks the logic of a kernel, not its GPU rounding.
#pragma once

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local std::barrier<>* emulated_block_barrier;
inline void __syncthreads() { emulated_block_barrier->arrive_and_wait(); }

inline std::mutex emulated_atomics;
template <typename T>
T atomicAdd(T* address, T value) {
  const std::lock_guard<std::mutex> lock(emulated_atomics);
  const T old = *address;
  *address = old + value;
  return old;
}

using std::exp;
inline float expf(float x) { return std::exp(x); }

using cudaError_t = int;
using cudaStream_t = void*;
constexpr cudaError_t cudaSuccess = 0;
constexpr cudaError_t cudaErrorInvalidValue = 1;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount, cudaDevAttrMaxSharedMemoryPerBlockOptin };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };

// The multiprocessor count the launchers see (it sets how the point range is split).
inline int emulated_multiprocessors = 1;
extern "C" void emulation_set_multiprocessors(int count) { emulated_multiprocessors = count; }
// The shared memory a block may opt into (an H100's by default).
inline int emulated_shared_optin = 232448;
extern "C" void emulation_set_shared_optin(int bytes) { emulated_shared_optin = bytes; }

inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int) {
  *value = attribute == cudaDevAttrMultiProcessorCount ? emulated_multiprocessors
                                                       : emulated_shared_optin;
  return cudaSuccess;
}
// The limit a launch may use: anything up to the opt-in maximum is accepted.
inline int emulated_dynamic_limit = 48 * 1024;
template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel, cudaFuncAttribute, int bytes) {
  if (bytes > emulated_shared_optin) return cudaErrorInvalidValue;
  emulated_dynamic_limit = bytes;
  return cudaSuccess;
}

inline std::vector<double> emulated_shared_buffer;
template <typename T>
T* emulated_dynamic_shared() {
  return reinterpret_cast<T*>(emulated_shared_buffer.data());
}
inline cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t) {
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}
// As on a GPU, an invalid launch configuration is reported by the next cudaGetLastError.
inline cudaError_t emulated_last_error = cudaSuccess;
inline cudaError_t cudaGetLastError() {
  const cudaError_t error = emulated_last_error;
  emulated_last_error = cudaSuccess;
  return error;
}

template <typename Kernel, typename... Args>
void emulate_launch(dim3 grid, dim3 block, size_t shared, Kernel kernel, Args... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
      block.y != 1 || block.z != 1 ||
      shared > static_cast<size_t>(std::max(emulated_dynamic_limit, 48 * 1024))) {
    emulated_last_error = cudaErrorInvalidValue;
    return;
  }
  emulated_shared_buffer.resize(shared / sizeof(double) + 1);
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        // all bits set: a NaN as float and as double
        std::memset(emulated_shared_buffer.data(), 0xff,
                    emulated_shared_buffer.size() * sizeof(double));
        std::barrier<> barrier(block.x);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block.x; ++t) {
          threads.emplace_back([&, t] {
            threadIdx = {t, 0, 0};
            blockIdx = {x, y, z};
            emulated_block_barrier = &barrier;
            kernel(args...);
          });
        }
        for (auto& thread : threads) thread.join();
      }
    }
  }
}
