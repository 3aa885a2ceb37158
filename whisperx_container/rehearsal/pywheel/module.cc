// Python binding of the rehearsal library, linked like CTranslate2's _ext module.
#include <pybind11/pybind11.h>

#include "ct2_rehearsal.h"

PYBIND11_MODULE(ct2_rehearsal, m) {
  m.def("entry_point", []() { return reinterpret_cast<std::uintptr_t>(&rehearsal_softmax); });
}
