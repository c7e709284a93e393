// SPDX-License-Identifier: MIT
/// @file xtensor.hpp
/// xtensor backend: `xt::xtensor<S, 2>` (S ∈ {float, double, std::complex<float>, std::complex<double>}),
/// a B × n row-major tensor with one sample per row (every sample contiguous, in C, H, W order for images:
/// the memory layout of a B × C × H × W array). A per-sample scalar is a B × 1 tensor.
///
/// Fixed rank on purpose: Debian's xtensor 0.24 miscompiles dynamic-rank `xt::xarray` under C++20
/// (xtensor issue 1970), and a rank-2 batch needs no shape bookkeeping (operators carry their geometry,
/// as for Eigen; `tracks_shape = false`). Elementwise loops and image primitives are the raw-buffer
/// kernels shared with the Eigen backend (cpu_kernels.hpp); the unitary 2-D FFT is FFTW 3 (xtensor has
/// none); the thin SVD of `eps::Dense` goes through Eigen on a mapped buffer.
#pragma once

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <span>
#include <type_traits>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "eps/backend.hpp"
#include "eps/backends/cpu_kernels.hpp"
#include "eps/backends/fftw.hpp"
#include "eps/backends/svd.hpp"

namespace eps {
namespace detail::xtensor {

template <class S>
using Tens = xt::xtensor<S, 2>;

using cpu::is_complex;
using cpu::real_of;

template <class S>
Tens<S> make(index_t batch, index_t n) {
  return Tens<S>::from_shape({static_cast<std::size_t>(batch), static_cast<std::size_t>(n)});
}
template <class S>
index_t rows(const Tens<S>& x) {
  return static_cast<index_t>(x.shape()[0]);
}
template <class S>
index_t cols(const Tens<S>& x) {
  return static_cast<index_t>(x.shape()[1]);
}
template <class S>
cpu::Batch<S> view(const Tens<S>& x) {
  return {x.data(), cols(x), rows(x)};
}

template <class R, class A, class B, class F>
Tens<R> broadcast(const Tens<A>& a, const Tens<B>& b, F f, const char* what) {
  const index_t n = cpu::broadcast_extent(cols(a), cols(b), "xtensor", what, "sample");
  const index_t bt = cpu::broadcast_extent(rows(a), rows(b), "xtensor", what, "batch");
  Tens<R> r = make<R>(bt, n);
  cpu::broadcast<R>(view(a), view(b), r.data(), n, bt, f);
  return r;
}

template <class S, class F>
auto map(const Tens<S>& x, F f) {
  using R = std::invoke_result_t<F, S>;
  Tens<R> r = make<R>(rows(x), cols(x));
  std::transform(x.data(), x.data() + x.size(), r.data(), f);
  return r;
}

inline void check_image(index_t n, const ImageShape& g, const char* what) { cpu::check_image(n, g, "xtensor", what); }

/// Traits shared by every scalar type of the xtensor family.
template <class S>
struct traits {
  using scalar = S;
  using real_scalar = typename real_of<S>::type;
  using tensor_type = Tens<S>;
  using real_tensor = Tens<real_scalar>;
  using complex_tensor = Tens<std::complex<real_scalar>>;
  using generator_type = std::mt19937_64;
  static constexpr bool tracks_shape = false;
  static constexpr bool complex = is_complex<S>::value;

  static const char* name() { return "xtensor"; }
  static index_t batch(const tensor_type& x) { return rows(x); }
  static index_t sample_numel(const tensor_type& x) { return cols(x); }
  static Shape sample_shape(const tensor_type& x) { return {cols(x)}; }

  static real_tensor zeros(const tensor_type&, index_t batch, const Shape& shape) {
    real_tensor r = make<real_scalar>(batch, eps::numel(shape));
    std::fill(r.data(), r.data() + r.size(), real_scalar(0));
    return r;
  }
  static real_tensor from_host(const tensor_type&, std::span<const double> v, index_t batch, const Shape& shape) {
    const index_t n = eps::numel(shape);
    EPS_CHECK(static_cast<index_t>(v.size()) == n * batch, shape_error, "eps::from_host (xtensor backend): got ",
              v.size(), " values for ", batch, " samples of shape ", to_string(shape));
    real_tensor r = make<real_scalar>(batch, n);
    std::transform(v.begin(), v.end(), r.data(), [](double d) { return static_cast<real_scalar>(d); });
    return r;
  }
  static real_tensor batch_scalars(const tensor_type&, const BatchValues& v) {
    real_tensor r = make<real_scalar>(static_cast<index_t>(v.size()), 1);
    for (std::size_t i = 0; i < v.size(); ++i) r.data()[i] = static_cast<real_scalar>(v[i]);
    return r;
  }
  static tensor_type reshape(const tensor_type& x, const Shape& shape) {
    EPS_CHECK(eps::numel(shape) == cols(x), shape_error, "eps::reshape (xtensor backend): cannot view ", cols(x),
              " elements per sample as ", to_string(shape));
    return x;
  }

