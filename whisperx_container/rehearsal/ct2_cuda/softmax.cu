// Row softmax in the style of CTranslate2's src/ops/softmax_gpu.cu: one block per row, CUB block
// reductions for max and sum, float accumulation for float, __half and __nv_bfloat16 rows
// (CTranslate2's float16/bfloat16 device types, cuda_fp16.h / cuda_bf16.h).
#include "cccl_check.h"

#include <cub/block/block_reduce.cuh>
#include <cuda/std/limits>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ct2_rehearsal.h"

namespace rehearsal {

constexpr int kThreads = 256;

struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T>
__global__ void row_softmax(const T* in, T* out, int cols) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ float shared_max;
  __shared__ float shared_sum;
  const T* row_in = in + static_cast<size_t>(blockIdx.x) * cols;
  T* row_out = out + static_cast<size_t>(blockIdx.x) * cols;

  float local_max = -cuda::std::numeric_limits<float>::infinity();
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    local_max = fmaxf(local_max, static_cast<float>(row_in[i]));
  const float row_max = Reduce(storage).Reduce(local_max, Max());
  if (threadIdx.x == 0) shared_max = row_max;
  __syncthreads();

  float local_sum = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    local_sum += __expf(static_cast<float>(row_in[i]) - shared_max);
  const float row_sum = Reduce(storage).Sum(local_sum);
  if (threadIdx.x == 0) shared_sum = row_sum;
  __syncthreads();

  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    row_out[i] = T(__expf(static_cast<float>(row_in[i]) - shared_max) / shared_sum);
}

template <typename T>
int launch(const void* in, void* out, int rows, int cols) {
  row_softmax<T><<<rows, kThreads>>>(static_cast<const T*>(in), static_cast<T*>(out), cols);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace rehearsal

extern "C" int rehearsal_softmax(const float* in, float* out, int rows, int cols) {
  return rehearsal::launch<float>(in, out, rows, cols);
}
extern "C" int rehearsal_softmax_half(const void* in, void* out, int rows, int cols) {
  return rehearsal::launch<__half>(in, out, rows, cols);
}
extern "C" int rehearsal_softmax_bf16(const void* in, void* out, int rows, int cols) {
  return rehearsal::launch<__nv_bfloat16>(in, out, rows, cols);
}
