// SPDX-License-Identifier: MIT
/// @file eigen.hpp
/// Eigen backend: `Eigen::Matrix<S, Dynamic, Dynamic>` with S ∈ {float, double, std::complex<float>,
/// std::complex<double>}, one sample per column (column-major, so every sample is contiguous, in the
/// same memory order as a row-major B × n torch tensor). A plain vector is a d × 1 matrix.
///
/// Eigen matrices do not carry an image shape: operators carry their geometry and check the number of
/// elements per sample. A "batch scalar" is a 1 × B matrix. The 2-D FFT goes through FFTW 3
/// (Eigen's unsupported FFT module has no working 2-D transform).
#pragma once

#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <span>
#include <type_traits>
#include <vector>

#include "eps/backend.hpp"
#include "eps/backends/cpu_kernels.hpp"
#include "eps/backends/fftw.hpp"
#include "eps/backends/svd.hpp"

namespace eps {
namespace detail::eigen {

using cpu::is_complex;
template <class S>
using real_of = typename cpu::real_of<S>::type;

template <class S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

template <class S>
cpu::Batch<S> view(const Mat<S>& x) {
  return {x.data(), x.rows(), x.cols()};
}

/// r(i, j) = f(a(i', j'), b(i'', j'')) with broadcasting of size-1 rows (whole sample) and columns (batch).
template <class R, class A, class B, class F>
Mat<R> broadcast(const Mat<A>& a, const Mat<B>& b, F f, const char* what) {
  const index_t rows = cpu::broadcast_extent(a.rows(), b.rows(), "eigen", what, "sample");
  const index_t cols = cpu::broadcast_extent(a.cols(), b.cols(), "eigen", what, "batch");
  Mat<R> r(rows, cols);
  cpu::broadcast<R>(view(a), view(b), r.data(), rows, cols, f);
  return r;
}

inline void check_image(index_t rows, const ImageShape& g, const char* what) {
  cpu::check_image(rows, g, "eigen", what);
}

/// Traits shared by every scalar type of the Eigen family.
template <class S>
struct traits {
  using scalar = S;
  using real_scalar = real_of<S>;
  using tensor_type = Mat<S>;
  using real_tensor = Mat<real_scalar>;
  using complex_tensor = Mat<std::complex<real_scalar>>;
  using generator_type = std::mt19937_64;
  static constexpr bool tracks_shape = false;
  static constexpr bool complex = is_complex<S>::value;

  static const char* name() { return "eigen"; }
  static index_t batch(const tensor_type& x) { return x.cols(); }
  static index_t sample_numel(const tensor_type& x) { return x.rows(); }
  static Shape sample_shape(const tensor_type& x) { return {x.rows()}; }

  static real_tensor zeros(const tensor_type&, index_t batch, const Shape& shape) {
    return real_tensor::Zero(eps::numel(shape), batch);
  }
  static real_tensor from_host(const tensor_type&, std::span<const double> v, index_t batch, const Shape& shape) {
    const index_t n = eps::numel(shape);
    EPS_CHECK(static_cast<index_t>(v.size()) == n * batch, shape_error, "eps::from_host (Eigen backend): got ",
              v.size(), " values for ", batch, " samples of shape ", to_string(shape));
    real_tensor r(n, batch);
    std::transform(v.begin(), v.end(), r.data(), [](double d) { return static_cast<real_scalar>(d); });
    return r;
  }
  static real_tensor batch_scalars(const tensor_type&, const BatchValues& v) {
    real_tensor r(1, static_cast<index_t>(v.size()));
    for (std::size_t i = 0; i < v.size(); ++i) r(0, static_cast<index_t>(i)) = static_cast<real_scalar>(v[i]);
    return r;
  }
  static tensor_type reshape(const tensor_type& x, const Shape& shape) {
    EPS_CHECK(eps::numel(shape) == x.rows(), shape_error, "eps::reshape (Eigen backend): cannot view ", x.rows(),
              " elements per sample as ", to_string(shape));
    return x;
  }

