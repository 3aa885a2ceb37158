// Host code that includes CCCL, compiled by the C++ compiler (not nvcc) as CTranslate2's
// src/cuda/allocator.cc is: its caching allocator is cub::CachingDeviceAllocator. CTranslate2's
// CMakeLists puts the submodule's CCCL ahead of the toolkit's headers for this compiler too
// (target_include_directories BEFORE), so g++ must build CCCL 2.7.0 with CUDA 13's runtime headers.
#include "cccl_check.h"

#include <cub/util_allocator.cuh>
#include <cuda_runtime.h>

#include <memory>

#include "ct2_rehearsal.h"

namespace {

// Bins of 4^3..4^12 bytes and 64 MiB cached, like CTranslate2's defaults (CT2_CUDA_CACHING_ALLOCATOR_CONFIG).
std::unique_ptr<cub::CachingDeviceAllocator> make_allocator() {
  return std::make_unique<cub::CachingDeviceAllocator>(4u, 3u, 12u, size_t{64} << 20);
}

cub::CachingDeviceAllocator& allocator() {
  static const std::unique_ptr<cub::CachingDeviceAllocator> instance = make_allocator();
  return *instance;
}

}  // namespace

extern "C" int rehearsal_allocate(void** ptr, unsigned long size) {
  return static_cast<int>(allocator().DeviceAllocate(ptr, size, cudaStreamPerThread));
}
extern "C" int rehearsal_free(void* ptr) {
  return static_cast<int>(allocator().DeviceFree(ptr));
}
