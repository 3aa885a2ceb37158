// A row softmax in the style of CTranslate2's CUDA ops (src/ops/softmax_gpu.cu): one block
// per row, CUB block reductions for max and sum. It pulls in the CCCL headers CUDA 13 ships
// (cub/, cuda/std), which is where CUDA 13 broke older CTranslate2 releases.
#include <cub/block/block_reduce.cuh>
#include <cuda/std/limits>

namespace rehearsal {

constexpr int kThreads = 256;

__global__ void row_softmax(const float* in, float* out, int cols) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ float shared_max;
  __shared__ float shared_sum;
  const float* row_in = in + static_cast<size_t>(blockIdx.x) * cols;
  float* row_out = out + static_cast<size_t>(blockIdx.x) * cols;

  float local_max = -cuda::std::numeric_limits<float>::infinity();
  for (int i = threadIdx.x; i < cols; i += blockDim.x) local_max = fmaxf(local_max, row_in[i]);
  const float row_max = Reduce(storage).Reduce(local_max, [](float a, float b) { return fmaxf(a, b); });
  if (threadIdx.x == 0) shared_max = row_max;
  __syncthreads();

  float local_sum = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) local_sum += __expf(row_in[i] - shared_max);
  const float row_sum = Reduce(storage).Sum(local_sum);
  if (threadIdx.x == 0) shared_sum = row_sum;
  __syncthreads();

  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    row_out[i] = __expf(row_in[i] - shared_max) / shared_sum;
}

}  // namespace rehearsal

extern "C" int rehearsal_softmax(const float* in, float* out, int rows, int cols) {
  rehearsal::row_softmax<<<rows, rehearsal::kThreads>>>(in, out, cols);
  return static_cast<int>(cudaGetLastError());
}