  template <class B>
  static tensor_type add(const tensor_type& a, const Mat<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u + v; }, "add");
  }
  template <class B>
  static tensor_type sub(const tensor_type& a, const Mat<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u - v; }, "sub");
  }
  template <class B>
  static tensor_type mul(const tensor_type& a, const Mat<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u * v; }, "mul");
  }
  template <class B>
  static tensor_type div(const tensor_type& a, const Mat<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u / v; }, "div");
  }
  static tensor_type scale(const tensor_type& x, double a) { return x * static_cast<real_scalar>(a); }
  static tensor_type axpby(double a, const tensor_type& x, double b, const tensor_type& y) {
    if (x.rows() == y.rows() && x.cols() == y.cols())
      return static_cast<real_scalar>(a) * x + static_cast<real_scalar>(b) * y;
    const auto ra = static_cast<real_scalar>(a), rb = static_cast<real_scalar>(b);
    return broadcast<S>(x, y, [ra, rb](S u, S v) { return ra * u + rb * v; }, "axpby");
  }
  static tensor_type add_scalar(const tensor_type& x, double c) {
    return (x.array() + S(static_cast<real_scalar>(c))).matrix();
  }
  static real_tensor abs2(const tensor_type& x) { return x.cwiseAbs2(); }
  static real_tensor abs(const tensor_type& x) { return x.cwiseAbs(); }
  static real_tensor real(const tensor_type& x) { return x.real(); }
  static real_tensor imag(const tensor_type& x) { return x.imag(); }
  static double epsilon(const tensor_type&) { return static_cast<double>(Eigen::NumTraits<real_scalar>::epsilon()); }
  static tensor_type conj(const tensor_type& x) { return x.conjugate(); }

  static std::vector<double> dot_batch(const tensor_type& a, const tensor_type& b) {
    EPS_CHECK(a.rows() == b.rows() && a.cols() == b.cols(), shape_error, "eps::dot_batch (Eigen backend): shapes ",
              a.rows(), "x", a.cols(), " and ", b.rows(), "x", b.cols(), " differ");
    std::vector<double> r(static_cast<std::size_t>(a.cols()));
    for (index_t j = 0; j < a.cols(); ++j) {
      if constexpr (complex)
        r[static_cast<std::size_t>(j)] = static_cast<double>(std::real(a.col(j).dot(b.col(j))));
      else
        r[static_cast<std::size_t>(j)] = static_cast<double>(a.col(j).dot(b.col(j)));
    }
    return r;
  }
  static bool all_finite(const tensor_type& x) { return x.allFinite(); }
  static double max_abs(const tensor_type& x) {
    return x.size() == 0 ? 0.0 : static_cast<double>(x.cwiseAbs().maxCoeff());
  }
};

}  // namespace detail::eigen

/// Real Eigen matrices: the full API (image primitives, FFT through the complex family, SVD).
template <class S>
  requires std::is_floating_point_v<S>
struct backend_traits<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>> : detail::eigen::traits<S> {
  using base = detail::eigen::traits<S>;
  using typename base::complex_tensor;
  using typename base::real_tensor;
  using typename base::tensor_type;

  static tensor_type sqrt(const tensor_type& x) { return x.cwiseSqrt(); }
  static tensor_type clamp(const tensor_type& x, double lo, double hi) {
    return x.unaryExpr([lo, hi](S v) { return static_cast<S>(std::min<double>(std::max<double>(v, lo), hi)); });
  }
  static tensor_type zero_indicator(const tensor_type& x) {
    return x.unaryExpr([](S v) { return v == S(0) ? S(1) : S(0); });
  }
  static std::vector<double> to_host(const tensor_type& x) { return {x.data(), x.data() + x.size()}; }
  static tensor_type randn(const tensor_type&, index_t batch, const Shape& shape, typename base::generator_type& gen) {
    tensor_type r(eps::numel(shape), batch);
    detail::cpu::randn(r.data(), r.size(), gen);
    return r;
  }
  static complex_tensor to_complex(const tensor_type& x) { return x.template cast<std::complex<S>>(); }

