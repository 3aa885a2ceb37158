// Thrust the way CTranslate2's src/cuda/helpers.h and primitives.cu call it: THRUST_CALL with
// thrust::cuda::par_nosync.on(stream), transform over __half / __nv_bfloat16 device pointers,
// counting + transform + permutation iterators (its `permute` and `binary_transform` with an
// index function), and a device reduction.
#include "cccl_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <thrust/copy.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/permutation_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>
#include <thrust/transform.h>

#include "ct2_rehearsal.h"

namespace rehearsal {

inline cudaStream_t get_cuda_stream() { return cudaStreamPerThread; }

#define THRUST_CALL(FUN, ...) FUN(thrust::cuda::par_nosync.on(rehearsal::get_cuda_stream()), __VA_ARGS__)

struct plus_half {
  __device__ __half operator()(__half a, __half b) const { return __hadd(a, b); }
};

class repeat_vec {
 public:
  explicit repeat_vec(unsigned period) : _period(period) {}
  __device__ unsigned operator()(unsigned i) const { return i % _period; }

 private:
  unsigned _period;
};

struct bf16_to_float {
  __device__ float operator()(__nv_bfloat16 x) const { return __bfloat162float(x); }
};

}  // namespace rehearsal

extern "C" int rehearsal_add_half(const void* a, const void* b, void* c, unsigned size) {
  const auto* x = static_cast<const __half*>(a);
  const auto* y = static_cast<const __half*>(b);
  THRUST_CALL(thrust::transform, x, x + size, y, static_cast<__half*>(c), rehearsal::plus_half());
  return static_cast<int>(cudaGetLastError());
}

extern "C" int rehearsal_tile_bf16(const void* x, void* y, unsigned size, unsigned period) {
  const auto* in = static_cast<const __nv_bfloat16*>(x);
  auto index = thrust::make_transform_iterator(thrust::counting_iterator<unsigned>(0),
                                               rehearsal::repeat_vec(period));
  auto tiled = thrust::make_permutation_iterator(in, index);
  THRUST_CALL(thrust::copy, tiled, tiled + size, static_cast<__nv_bfloat16*>(y));
  const float total = THRUST_CALL(thrust::reduce,
                                  thrust::make_transform_iterator(in, rehearsal::bf16_to_float()),
                                  thrust::make_transform_iterator(in + period, rehearsal::bf16_to_float()),
                                  0.f);
  return total < 0.f ? -1 : static_cast<int>(cudaGetLastError());
}

extern "C" int rehearsal_cccl_version() { return CCCL_VERSION; }
