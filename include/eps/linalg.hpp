// SPDX-License-Identifier: MIT
/// @file linalg.hpp
/// Derived algorithms on linear operators: batched conjugate gradients for (a I + b AᵀA) x = r, spectral
/// filtering V f(s) Vᴴ, the pseudo-inverse A† and the null-space projector P_N(A). Each takes the
/// spectral fast path when the operator offers one and falls back to the matrix-free path otherwise.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "eps/backend.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {

/// Controls of the conjugate-gradient fallback.
struct CgOptions {
  /// Stop when ‖r_k‖ ≤ tolerance · max(‖rhs‖, ‖r_0‖) for every sample of the batch. 0 selects it from
  /// the dtype: max(1e-12, 64 ε), i.e. 1e-12 in float64 and 7.6e-6 in float32.
  double tolerance = 0;
  /// Throw convergence_error after this many iterations.
  int max_iterations = 5000;
  void validate(const char* where) const {
    EPS_CHECK(tolerance >= 0 && std::isfinite(tolerance), value_error, where,
              ": CG tolerance must be >= 0 (0: automatic), got ", tolerance);
    EPS_CHECK(max_iterations >= 1, value_error, where, ": CG max_iterations must be >= 1, got ", max_iterations);
  }
};

/// Solves (shift_b I + gram_b AᵀA) x_b = rhs_b for every sample b by conjugate gradients, starting from
/// x0 (shift, gram ≥ 0). On a singular consistent system CG keeps x0's component in the null space of
/// the matrix, which is how the σ_y = 0 and α = 0 limits of docs/math.md §3 come out exactly (see posterior.hpp).
/// Throws convergence_error naming the sample, its residual and the iteration count.
template <LinearOperator Op>
typename Op::tensor_type solve_shifted_gram(const Op& A, const BatchValues& shift, const BatchValues& gram,
                                            const typename Op::tensor_type& rhs, const typename Op::tensor_type& x0,
                                            const CgOptions& opt, const char* where = "eps::solve_shifted_gram") {
  using T = typename Op::tensor_type;
  opt.validate(where);
  const double tol = opt.tolerance > 0 ? opt.tolerance : std::max(1e-12, 64 * eps::epsilon(rhs));
  const auto matvec = [&](const T& v) {
    return eps::add(eps::scale_batch(v, shift), eps::scale_batch(apply_gram(A, v), gram));
  };
  T x = x0;
  T r = eps::sub(rhs, matvec(x));
  const std::size_t nb = static_cast<std::size_t>(eps::batch(r));
  std::vector<double> rs = eps::norm2_batch(r), ref = eps::norm2_batch(rhs);
  if (ref.size() != nb) ref.assign(nb, ref.empty() ? 0.0 : ref[0]);
  std::vector<bool> done(nb);
  const auto update_done = [&] {
    bool all = true;
    for (std::size_t b = 0; b < nb; ++b) {
      EPS_CHECK(std::isfinite(rs[b]), convergence_error, where,
                ": conjugate gradients produced a non-finite residual for sample ", b);
      done[b] = std::sqrt(rs[b]) <= tol * std::sqrt(ref[b]) || rs[b] == 0;
      all = all && done[b];
    }
    return all;
  };
  for (std::size_t b = 0; b < nb; ++b) ref[b] = std::max(ref[b], rs[b]);
  if (update_done()) return x;
  T p = r;
  for (int it = 1; it <= opt.max_iterations; ++it) {
    const T mp = matvec(p);
    const std::vector<double> pmp = eps::dot_batch(p, mp);
    std::vector<double> step(nb, 0.0);
    for (std::size_t b = 0; b < nb; ++b)
      if (!done[b] && pmp[b] > 0) step[b] = rs[b] / pmp[b];
    const BatchValues st(step);
    x = eps::add(x, eps::scale_batch(p, st));
    r = eps::sub(r, eps::scale_batch(mp, st));
    const std::vector<double> rs_new = eps::norm2_batch(r);
    std::vector<double> beta(nb, 0.0);
    for (std::size_t b = 0; b < nb; ++b) beta[b] = rs[b] > 0 ? rs_new[b] / rs[b] : 0.0;
    rs = rs_new;
    if (update_done()) return x;
    p = eps::add(r, eps::scale_batch(p, BatchValues(beta)));
  }
  std::size_t worst = 0;
  for (std::size_t b = 0; b < nb; ++b)
    if (!done[b] && std::sqrt(rs[b] / ref[b]) > std::sqrt(rs[worst] / std::max(ref[worst], 1e-300))) worst = b;
  detail::raise<convergence_error>(where, ": conjugate gradients did not converge for ", A.name(), ": sample ", worst,
                                   " has relative residual ", std::sqrt(rs[worst] / ref[worst]), " after ",
                                   opt.max_iterations, " iterations (tolerance ", tol,
                                   "); raise CgOptions::max_iterations or loosen CgOptions::tolerance");
}

