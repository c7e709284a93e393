// SPDX-License-Identifier: MIT
/// @file operators/concepts.hpp
/// What a linear operator A: R^d → R^m must provide (the minimal API), and what a spectral one adds.
///
/// Minimal: `apply(x) = A x`, `apply_adjoint(y) = Aᵀ y`, `in_shape()`, `out_shape()`, `name()`.
/// Spectral (docs/math.md §3): a factorisation A = U diag(s) Vᴴ with orthonormal/unitary U and V, exposed as
/// `singular_values()` (a real tensor in coefficient layout, batch 1 or B), `apply_vt(x) = Vᴴ x`,
/// `apply_v(c) = V c`, `apply_ut(y) = Uᴴ y`, `apply_u(c) = U c`. Coefficients live in one layout shared by
/// Vᴴx and Uᴴy (`coef_type`, complex for Fourier-diagonalised operators), so every spectral formula is
/// elementwise. Measured coefficients have s_i > 0; the null space of A has s_i = 0.
///
/// A spectral operator whose V has fewer columns than d (a thin SVD, e.g. a wide dense matrix) returns
/// true from `is_thin()`: the orthogonal complement of V's columns is then null space, handled
/// implicitly by the derived algorithms (x − V Vᴴ x).
///
/// Spectral operators also give `spectral_diagonal(g, g_null) = diag(V diag(g) Vᴴ + g_null (I − V Vᴴ))` for a
/// real coefficient-layout g and a per-sample g_null (a batch-scalar tensor, used only by a thin V): the
/// per-pixel variances of Σ̃ and Σ* (PosteriorCovariance::diagonal, Pivot::noise_map), in O(d).
///
/// Optional fast path, detected by the derived algorithms: `apply_gram(x) = AᵀA x`.
#pragma once

#include <concepts>
#include <string>

#include "eps/backend.hpp"

namespace eps {

template <class Op>
concept LinearOperator = requires(const Op& A, const typename Op::tensor_type& x) {
  typename Op::tensor_type;
  requires Tensor<typename Op::tensor_type>;
  { A.apply(x) } -> std::same_as<typename Op::tensor_type>;
  { A.apply_adjoint(x) } -> std::same_as<typename Op::tensor_type>;
  { A.in_shape() } -> std::convertible_to<Shape>;
  { A.out_shape() } -> std::convertible_to<Shape>;
  { A.name() } -> std::convertible_to<std::string>;
};

template <class Op>
concept SpectralOperator =
    LinearOperator<Op> && requires(const Op& A, const typename Op::tensor_type& x, const typename Op::coef_type& c) {
      typename Op::coef_type;
      requires Tensor<typename Op::coef_type>;
      { A.singular_values() } -> std::same_as<real_tensor_t<typename Op::tensor_type>>;
      { A.apply_vt(x) } -> std::same_as<typename Op::coef_type>;
      { A.apply_v(c) } -> std::same_as<typename Op::tensor_type>;
      { A.apply_ut(x) } -> std::same_as<typename Op::coef_type>;
      { A.apply_u(c) } -> std::same_as<typename Op::tensor_type>;
      {
        A.spectral_diagonal(A.singular_values(), A.singular_values())
      } -> std::same_as<real_tensor_t<typename Op::tensor_type>>;
    };

/// diag(V diag(g) Vᴴ + g_null (I − V Vᴴ)): the diagonal of a function of AᵀA given in coefficient layout.
template <SpectralOperator Op>
real_tensor_t<typename Op::tensor_type> spectral_diagonal(const Op& A, const real_tensor_t<typename Op::tensor_type>& g,
                                                          const BatchValues& g_null = 0.0) {
  return A.spectral_diagonal(g, eps::batch_scalars(g, g_null));
}

/// True when Op's V is thin (see above) for this instance.
template <SpectralOperator Op>
bool is_thin(const Op& A) {
  if constexpr (requires {
                  { A.is_thin() } -> std::convertible_to<bool>;
                })
    return A.is_thin();
  else
    return false;
}

/// The part of y that is a measurement. Operators whose out_shape pads the measured values with ignored
/// entries (Mask: unobserved pixels; SubsampledHartley: frequencies off Ω) say so with `measured(y)`,
/// which zeroes the padding; for every other operator all of y is measured.
template <LinearOperator Op>
typename Op::tensor_type measured(const Op& A, const typename Op::tensor_type& y) {
  if constexpr (requires {
                  { A.measured(y) } -> std::same_as<typename Op::tensor_type>;
                })
    return A.measured(y);
  else
    return y;
}

/// Aᵀ(A x), through the operator's fast path when it has one.
template <LinearOperator Op>
typename Op::tensor_type apply_gram(const Op& A, const typename Op::tensor_type& x) {
  if constexpr (requires {
                  { A.apply_gram(x) } -> std::same_as<typename Op::tensor_type>;
                })
    return A.apply_gram(x);
  else
    return A.apply_adjoint(A.apply(x));
}

}  // namespace eps
