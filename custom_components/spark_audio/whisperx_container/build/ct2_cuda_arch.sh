#!/bin/sh
# Give CTranslate2's CMakeLists explicit -gencode flags instead of its arch-name lookup.
#
# CTranslate2 turns CUDA_ARCH_LIST into nvcc flags with FindCUDA's
# cuda_select_nvcc_arch_flags(). Ubuntu 24.04's CMake 3.28 only parses one-digit
# majors there ("12.1" -> "Unknown CUDA Architecture Name 12.1"), and its "Auto"
# fallback on a GPU-less build host picks architectures CUDA 13 no longer compiles.
# So the call is replaced with the flags themselves, as GB10 recipes do.
# Usage: ct2_cuda_arch.sh CMakeLists.txt "-gencode=arch=compute_121,code=sm_121 ..."
set -eu
file=$1
flags=$2
call='cuda_select_nvcc_arch_flags(ARCH_FLAGS ${CUDA_ARCH_LIST})'
case $flags in
  *[!-A-Za-z0-9_=,.\ ]*|'') echo "ct2_cuda_arch: refusing odd flags: $flags" >&2; exit 2 ;;
esac
found=$(grep -cF "$call" "$file" || true)
if [ "$found" != 1 ]; then
  echo "ct2_cuda_arch: expected '$call' once in $file, found it $found times (CTranslate2 changed?)" >&2
  exit 1
fi
# One list element per flag, the way cuda_select_nvcc_arch_flags returns them.
list=$(printf '%s' "$flags" | tr -s ' ' ';')
sed -i "s|cuda_select_nvcc_arch_flags(ARCH_FLAGS \${CUDA_ARCH_LIST})|set(ARCH_FLAGS \"$list\")|" "$file"
grep -nF "set(ARCH_FLAGS \"$list\")" "$file"