  template <class B>
  static tensor_type add(const tensor_type& a, const Tens<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u + v; }, "add");
  }
  template <class B>
  static tensor_type sub(const tensor_type& a, const Tens<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u - v; }, "sub");
  }
  template <class B>
  static tensor_type mul(const tensor_type& a, const Tens<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u * v; }, "mul");
  }
  template <class B>
  static tensor_type div(const tensor_type& a, const Tens<B>& b) {
    return broadcast<S>(a, b, [](S u, B v) { return u / v; }, "div");
  }
  static tensor_type scale(const tensor_type& x, double a) {
    const auto ra = static_cast<real_scalar>(a);
    return map(x, [ra](S v) { return v * ra; });
  }
  static tensor_type axpby(double a, const tensor_type& x, double b, const tensor_type& y) {
    const auto ra = static_cast<real_scalar>(a), rb = static_cast<real_scalar>(b);
    return broadcast<S>(x, y, [ra, rb](S u, S v) { return ra * u + rb * v; }, "axpby");
  }
  static tensor_type add_scalar(const tensor_type& x, double c) {
    const S sc = S(static_cast<real_scalar>(c));
    return map(x, [sc](S v) { return v + sc; });
  }
  static real_tensor abs2(const tensor_type& x) {
    return map(x, [](S v) -> real_scalar {
      if constexpr (complex)
        return std::norm(v);
      else
        return v * v;
    });
  }
  static real_tensor abs(const tensor_type& x) {
    return map(x, [](S v) -> real_scalar { return std::abs(v); });
  }
  static real_tensor real(const tensor_type& x) {
    return map(x, [](S v) -> real_scalar { return std::real(v); });
  }
  static real_tensor imag(const tensor_type& x) {
    return map(x, [](S v) -> real_scalar { return std::imag(v); });
  }
  static double epsilon(const tensor_type&) { return static_cast<double>(std::numeric_limits<real_scalar>::epsilon()); }
  static tensor_type conj(const tensor_type& x) {
    if constexpr (complex)
      return map(x, [](S v) { return std::conj(v); });
    else
      return x;
  }

  static std::vector<double> dot_batch(const tensor_type& a, const tensor_type& b) {
    EPS_CHECK(rows(a) == rows(b) && cols(a) == cols(b), shape_error, "eps::dot_batch (xtensor backend): shapes ",
              rows(a), "x", cols(a), " and ", rows(b), "x", cols(b), " differ");
    const index_t n = cols(a);
    std::vector<double> r(static_cast<std::size_t>(rows(a)));
    for (index_t j = 0; j < rows(a); ++j) {
      S acc = S(0);
      const S* pa = a.data() + j * n;
      const S* pb = b.data() + j * n;
      for (index_t i = 0; i < n; ++i) {
        if constexpr (complex)
          acc += std::conj(pa[i]) * pb[i];
        else
          acc += pa[i] * pb[i];
      }
      r[static_cast<std::size_t>(j)] = static_cast<double>(std::real(acc));
    }
    return r;
  }
  static bool all_finite(const tensor_type& x) {
    return std::all_of(x.data(), x.data() + x.size(), [](S v) { return std::isfinite(std::abs(v)); });
  }
  static double max_abs(const tensor_type& x) {
    double m = 0;
    for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, static_cast<double>(std::abs(x.data()[i])));
    return m;
  }
};

}  // namespace detail::xtensor

/// Real xtensor batches: the full API (image primitives, FFT through the complex family, SVD).
template <class S>
  requires std::is_floating_point_v<S>
struct backend_traits<xt::xtensor<S, 2>> : detail::xtensor::traits<S> {
  using base = detail::xtensor::traits<S>;
  using typename base::complex_tensor;
  using typename base::real_tensor;
  using typename base::tensor_type;

