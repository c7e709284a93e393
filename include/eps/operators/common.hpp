// SPDX-License-Identifier: MIT
/// @file operators/common.hpp
/// Machinery shared by the operators: immutable shared storage, operand checks, and the rank decision
/// that turns round-off singular values into exact zeros (docs/conventions.md, "Numerical rank").
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "eps/backend.hpp"

namespace eps {
namespace detail {

/// An immutable value shared by the copies of an operator: copying an operator (into a pivot, a
/// sampler, a lambda) never copies its tensors, whatever the backend's copy semantics.
template <class V>
class Shared {
 public:
  Shared() = default;
  Shared(V v) : p_(std::make_shared<const V>(std::move(v))) {}  // NOLINT: implicit by design
  const V& operator*() const { return *p_; }
  const V* operator->() const { return p_.get(); }

 private:
  std::shared_ptr<const V> p_;
};

/// Checks a tensor argument of an operator: sample shape, and batch size compatible with the
/// operator's own batch (1, or equal).
template <Tensor T>
void check_operand(const T& x, const Shape& shape, index_t op_batch, const char* where, const char* name) {
  eps::check_sample(x, shape, where, name);
  EPS_CHECK(op_batch == 1 || eps::batch(x) == op_batch, shape_error, where, ": ", name, " has batch size ",
            eps::batch(x), " but the operator was built for a batch of ", op_batch, " (use a batch of 1 to share it)");
}

/// A real tensor of ones: `batch` samples of shape `shape`.
template <RealTensor T>
T ones(const T& like, index_t batch, const Shape& shape) {
  return eps::add_scalar(eps::zeros(like, batch, shape), 1.0);
}

/// 1 where x ≠ 0, 0 where x = 0 exactly.
template <RealTensor T>
T nonzero_indicator(const T& x) {
  return eps::add_scalar(eps::scale(eps::zero_indicator(x), -1.0), 1.0);
}

/// The outcome of a rank decision on singular values: which are kept, and how many per sample.
template <class T>
struct RankCut {
  T kept;                     ///< 1 where s > cut, 0 elsewhere (the layout and batch of s)
  std::vector<index_t> rank;  ///< number of kept values per sample of s
  double rcond = 0;           ///< the relative cut used
};

/// The rank decision of docs/conventions.md ("Numerical rank"): singular values s ≤ rcond·max(s) (max
/// over each sample) are round-off and count as exactly 0. `rcond < 0` selects `default_rcond`.
template <RealTensor T>
RankCut<T> rank_cut(const T& s, double rcond, double default_rcond, const char* where) {
  if (rcond < 0) rcond = default_rcond;
  EPS_CHECK(std::isfinite(rcond) && rcond < 1, value_error, where,
            ": rcond must be finite and < 1 (negative: the default ", default_rcond, "), got ", rcond);
  std::vector<double> h = eps::to_host(s);
  const index_t nb = eps::batch(s), n = eps::sample_numel(s);
  std::vector<index_t> rank(static_cast<std::size_t>(nb), 0);
  for (index_t b = 0; b < nb; ++b) {
    const auto first = h.begin() + b * n, last = first + n;
    double top = 0;
    for (auto it = first; it != last; ++it) top = std::max(top, std::abs(*it));
    const double cut = rcond * top;
    for (auto it = first; it != last; ++it) {
      const bool keep = std::abs(*it) > cut;
      *it = keep ? 1.0 : 0.0;
      rank[static_cast<std::size_t>(b)] += keep;
    }
  }
  return {eps::reshape(eps::from_host(s, h, nb, eps::sample_shape(s)), eps::sample_shape(s)), std::move(rank), rcond};
}

}  // namespace detail
}  // namespace eps
