// SPDX-License-Identifier: MIT
/// @file backend.hpp
/// The one customization point for tensor families, `eps::backend_traits<T>`, the concepts that check
/// it, and the qualified façade (`eps::add`, `eps::dot_batch`, ...) through which every algorithm of
/// eps touches a tensor. No algorithm names a backend type; a backend is one specialization.
///
/// A backend specializes `backend_traits<T>` for each tensor type of its family (real and complex)
/// with the static members listed in docs/backends.md. Semantics shared by every backend:
///  - A tensor is a batch of samples (batch axis first, samples contiguous, row-major C, H, W).
///  - Binary elementwise operations broadcast along two axes only: the batch axis (size 1 against B)
///    and the whole sample (a "batch scalar", one value per sample, against any sample shape).
///  - Operations never modify their arguments; they return new tensors (shallow copies of a result
///    may share storage, as torch tensors do, which is safe because nothing is written in place).
///  - Mixed complex ⊙ real operations are allowed with the complex operand first.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "eps/shape.hpp"

namespace eps {

/// Customization point: specialize for every tensor type of a backend. Undefined on purpose.
template <class T>
struct backend_traits;

template <class T>
using traits_of = backend_traits<std::remove_cvref_t<T>>;

/// The real tensor type of T's family (T itself for real tensors and for run-time-typed backends).
template <class T>
using real_tensor_t = typename traits_of<T>::real_tensor;
/// The complex tensor type of T's family.
template <class T>
using complex_tensor_t = typename traits_of<T>::complex_tensor;
/// The random generator a backend draws from.
template <class T>
using generator_t = typename traits_of<T>::generator_type;

/// Left and right factors of a thin SVD `M = U diag(s) Vᵀ` of a matrix stored as rows (see svd_rows).
template <class T>
struct SvdRows {
  T u;  ///< r samples of shape {m}: the columns of U.
  T s;  ///< one sample of shape {r}: the singular values, non-increasing.
  T v;  ///< r samples of shape {n}: the columns of V.
};

// ---------------------------------------------------------------------------------------------
// Concepts
// ---------------------------------------------------------------------------------------------

/// The minimal tensor API that every algorithm of eps relies on.
template <class T>
concept Tensor = requires(const T& a, const T& b, double s, const Shape& shape, const BatchValues& bv,
                          std::span<const double> host, index_t n) {
  typename backend_traits<T>::real_tensor;
  typename backend_traits<T>::complex_tensor;
  typename backend_traits<T>::generator_type;
  { backend_traits<T>::name() } -> std::convertible_to<const char*>;
  { backend_traits<T>::batch(a) } -> std::convertible_to<index_t>;
  { backend_traits<T>::sample_numel(a) } -> std::convertible_to<index_t>;
  { backend_traits<T>::sample_shape(a) } -> std::convertible_to<Shape>;
  { backend_traits<T>::tracks_shape } -> std::convertible_to<bool>;
  { backend_traits<T>::zeros(a, n, shape) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::from_host(a, host, n, shape) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::batch_scalars(a, bv) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::reshape(a, shape) } -> std::same_as<T>;
  { backend_traits<T>::add(a, b) } -> std::same_as<T>;
  { backend_traits<T>::sub(a, b) } -> std::same_as<T>;
  { backend_traits<T>::mul(a, b) } -> std::same_as<T>;
  { backend_traits<T>::div(a, b) } -> std::same_as<T>;
  { backend_traits<T>::scale(a, s) } -> std::same_as<T>;
  { backend_traits<T>::axpby(s, a, s, b) } -> std::same_as<T>;
  { backend_traits<T>::add_scalar(a, s) } -> std::same_as<T>;
  { backend_traits<T>::abs2(a) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::abs(a) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::real(a) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::imag(a) } -> std::same_as<typename backend_traits<T>::real_tensor>;
  { backend_traits<T>::conj(a) } -> std::same_as<T>;
  { backend_traits<T>::epsilon(a) } -> std::convertible_to<double>;
  { backend_traits<T>::dot_batch(a, b) } -> std::same_as<std::vector<double>>;
  { backend_traits<T>::all_finite(a) } -> std::convertible_to<bool>;
  { backend_traits<T>::max_abs(a) } -> std::convertible_to<double>;
};

/// A real tensor family: square roots, zero indicators, host transfer, random draws, complex lift.
template <class T>
concept RealTensor = Tensor<T> && requires(const T& a, typename backend_traits<T>::generator_type& gen,
                                           const Shape& shape, index_t n, double s) {
  { backend_traits<T>::sqrt(a) } -> std::same_as<T>;
  { backend_traits<T>::clamp(a, s, s) } -> std::same_as<T>;
  { backend_traits<T>::zero_indicator(a) } -> std::same_as<T>;
  { backend_traits<T>::to_host(a) } -> std::same_as<std::vector<double>>;
  { backend_traits<T>::randn(a, n, shape, gen) } -> std::same_as<T>;
  { backend_traits<T>::to_complex(a) } -> std::same_as<typename backend_traits<T>::complex_tensor>;
  { backend_traits<T>::inner_products(a, a) } -> std::same_as<T>;
  { backend_traits<T>::combine(a, a, shape) } -> std::same_as<T>;
};

/// A real family with the image primitives that the structured operators are built from.
template <class T>
concept ImageTensor = RealTensor<T> && requires(const T& a, const ImageShape& g, index_t k, std::span<const double> w) {
  { backend_traits<T>::block_sum(a, g, k, k) } -> std::same_as<T>;
  { backend_traits<T>::block_repeat(a, g, k, k) } -> std::same_as<T>;
  { backend_traits<T>::channel_sum(a, g, w) } -> std::same_as<T>;
  { backend_traits<T>::channel_expand(a, g, w) } -> std::same_as<T>;
};

/// A real family whose complex counterpart has the unitary 2-D FFT over the last two image axes.
template <class T>
concept FftTensor = ImageTensor<T> && Tensor<typename backend_traits<T>::complex_tensor> &&
                    requires(const typename backend_traits<T>::complex_tensor& c, const ImageShape& g) {
                      {
                        backend_traits<typename backend_traits<T>::complex_tensor>::fft2(c, g)
                      } -> std::same_as<typename backend_traits<T>::complex_tensor>;
                      {
                        backend_traits<typename backend_traits<T>::complex_tensor>::ifft2(c, g)
                      } -> std::same_as<typename backend_traits<T>::complex_tensor>;
                      {
                        backend_traits<typename backend_traits<T>::complex_tensor>::conj(c)
                      } -> std::same_as<typename backend_traits<T>::complex_tensor>;
                    };

/// A real family that can factor a small dense matrix (for `eps::Dense`).
template <class T>
concept SvdTensor = RealTensor<T> && requires(const T& rows) {
  { backend_traits<T>::svd_rows(rows) } -> std::same_as<SvdRows<T>>;
};

// ---------------------------------------------------------------------------------------------
// Façade: qualified calls that forward to the traits (no ADL, concrete results).
// ---------------------------------------------------------------------------------------------

/// Backend name ("eigen", "xtensor", "torch").
template <Tensor T>
const char* backend_name() {
  return backend_traits<T>::name();
}
/// Number of samples in the batch.
template <Tensor T>
index_t batch(const T& x) {
  return backend_traits<T>::batch(x);
}
/// Number of elements of one sample.
template <Tensor T>
index_t sample_numel(const T& x) {
  return backend_traits<T>::sample_numel(x);
}
/// Shape of one sample ({n} for backends that do not track shapes, such as Eigen).
template <Tensor T>
Shape sample_shape(const T& x) {
  return backend_traits<T>::sample_shape(x);
}

/// Real zeros of `batch` samples of shape `shape`, with the dtype/device of `like`.
template <Tensor T>
real_tensor_t<T> zeros(const T& like, index_t batch, const Shape& shape) {
  return backend_traits<T>::zeros(like, batch, shape);
}
/// Real zeros shaped as `x`.
template <Tensor T>
real_tensor_t<T> zeros_like(const T& x) {
  return backend_traits<T>::zeros(x, eps::batch(x), eps::sample_shape(x));
}
/// A real tensor from host values in batch-major, row-major order, with the dtype/device of `like`.
template <Tensor T>
real_tensor_t<T> from_host(const T& like, std::span<const double> v, index_t batch, const Shape& shape) {
  return backend_traits<T>::from_host(like, v, batch, shape);
}
/// All values of a real tensor on the host, batch-major, row-major.
template <RealTensor T>
std::vector<double> to_host(const T& x) {
  return backend_traits<T>::to_host(x);
}
/// A real "batch scalar" tensor (one value per sample) that broadcasts against `like`'s samples.
template <Tensor T>
real_tensor_t<T> batch_scalars(const T& like, const BatchValues& v) {
  return backend_traits<T>::batch_scalars(like, v);
}
/// Same data, new sample shape (same number of elements).
template <Tensor T>
T reshape(const T& x, const Shape& shape) {
  return backend_traits<T>::reshape(x, shape);
}

template <Tensor A, class B>
A add(const A& a, const B& b) {
  return backend_traits<A>::add(a, b);
}
template <Tensor A, class B>
A sub(const A& a, const B& b) {
  return backend_traits<A>::sub(a, b);
}
template <Tensor A, class B>
A mul(const A& a, const B& b) {
  return backend_traits<A>::mul(a, b);
}
template <Tensor A, class B>
A div(const A& a, const B& b) {
  return backend_traits<A>::div(a, b);
}
/// a·x.
template <Tensor T>
T scale(const T& x, double a) {
  return backend_traits<T>::scale(x, a);
}
/// a·x + b·y (same shapes, or broadcasting as for add).
template <Tensor T>
T axpby(double a, const T& x, double b, const T& y) {
  return backend_traits<T>::axpby(a, x, b, y);
}
/// x + c.
template <Tensor T>
T add_scalar(const T& x, double c) {
  return backend_traits<T>::add_scalar(x, c);
}
/// Elementwise square root (real).
template <RealTensor T>
T sqrt(const T& x) {
  return backend_traits<T>::sqrt(x);
}
/// Elementwise min(max(x, lo), hi) (real; lo ≤ hi, either may be infinite).
template <RealTensor T>
T clamp(const T& x, double lo, double hi) {
  return backend_traits<T>::clamp(x, lo, hi);
}
/// Elementwise |x|² (real result).
template <Tensor T>
real_tensor_t<T> abs2(const T& x) {
  return backend_traits<T>::abs2(x);
}
/// Elementwise |x| (real result).
template <Tensor T>
real_tensor_t<T> abs(const T& x) {
  return backend_traits<T>::abs(x);
}
/// Real part (identity on real tensors).
template <Tensor T>
real_tensor_t<T> real(const T& x) {
  return backend_traits<T>::real(x);
}
/// Imaginary part (zeros for real tensors).
template <Tensor T>
real_tensor_t<T> imag(const T& x) {
  return backend_traits<T>::imag(x);
}
/// Machine epsilon of x's (real) dtype.
template <Tensor T>
double epsilon(const T& x) {
  return backend_traits<T>::epsilon(x);
}
/// Complex conjugate.
template <Tensor T>
T conj(const T& x) {
  return backend_traits<T>::conj(x);
}
/// Complex lift of a real tensor.
template <RealTensor T>
complex_tensor_t<T> to_complex(const T& x) {
  return backend_traits<T>::to_complex(x);
}
/// 1 where x == 0 exactly, 0 elsewhere.
template <RealTensor T>
T zero_indicator(const T& x) {
  return backend_traits<T>::zero_indicator(x);
}
/// Per-sample real inner products Re⟨a_b, b_b⟩ (equal batch sizes).
template <Tensor T>
std::vector<double> dot_batch(const T& a, const T& b) {
  return backend_traits<T>::dot_batch(a, b);
}
/// Per-sample squared norms.
template <Tensor T>
std::vector<double> norm2_batch(const T& a) {
  return eps::dot_batch(a, a);
}
/// True when every element is finite.
template <Tensor T>
bool all_finite(const T& x) {
  return backend_traits<T>::all_finite(x);
}
/// max |x_i| over the whole tensor (0 for an empty tensor).
template <Tensor T>
double max_abs(const T& x) {
  return backend_traits<T>::max_abs(x);
}
/// Standard normal draws, `batch` samples of shape `shape`, dtype/device of `like`.
template <RealTensor T>
T randn(const T& like, index_t batch, const Shape& shape, generator_t<T>& gen) {
  return backend_traits<T>::randn(like, batch, shape, gen);
}
/// Standard normal draws shaped as `x`.
template <RealTensor T>
T randn_like(const T& x, generator_t<T>& gen) {
  return eps::randn(x, eps::batch(x), eps::sample_shape(x), gen);
}
/// Unitary 2-D DFT over (H, W) of every channel of every sample (forward, e^{-2πi k·n/N} / √(HW)).
template <Tensor C>
C fft2(const C& x, const ImageShape& g) {
  return backend_traits<C>::fft2(x, g);
}
/// Inverse of fft2 (unitary).
template <Tensor C>
C ifft2(const C& x, const ImageShape& g) {
  return backend_traits<C>::ifft2(x, g);
}
/// Sums over non-overlapping kh × kw blocks: C×H×W → C×(H/kh)×(W/kw).
template <ImageTensor T>
T block_sum(const T& x, const ImageShape& g, index_t kh, index_t kw) {
  return backend_traits<T>::block_sum(x, g, kh, kw);
}
/// Adjoint of block_sum: repeats every pixel of a C×h×w image over a kh × kw block.
template <ImageTensor T>
T block_repeat(const T& y, const ImageShape& small, index_t kh, index_t kw) {
  return backend_traits<T>::block_repeat(y, small, kh, kw);
}
/// Σ_c w_c x_c: C×H×W → 1×H×W.
template <ImageTensor T>
T channel_sum(const T& x, const ImageShape& g, std::span<const double> w) {
  return backend_traits<T>::channel_sum(x, g, w);
}
/// Adjoint of channel_sum: 1×H×W → C×H×W with channel c equal to w_c y.
template <ImageTensor T>
T channel_expand(const T& y, const ImageShape& g, std::span<const double> w) {
  return backend_traits<T>::channel_expand(y, g, w);
}
/// For K "row" samples r_k and a batch x: the batch of K-vectors (⟨r_k, x_b⟩)_k (a matrix product).
template <RealTensor T>
T inner_products(const T& rows, const T& x) {
  return backend_traits<T>::inner_products(rows, x);
}
/// Adjoint of inner_products: Σ_k c_{b,k} r_k, reshaped to `shape`.
template <RealTensor T>
T combine(const T& rows, const T& coeffs, const Shape& shape) {
  return backend_traits<T>::combine(rows, coeffs, shape);
}
/// Thin SVD of the matrix whose rows are the samples of `rows`.
template <SvdTensor T>
SvdRows<T> svd_rows(const T& rows) {
  return backend_traits<T>::svd_rows(rows);
}

// ---------------------------------------------------------------------------------------------
// Derived helpers
// ---------------------------------------------------------------------------------------------

/// x_b · v_b for per-sample scalars v (a plain scale when v is uniform).
template <Tensor T>
T scale_batch(const T& x, const BatchValues& v) {
  if (v.is_uniform()) return eps::scale(x, v[0]);
  return eps::mul(x, eps::batch_scalars(x, v));
}

/// Throws shape_error unless x has `batch` samples (or `batch` < 0) of the expected shape.
/// Backends that do not track shapes (Eigen) are checked on the number of elements only.
template <Tensor T>
void check_sample(const T& x, const Shape& expected, const char* where, const char* name, index_t batch_size = -1) {
  const index_t b = eps::batch(x);
  EPS_CHECK(batch_size < 0 || b == batch_size, shape_error, where, ": ", name, " has batch size ", b, ", expected ",
            batch_size);
  if constexpr (backend_traits<T>::tracks_shape) {
    const Shape got = eps::sample_shape(x);
    EPS_CHECK(got == expected, shape_error, where, ": ", name, " has sample shape ", to_string(got), ", expected ",
              to_string(expected));
  } else {
    const index_t n = eps::sample_numel(x);
    EPS_CHECK(n == numel(expected), shape_error, where, ": ", name, " has ", n, " elements per sample, expected ",
              numel(expected), " (shape ", to_string(expected), ")");
  }
}

/// Throws value_error unless every element of x is finite.
template <Tensor T>
void check_finite(const T& x, const char* where, const char* name) {
  EPS_CHECK(eps::all_finite(x), value_error, where, ": ", name, " contains NaN or infinite values");
}

/// Throws shape_error unless two batch sizes can be broadcast (equal, or one of them is 1).
inline index_t broadcast_batch(index_t a, index_t b, const char* where) {
  EPS_CHECK(a == b || a == 1 || b == 1, shape_error, where, ": batch sizes ", a, " and ", b,
            " cannot be broadcast (they must be equal or one of them 1)");
  return a > b ? a : b;
}

}  // namespace eps
