// Thrust the way CTranslate2's src/cuda/helpers.h, primitives.cu and its ops call it: THRUST_CALL
// with thrust::cuda::par_nosync.on(stream), transform over __half / __nv_bfloat16 device pointers,
// counting + transform + permutation iterators (its `permute` and `binary_transform` with an
// index function), a device reduction, max_element, fill through a placeholder-strided iterator,
// gather/scatter with computed indices (concat/split, tile, gather), a zip iterator of tuples
// (bias_add) and thrust::identity (dequantize).
#include "cccl_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <thrust/copy.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/extrema.h>
#include <thrust/fill.h>
#include <thrust/functional.h>
#include <thrust/gather.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/permutation_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scatter.h>
#include <thrust/transform.h>
#include <thrust/tuple.h>

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

struct plus3 {
  __device__ float operator()(float a, const thrust::tuple<float, float>& bc) const {
    return a + thrust::get<0>(bc) + thrust::get<1>(bc);
  }
};

// Output position i reads input (i / period) * stride + i % period: a strided copy's index map.
class strided_index {
 public:
  strided_index(unsigned period, unsigned stride) : _period(period), _stride(stride) {}
  __device__ unsigned operator()(unsigned i) const { return (i / _period) * _stride + i % _period; }

 private:
  unsigned _period;
  unsigned _stride;
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

extern "C" int rehearsal_reshape(const float* x, float* y, unsigned size, unsigned period,
                                 unsigned stride, float fill) {
  auto map = thrust::make_transform_iterator(thrust::counting_iterator<unsigned>(0),
                                             rehearsal::strided_index(period, stride));
  THRUST_CALL(thrust::gather, map, map + size, x, y);
  THRUST_CALL(thrust::scatter, x, x + size, map, y);
  auto every_other = thrust::make_permutation_iterator(
      y, thrust::make_transform_iterator(thrust::counting_iterator<unsigned>(0),
                                         thrust::placeholders::_1 * 2u));
  THRUST_CALL(thrust::fill, every_other, every_other + size / 2, fill);
  const auto device_y = thrust::device_pointer_cast(y);
  const auto* largest = THRUST_CALL(thrust::max_element, y, y + size);
  THRUST_CALL(thrust::transform, device_y, device_y + size, device_y, thrust::identity<float>());
  return largest == y + size ? -1 : static_cast<int>(cudaGetLastError());
}

extern "C" int rehearsal_bias_add(const float* a, const float* b, const float* c, float* d,
                                  unsigned size) {
  auto bc = thrust::make_zip_iterator(thrust::make_tuple(b, c));
  THRUST_CALL(thrust::transform, a, a + size, bc, d, rehearsal::plus3());
  return static_cast<int>(cudaGetLastError());
}

extern "C" int rehearsal_cccl_version() { return CCCL_VERSION; }