  static tensor_type sqrt(const tensor_type& x) {
    return detail::xtensor::map(x, [](S v) { return std::sqrt(v); });
  }
  static tensor_type clamp(const tensor_type& x, double lo, double hi) {
    return detail::xtensor::map(
        x, [lo, hi](S v) { return static_cast<S>(std::min<double>(std::max<double>(v, lo), hi)); });
  }
  static tensor_type zero_indicator(const tensor_type& x) {
    return detail::xtensor::map(x, [](S v) { return v == S(0) ? S(1) : S(0); });
  }
  static std::vector<double> to_host(const tensor_type& x) { return {x.data(), x.data() + x.size()}; }
  static tensor_type randn(const tensor_type&, index_t batch, const Shape& shape, typename base::generator_type& gen) {
    tensor_type r = detail::xtensor::make<S>(batch, eps::numel(shape));
    detail::cpu::randn(r.data(), static_cast<index_t>(r.size()), gen);
    return r;
  }
  static complex_tensor to_complex(const tensor_type& x) {
    return detail::xtensor::map(x, [](S v) { return std::complex<S>(v, 0); });
  }
  /// rows: r samples of n; x: B samples of n → B samples of r coefficients ⟨rows_k, x_b⟩.
  static tensor_type inner_products(const tensor_type& rows, const tensor_type& x) {
    using detail::xtensor::cols;
    EPS_CHECK(cols(rows) == cols(x), shape_error, "eps::inner_products (xtensor backend): rows have ", cols(rows),
              " elements, samples have ", cols(x));
    return from_mat(mat(x) * mat(rows).transpose());
  }
  /// rows: r samples of n; c: B samples of r → B samples Σ_k c_k rows_k.
  static tensor_type combine(const tensor_type& rows, const tensor_type& c, const Shape& shape) {
    using detail::xtensor::cols;
    EPS_CHECK(detail::xtensor::rows(rows) == cols(c), shape_error,
              "eps::combine (xtensor backend): ", detail::xtensor::rows(rows), " rows but ", cols(c),
              " coefficients per sample");
    EPS_CHECK(cols(rows) == eps::numel(shape), shape_error, "eps::combine (xtensor backend): rows have ", cols(rows),
              " elements, expected shape ", to_string(shape));
    return from_mat(mat(c) * mat(rows));
  }
  static tensor_type block_sum(const tensor_type& x, const ImageShape& g, index_t kh, index_t kw) {
    detail::xtensor::check_image(detail::xtensor::cols(x), g, "block_sum");
    tensor_type r = base::zeros(x, detail::xtensor::rows(x), Shape{g.channels * (g.height / kh) * (g.width / kw)});
    detail::cpu::block_sum(detail::xtensor::view(x), g, kh, kw, r.data());
    return r;
  }
  static tensor_type block_repeat(const tensor_type& y, const ImageShape& s, index_t kh, index_t kw) {
    detail::xtensor::check_image(detail::xtensor::cols(y), s, "block_repeat");
    tensor_type r = detail::xtensor::make<S>(detail::xtensor::rows(y), s.channels * s.height * kh * s.width * kw);
    detail::cpu::block_repeat(detail::xtensor::view(y), s, kh, kw, r.data());
    return r;
  }
  static tensor_type channel_sum(const tensor_type& x, const ImageShape& g, std::span<const double> w) {
    detail::xtensor::check_image(detail::xtensor::cols(x), g, "channel_sum");
    tensor_type r = detail::xtensor::make<S>(detail::xtensor::rows(x), g.height * g.width);
    detail::cpu::channel_sum(detail::xtensor::view(x), g, w, r.data());
    return r;
  }
  static tensor_type channel_expand(const tensor_type& y, const ImageShape& g, std::span<const double> w) {
    tensor_type r = detail::xtensor::make<S>(detail::xtensor::rows(y), g.numel());
    detail::cpu::channel_expand(detail::xtensor::view(y), g, w, r.data());
    return r;
  }
  /// rows: m samples of n, i.e. the m × n matrix M = U diag(s) Vᵀ itself: u = Uᵀ (r samples of m),
  /// s (one sample of r), v = Vᵀ (r samples of n). Computed by Eigen (detail::cpu::thin_svd) on a mapped copy.
  static SvdRows<tensor_type> svd_rows(const tensor_type& rows) {
    const Eigen::Matrix<S, -1, -1> m = mat(rows);
    const auto svd = detail::cpu::thin_svd(m);
    return {from_mat(svd.u.transpose()), from_mat(svd.s.transpose()), from_mat(svd.v.transpose())};
  }

 private:
  using RowMat = Eigen::Matrix<S, -1, -1, Eigen::RowMajor>;
  static Eigen::Map<const RowMat> mat(const tensor_type& x) {
    return {x.data(), detail::xtensor::rows(x), detail::xtensor::cols(x)};
  }
  template <class E>
  static tensor_type from_mat(const E& e) {
    const RowMat m = e;
    tensor_type r = detail::xtensor::make<S>(m.rows(), m.cols());
    std::copy(m.data(), m.data() + m.size(), r.data());
    return r;
  }
};

/// Complex xtensor batches: the coefficient space of Fourier-diagonalised operators.
template <class R>
  requires std::is_floating_point_v<R>
struct backend_traits<xt::xtensor<std::complex<R>, 2>> : detail::xtensor::traits<std::complex<R>> {
  using base = detail::xtensor::traits<std::complex<R>>;
  using typename base::tensor_type;

  static tensor_type fft2(const tensor_type& x, const ImageShape& g) { return dft(x, g, FFTW_FORWARD, "fft2"); }
  static tensor_type ifft2(const tensor_type& x, const ImageShape& g) { return dft(x, g, FFTW_BACKWARD, "ifft2"); }

 private:
  static tensor_type dft(const tensor_type& x, const ImageShape& g, int sign, const char* what) {
    detail::xtensor::check_image(detail::xtensor::cols(x), g, what);
    tensor_type r = detail::xtensor::make<std::complex<R>>(detail::xtensor::rows(x), detail::xtensor::cols(x));
    detail::fftw::unitary_dft2<R>(x.data(), r.data(), g.height, g.width, g.channels * detail::xtensor::rows(x), sign);
    return r;
  }
};

namespace xtensor {
/// The xtensor tensor type for scalar S (one sample per row).
template <class S>
using Tensor = xt::xtensor<S, 2>;
}  // namespace xtensor

static_assert(FftTensor<xtensor::Tensor<double>>);
static_assert(FftTensor<xtensor::Tensor<float>>);
static_assert(SvdTensor<xtensor::Tensor<double>>);

}  // namespace eps
