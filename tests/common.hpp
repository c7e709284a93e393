// SPDX-License-Identifier: MIT
// Shared test fixtures: backend × scalar configurations with their tolerances, the small operator
// zoo every property is checked on, random problem generators.
#pragma once

#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "eps/backends/eigen.hpp"
#include "eps/eps.hpp"
#include "eps/reference/dense.hpp"

namespace eps::test {

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;
using reference::rel_error;

/// A typed-test configuration: a tensor type and the relative tolerance of identities that hold up to
/// round-off on well-conditioned instances (float64: 1e-10 unless a test states otherwise; float32: 2e-4).
struct EigenF64 {
  using T = eigen::Tensor<double>;
  static constexpr double tol = 1e-10;
  static constexpr const char* name = "eigen/float64";
};
struct EigenF32 {
  using T = eigen::Tensor<float>;
  static constexpr double tol = 2e-4;
  static constexpr const char* name = "eigen/float32";
};

/// Random symmetric positive-definite matrix M Mᵀ/d + shift·I (condition number bounded by ~(4+shift)/shift).
inline Mat random_spd(Eigen::Index d, std::mt19937_64& gen, double shift = 0.3) {
  std::normal_distribution<double> n;
  Mat m(d, d);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = n(gen);
  return m * m.transpose() / double(d) + shift * Mat::Identity(d, d);
}

inline Mat randn_mat(Eigen::Index r, Eigen::Index c, std::mt19937_64& gen) {
  std::normal_distribution<double> n;
  Mat m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = n(gen);
  return m;
}

/// Host values of a dense matrix in row-major order (for eps::Dense).
inline std::vector<double> row_major(const Mat& a) {
  std::vector<double> v(static_cast<std::size_t>(a.size()));
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) v[static_cast<std::size_t>(i * a.cols() + j)] = a(i, j);
  return v;
}

/// An asymmetric kernel with |ĥ| ≥ 0.4 everywhere (well conditioned, non-trivial phases).
inline Kernel skew_kernel() { return Kernel{3, 3, {0.0, 0.1, 0.0, 0.05, 0.7, 0.15, 0.0, 0.0, 0.0}}; }

/// The operator zoo: every operator of the library at a small size (d ≤ 48), built for tensor type T
/// with `like`'s dtype and device. Spectral ones first, then the matrix-free ones (composition, and a
/// matrix-free view). The host data depend on `seed` only, so every backend gets the same operators.
template <class T>
auto operator_zoo(std::uint64_t seed = 7, const T& like = T{}) {
  std::mt19937_64 gen(seed);
  const ImageShape g{2, 3, 4}, gp{2, 4, 6}, gc{3, 3, 4}, gb{2, 4, 5};
  Mask<T> mask(like, random_mask(g, 0.5, gen), g.shape());
  Blur<T> blur(like, gb, skew_kernel());
  return std::make_tuple(
      Identity<T>(like, g.shape()), mask, AvgPool<T>(like, gp, 2), ColorToGray<T>(like, gc), blur,
      Dense<T>(like, row_major(randn_mat(10, g.numel(), gen) / std::sqrt(double(g.numel()))), 10, g.shape()),
      SubsampledHartley<T>(like, gb, symmetric_frequency_mask(gb, 0.5, gen), true, seed),
      compose(blur, Mask<T>(like, random_mask(gb, 0.3, gen), gb.shape())), matrix_free(mask));
}

/// Calls f(op) for every operator of the zoo.
template <class T, class F>
void for_each_operator(F&& f, std::uint64_t seed = 7, const T& like = T{}) {
  std::apply([&](const auto&... op) { (f(op), ...); }, operator_zoo<T>(seed, like));
}

/// The schedules of docs/math.md §1, plus a custom one (α = cos²(πt/2)... via callables).
inline std::vector<AnySchedule> all_schedules() {
  std::vector<AnySchedule> s;
  for (const auto& n : schedule_names()) s.push_back(make_schedule(n));
  s.emplace_back([](double t) { return std::exp(-t); }, [](double t) { return std::sqrt(t); },
                 [](double t) { return -std::exp(-t); }, [](double t) { return t > 0 ? 0.5 / std::sqrt(t) : INFINITY; },
                 0.0, 1.0, "custom_exp_sqrt");
  return s;
}

/// A dense matrix from a float64 Eigen tensor of the zoo (identity for the float64 backend).
template <class T>
Mat as_mat(const T& x) {
  return reference::to_matrix(x);
}

}  // namespace eps::test

TYPE_TO_STRING(eps::test::EigenF64);
TYPE_TO_STRING(eps::test::EigenF32);
