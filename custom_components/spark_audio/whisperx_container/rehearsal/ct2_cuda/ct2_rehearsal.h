// The one entry point of the rehearsal library (what CTRANSLATE2_ROOT/include holds for real).
#pragma once
extern "C" int rehearsal_softmax(const float* in, float* out, int rows, int cols);
