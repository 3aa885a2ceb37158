// Sampling-style kernels in the way CTranslate2's src/ops/topk_gpu.cu, topp_mask_gpu.cu and
// multinomial_gpu.cu use CUB: a block reduction over a user-defined (value, index) struct
// seeded with cub::FpLimits<T>::Lowest() for float, __half and __nv_bfloat16, and a block radix
// sort (descending, float keys with int values) followed by a block exclusive scan sharing one
// union of temp storage.
#include "cccl_check.h"

#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/util_type.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ct2_rehearsal.h"

namespace rehearsal {

constexpr int kSortThreads = 128;
constexpr int kItemsPerThread = 4;

template <typename T>
struct Best {
  int index = -1;
  T value = cub::FpLimits<T>::Lowest();

  __device__ void offer(T candidate, int at) {
    if (static_cast<float>(candidate) > static_cast<float>(value)) {
      value = candidate;
      index = at;
    }
  }
};

template <typename T>
struct KeepBest {
  __device__ Best<T> operator()(const Best<T>& a, const Best<T>& b) const {
    return static_cast<float>(a.value) >= static_cast<float>(b.value) ? a : b;
  }
};

template <typename T, int Threads>
__global__ void row_argmax(const T* in, int* out, int cols) {
  using Reduce = cub::BlockReduce<Best<T>, Threads>;
  __shared__ typename Reduce::TempStorage storage;
  const T* row = in + static_cast<size_t>(blockIdx.x) * cols;
  Best<T> mine;
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    mine.offer(row[i], i);
  const Best<T> best = Reduce(storage).Reduce(mine, KeepBest<T>());
  if (threadIdx.x == 0) out[blockIdx.x] = best.index;
}

// Keeps the smallest set of the largest probabilities whose sum reaches p; masks the rest.
__global__ void nucleus_mask(const float* probs, float* out, float p, float mask, int cols) {
  using Sort = cub::BlockRadixSort<float, kSortThreads, kItemsPerThread, int>;
  using Scan = cub::BlockScan<float, kSortThreads>;
  __shared__ union {
    typename Sort::TempStorage sort;
    typename Scan::TempStorage scan;
  } storage;
  const float* row = probs + static_cast<size_t>(blockIdx.x) * cols;
  float* row_out = out + static_cast<size_t>(blockIdx.x) * cols;
  float keys[kItemsPerThread];
  int ids[kItemsPerThread];
  for (int i = 0; i < kItemsPerThread; ++i) {
    const int id = threadIdx.x * kItemsPerThread + i;
    keys[i] = id < cols ? row[id] : 0.f;
    ids[i] = id < cols ? id : -1;
  }
  Sort(storage.sort).SortDescending(keys, ids);
  __syncthreads();
  Scan(storage.scan).ExclusiveSum(keys, keys);
  for (int i = 0; i < kItemsPerThread; ++i) {
    if (ids[i] >= 0) row_out[ids[i]] = keys[i] < p ? row[ids[i]] : mask;
  }
}

template <typename T>
int launch_argmax(const void* in, int* out, int rows, int cols) {
  row_argmax<T, 256><<<rows, 256>>>(static_cast<const T*>(in), out, cols);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace rehearsal

extern "C" int rehearsal_argmax(const float* in, int* out, int rows, int cols) {
  return rehearsal::launch_argmax<float>(in, out, rows, cols);
}
extern "C" int rehearsal_argmax_half(const void* in, int* out, int rows, int cols) {
  return rehearsal::launch_argmax<__half>(in, out, rows, cols);
}
extern "C" int rehearsal_argmax_bf16(const void* in, int* out, int rows, int cols) {
  return rehearsal::launch_argmax<__nv_bfloat16>(in, out, rows, cols);
}
extern "C" int rehearsal_nucleus_mask(const float* probs, float* out, float p, int rows, int cols) {
  rehearsal::nucleus_mask<<<rows, rehearsal::kSortThreads>>>(probs, out, p, -1e10f, cols);
  return static_cast<int>(cudaGetLastError());
}
