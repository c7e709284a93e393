// SPDX-License-Identifier: MIT
// The Python package's operators (docs/own-model.md §5): the library's operators on torch.Tensor behind one
// Python type, with composition as a matrix-free operator (the pivot then solves by conjugate gradients).
#pragma once

#include <torch/extension.h>

#include <functional>
#include <string>
#include <variant>

#include "eps/backends/torch.hpp"
#include "eps/eps.hpp"

namespace eps::python {

using T = at::Tensor;

/// A linear operator given by functions (a composition): apply, adjoint and the shapes.
struct FunctionOperator {
  using tensor_type = T;
  std::function<T(const T&)> f, fa;
  Shape in, out;
  std::string label;
  T apply(const T& x) const { return f(x); }
  T apply_adjoint(const T& y) const { return fa(y); }
  Shape in_shape() const { return in; }
  Shape out_shape() const { return out; }
  std::string name() const { return label; }
};

using AnyOp = std::variant<Mask<T>, AvgPool<T>, Blur<T>, Dense<T>, ColorToGray<T>, Identity<T>, FunctionOperator>;

/// The Python `eps.Operator`.
struct Operator {
  AnyOp op;
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), op);
  }
  bool spectral() const { return !std::holds_alternative<FunctionOperator>(op); }
};

/// The operators of a task sampler's variant as Python operators.
inline Operator from_task(const TaskOperator<T>& t) {
  return std::visit([](const auto& A) { return Operator{AnyOp(A)}; }, t);
}

}  // namespace eps::python
