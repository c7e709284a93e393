// SPDX-License-Identifier: MIT
// eps (Python): what the binding files share.
#pragma once

#include <torch/extension.h>

#include <functional>

#include "operators.hpp"

namespace eps::python {

namespace py = pybind11;

/// a2 ∘ a1, matrix-free.
Operator compose_ops(const Operator& a2, const Operator& a1);

/// A Python callable D(x, t) → x̂0 as a C++ denoiser, for the duration of the binding call that received it
/// (held by address: copies of the closure made while the GIL is released touch no reference count). Each call
/// takes the GIL.
inline std::function<T(const T&, double)> denoiser(const py::function& f) {
  return [p = &f](const T& x, double t) {
    py::gil_scoped_acquire gil;
    return (*p)(x, t).cast<T>();
  };
}

void bind_operators(py::module_& m);
void bind_samplers(py::module_& m);
void bind_training(py::module_& m);

}  // namespace eps::python