/// V (w ⊙ Vᴴ x) + w_null ⊙ (x − V Vᴴ x): a function of AᵀA applied through the SVD. `w` is a real
/// tensor in coefficient layout; `w_null` (per-sample) weights the implicit null space of a thin V.
template <SpectralOperator Op>
typename Op::tensor_type spectral_filter(const Op& A, const typename Op::tensor_type& x,
                                         const real_tensor_t<typename Op::tensor_type>& w, const BatchValues& w_null) {
  const auto c = A.apply_vt(x);
  auto r = A.apply_v(eps::mul(c, w));
  if (is_thin(A)) r = eps::add(r, eps::scale_batch(eps::sub(x, A.apply_v(c)), w_null));
  return r;
}

/// The numerical rank of sample b of a spectral operator: its number of nonzero singular values (the
/// operators set round-off ones to exactly 0; docs/conventions.md, "Numerical rank").
template <SpectralOperator Op>
index_t numerical_rank(const Op& A, index_t b = 0) {
  const auto s = A.singular_values();
  EPS_CHECK(b >= 0 && b < eps::batch(s), value_error, "eps::numerical_rank: sample ", b, " out of range [0, ",
            eps::batch(s), ")");
  const std::vector<double> h = eps::to_host(s);
  const index_t n = eps::sample_numel(s);
  return static_cast<index_t>(
      std::count_if(h.begin() + b * n, h.begin() + (b + 1) * n, [](double v) { return v != 0; }));
}

/// 1/s where s > 0, 0 where s = 0 (the pseudo-inverse of the singular values).
template <RealTensor T>
T pinv_values(const T& s) {
  const T z = eps::zero_indicator(s);
  return eps::div(eps::add_scalar(eps::scale(z, -1.0), 1.0), eps::add(s, z));
}

/// A† y: the minimum-norm least-squares solution (DeepInverse's A_dagger). Spectral: V diag(1/s⁺) Uᴴ y;
/// otherwise conjugate gradients on AᵀA x = Aᵀ y from 0, which converge to the minimum-norm solution.
template <LinearOperator Op>
typename Op::tensor_type pinv_apply(const Op& A, const typename Op::tensor_type& y, const CgOptions& opt = {}) {
  eps::check_sample(y, A.out_shape(), "eps::pinv_apply", "y");
  if constexpr (SpectralOperator<Op>) {
    return A.apply_v(eps::mul(A.apply_ut(y), pinv_values(A.singular_values())));
  } else {
    const auto aty = A.apply_adjoint(y);
    return solve_shifted_gram(A, 0.0, 1.0, aty, eps::scale(aty, 0.0), opt, "eps::pinv_apply");
  }
}

/// P_N(A) x: the orthogonal projection onto the null space of A.
template <LinearOperator Op>
typename Op::tensor_type null_project(const Op& A, const typename Op::tensor_type& x, const CgOptions& opt = {}) {
  eps::check_sample(x, A.in_shape(), "eps::null_project", "x");
  if constexpr (SpectralOperator<Op>) {
    return spectral_filter(A, x, eps::zero_indicator(A.singular_values()), 1.0);
  } else {
    return eps::sub(x, pinv_apply(A, A.apply(x), opt));
  }
}

}  // namespace eps
