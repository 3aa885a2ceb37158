// The entry points of the rehearsal library (what CTRANSLATE2_ROOT/include holds for real).
#pragma once
extern "C" int rehearsal_softmax(const float* in, float* out, int rows, int cols);
extern "C" int rehearsal_softmax_half(const void* in, void* out, int rows, int cols);
extern "C" int rehearsal_softmax_bf16(const void* in, void* out, int rows, int cols);
extern "C" int rehearsal_add_half(const void* a, const void* b, void* c, unsigned size);
extern "C" int rehearsal_tile_bf16(const void* x, void* y, unsigned size, unsigned period);
extern "C" int rehearsal_reshape(const float* x, float* y, unsigned size, unsigned period,
                                 unsigned stride, float fill);
extern "C" int rehearsal_bias_add(const float* a, const float* b, const float* c, float* d,
                                  unsigned size);
extern "C" int rehearsal_argmax(const float* in, int* out, int rows, int cols);
extern "C" int rehearsal_argmax_half(const void* in, int* out, int rows, int cols);
extern "C" int rehearsal_argmax_bf16(const void* in, int* out, int rows, int cols);
extern "C" int rehearsal_nucleus_mask(const float* probs, float* out, float p, int rows, int cols);
extern "C" int rehearsal_allocate(void** ptr, unsigned long size);
extern "C" int rehearsal_free(void* ptr);
extern "C" int rehearsal_cccl_version();
