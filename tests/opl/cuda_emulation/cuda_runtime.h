// A CPU stand-in for the part of the CUDA runtime that kernels/*.cu use, so that the tests can
// run the kernels' code (indexing, shared-memory tiles, channel groups, point splits, atomics,
// zeroing) on a machine without a GPU: tests/opl/test_kernels.py compiles a .cu file with g++
// against this header, after rewriting each launch `kernel<<<grid, block, 0, stream>>>(args)`
// into `emulate_launch(grid, dim3(block), kernel, args)`.
//
// Blocks run one after another; the threads of a block run as std::threads, with a std::barrier
// for __syncthreads and function-local statics for __shared__ variables (one block at a time
// uses them). Nothing warp-level is modelled, and the arithmetic is the host's (no GPU fused
// multiply-adds or expf), so this checks the logic of a kernel, not its GPU rounding.
#pragma once

#include <barrier>
#include <cmath>
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
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };

// The multiprocessor count the launchers see (it sets how the point range is split).
inline int emulated_multiprocessors = 1;
extern "C" void emulation_set_multiprocessors(int count) { emulated_multiprocessors = count; }

inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = emulated_multiprocessors;
  return cudaSuccess;
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
void emulate_launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
      block.y != 1 || block.z != 1) {
    emulated_last_error = cudaErrorInvalidValue;
    return;
  }
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
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