  static tensor_type inner_products(const tensor_type& rows, const tensor_type& x) {
    EPS_CHECK(rows.rows() == x.rows(), shape_error, "eps::inner_products (Eigen backend): rows have ", rows.rows(),
              " elements, samples have ", x.rows());
    return rows.transpose() * x;
  }
  static tensor_type combine(const tensor_type& rows, const tensor_type& c, const Shape& shape) {
    EPS_CHECK(rows.cols() == c.rows(), shape_error, "eps::combine (Eigen backend): ", rows.cols(), " rows but ",
              c.rows(), " coefficients per sample");
    EPS_CHECK(rows.rows() == eps::numel(shape), shape_error, "eps::combine (Eigen backend): rows have ", rows.rows(),
              " elements, expected shape ", to_string(shape));
    return rows * c;
  }

  static tensor_type block_sum(const tensor_type& x, const ImageShape& g, index_t kh, index_t kw) {
    detail::eigen::check_image(x.rows(), g, "block_sum");
    tensor_type r = tensor_type::Zero(g.channels * (g.height / kh) * (g.width / kw), x.cols());
    detail::cpu::block_sum(detail::eigen::view(x), g, kh, kw, r.data());
    return r;
  }
  static tensor_type block_repeat(const tensor_type& y, const ImageShape& s, index_t kh, index_t kw) {
    detail::eigen::check_image(y.rows(), s, "block_repeat");
    tensor_type r(s.channels * s.height * kh * s.width * kw, y.cols());
    detail::cpu::block_repeat(detail::eigen::view(y), s, kh, kw, r.data());
    return r;
  }
  static tensor_type channel_sum(const tensor_type& x, const ImageShape& g, std::span<const double> w) {
    detail::eigen::check_image(x.rows(), g, "channel_sum");
    tensor_type r(g.height * g.width, x.cols());
    detail::cpu::channel_sum(detail::eigen::view(x), g, w, r.data());
    return r;
  }
  static tensor_type channel_expand(const tensor_type& y, const ImageShape& g, std::span<const double> w) {
    tensor_type r(g.numel(), y.cols());
    detail::cpu::channel_expand(detail::eigen::view(y), g, w, r.data());
    return r;
  }

  static SvdRows<tensor_type> svd_rows(const tensor_type& rows) {
    // rows is n × m (m samples of n elements): the matrix is M = rowsᵀ (m × n) = U diag(s) Vᵀ,
    // so rows = V diag(s) Uᵀ and the SVD of `rows` gives (V, s, U) directly.
    auto svd = detail::cpu::thin_svd(rows);
    return {std::move(svd.v), tensor_type(svd.s), std::move(svd.u)};
  }
};

/// Complex Eigen matrices: the coefficient space of Fourier-diagonalised operators.
template <class R>
  requires std::is_floating_point_v<R>
struct backend_traits<Eigen::Matrix<std::complex<R>, Eigen::Dynamic, Eigen::Dynamic>>
    : detail::eigen::traits<std::complex<R>> {
  using base = detail::eigen::traits<std::complex<R>>;
  using typename base::tensor_type;

  static tensor_type fft2(const tensor_type& x, const ImageShape& g) { return dft(x, g, FFTW_FORWARD, "fft2"); }
  static tensor_type ifft2(const tensor_type& x, const ImageShape& g) { return dft(x, g, FFTW_BACKWARD, "ifft2"); }

 private:
  static tensor_type dft(const tensor_type& x, const ImageShape& g, int sign, const char* what) {
    detail::eigen::check_image(x.rows(), g, what);
    tensor_type r(x.rows(), x.cols());
    detail::fftw::unitary_dft2<R>(x.data(), r.data(), g.height, g.width, g.channels * x.cols(), sign);
    return r;
  }
};

namespace eigen {
/// The Eigen tensor type for scalar S (one sample per column).
template <class S>
using Tensor = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
}  // namespace eigen

static_assert(FftTensor<eigen::Tensor<double>>);
static_assert(FftTensor<eigen::Tensor<float>>);
static_assert(SvdTensor<eigen::Tensor<double>>);
static_assert(Tensor<eigen::Tensor<std::complex<double>>>);

}  // namespace eps
