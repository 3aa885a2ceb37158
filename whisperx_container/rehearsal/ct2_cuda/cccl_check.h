// The stand-in must compile against CTranslate2's CCCL (its third_party/thrust submodule,
// NVIDIA/cccl v2.7.0), not the toolkit's own CCCL 3.x: fail the compile if the include order
// let the toolkit's headers win.
#pragma once
#include <cuda/std/version>
#include <cub/version.cuh>
#include <thrust/version.h>

#if !defined(CCCL_VERSION) || CCCL_VERSION != 2007000
#error "not compiled against CCCL 2.7.0 (CTranslate2 4.8.1's third_party/thrust)"
#endif
#if CUB_VERSION != 200700 || THRUST_VERSION != 200700
#error "cub/thrust do not come from CCCL 2.7.0"
#endif
