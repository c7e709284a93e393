// SPDX-License-Identifier: MIT
/// @file operators/fourier.hpp
/// Operators diagonalised by the unitary 2-D DFT F (docs/conventions.md: forward e^{−2πi k·n/N}/√N,
/// inverse e^{+2πi k·n/N}/√N, N = H·W, per channel): circular convolution (deblurring) and subsampled
/// Hartley measurements (compressed sensing with a fast real orthogonal transform).
///
/// Their coefficients are complex: Vᴴ x = F x is Hermitian-symmetric for real x, and V c = Re(F⁻¹ c),
/// which is the real-linear adjoint of Vᴴ (so V Vᴴ = I on real images, and Vᴴ is an isometry).
#pragma once

#include <cmath>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "eps/operators/generators.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {
namespace detail {

/// Per-channel mean of g over (H, W), repeated over the image: diag(F⁻¹ diag(g) F) since |F_jk|² = 1/N.
template <ImageTensor T>
T channel_mean_map(const T& g, const ImageShape& s) {
  const ImageShape per_channel{s.channels, 1, 1};
  return eps::block_repeat(eps::scale(eps::block_sum(g, s, s.height, s.width), 1.0 / double(s.height * s.width)),
                           per_channel, s.height, s.width);
}

}  // namespace detail

/// Circular convolution y = k ⊛ x of every channel with a kernel whose origin is its centre
/// ((kh−1)/2, (kw−1)/2): y[i, j] = Σ_{a,b} k[a, b] x[i − a + ca, j − b + cb] (indices mod H, W).
/// One kernel shared by the batch, or one per sample. By the convolution theorem with the unitary F,
/// A = F⁻¹ diag(ĥ) F with ĥ = √N F(k padded), so s = |ĥ|, V = F⁻¹, U = F⁻¹ diag(ĥ/|ĥ|).
/// Numerical rank (docs/conventions.md): singular values ≤ rcond·max(s) (per kernel) are set to 0
/// exactly (in s and in A), so that frequencies the kernel annihilates are null space instead of
/// amplified round-off. The default rcond is 64·ε of the dtype: |ĥ| comes from one FFT of the kernel,
/// whose round-off is O(ε log N)·max(s), far below the max(m, d)·ε of a dense SVD.
template <FftTensor T>
class Blur {
 public:
  using tensor_type = T;
  using coef_type = complex_tensor_t<T>;

  /// @param kernels  one kernel, or one per sample of the batch (all of the same size).
  Blur(const T& like, ImageShape in, std::vector<Kernel> kernels, double rcond = -1) : in_(in) {
    in.validate("eps::Blur");
    EPS_CHECK(!kernels.empty(), value_error, "eps::Blur: at least one kernel is required");
    const index_t H = in.height, W = in.width, C = in.channels, nb = static_cast<index_t>(kernels.size());
    std::vector<double> pad(static_cast<std::size_t>(nb * C * H * W), 0.0);
    for (index_t b = 0; b < nb; ++b) {
      const Kernel& k = kernels[static_cast<std::size_t>(b)];
      k.validate("eps::Blur");
      const index_t ci = (k.height - 1) / 2, cj = (k.width - 1) / 2;
      for (index_t c = 0; c < C; ++c)
        for (index_t a = 0; a < k.height; ++a)
          for (index_t bb = 0; bb < k.width; ++bb) {
            const index_t i = (((a - ci) % H) + H) % H, j = (((bb - cj) % W) + W) % W;
            pad[static_cast<std::size_t>(((b * C + c) * H + i) * W + j)] += k(a, bb);
          }
    }
    kernels_ = std::move(kernels);
    coef_type h =
        eps::scale(eps::fft2(eps::to_complex(eps::from_host(like, pad, nb, in.shape())), in), std::sqrt(double(H * W)));
    T s = eps::abs(h);
    const detail::RankCut<T> cut = detail::rank_cut(s, rcond, 64 * eps::epsilon(like), "eps::Blur");
    rank_ = cut.rank;
    rcond_ = cut.rcond;
    const T& kept = cut.kept;
    const coef_type hk = eps::mul(h, kept);
    const T sk = eps::mul(s, kept);
    const T zero = eps::zero_indicator(sk);
    phase_ = eps::add(eps::div(hk, eps::add(sk, zero)), zero);  // ĥ/|ĥ|, and 1 where ĥ = 0
    h_ = hk;
    s_ = sk;
  }
  Blur(const T& like, ImageShape in, const Kernel& kernel, double rcond = -1)
      : Blur(like, in, std::vector<Kernel>{kernel}, rcond) {}

  T apply(const T& x) const { return filter(check(x, "eps::Blur::apply", "x"), (*h_)); }
  T apply_adjoint(const T& y) const { return filter(check(y, "eps::Blur::apply_adjoint", "y"), eps::conj((*h_))); }
  T apply_gram(const T& x) const {
    return filter(check(x, "eps::Blur::apply_gram", "x"), eps::to_complex(eps::mul((*s_), (*s_))));
  }
  Shape in_shape() const { return in_.shape(); }
  Shape out_shape() const { return in_.shape(); }
  std::string name() const { return "blur"; }
  const std::vector<Kernel>& kernels() const { return kernels_; }
  /// The transfer function ĥ (complex, coefficient layout).
  const coef_type& transfer() const { return (*h_); }

  /// |ĥ| with the round-off values set to exactly 0.
  T singular_values() const { return (*s_); }
  /// The numerical rank of kernel b's operator (the number of kept frequencies over all channels).
  index_t rank(index_t b = 0) const { return rank_.at(static_cast<std::size_t>(b)); }
  /// The relative cut of the rank decision.
  double rcond() const { return rcond_; }
  coef_type apply_vt(const T& x) const { return eps::fft2(eps::to_complex(check(x, "eps::Blur::apply_vt", "x")), in_); }
  T apply_v(const coef_type& c) const { return eps::real(eps::ifft2(c, in_)); }
  coef_type apply_ut(const T& y) const {
    return eps::mul(eps::fft2(eps::to_complex(check(y, "eps::Blur::apply_ut", "y")), in_), eps::conj((*phase_)));
  }
  T apply_u(const coef_type& c) const { return eps::real(eps::ifft2(eps::mul(c, (*phase_)), in_)); }
  T spectral_diagonal(const T& g, const T&) const { return detail::channel_mean_map(g, in_); }

 private:
  T filter(const T& x, const coef_type& f) const {
    return eps::real(eps::ifft2(eps::mul(eps::fft2(eps::to_complex(x), in_), f), in_));
  }
  const T& check(const T& x, const char* what, const char* name) const {
    detail::check_operand(x, in_.shape(), eps::batch((*s_)), what, name);
    return x;
  }
  ImageShape in_;
  std::vector<Kernel> kernels_;
  std::vector<index_t> rank_;
  double rcond_ = 0;
  detail::Shared<coef_type> h_, phase_;
  detail::Shared<T> s_;
};

/// Subsampled Hartley measurements with random signs: A = S H D, with D = diag(±1) (Rademacher signs,
/// or I), H the unitary 2-D discrete Hartley transform of every channel (H = Re F − Im F, symmetric and
/// involutory), and S the selection of a frequency set Ω; y has the shape of x, and its entries off Ω are
/// padding, ignored at every σ_y (`measured(y)` zeroes them).
/// Ω must be symmetric (k ∈ Ω ⇔ −k ∈ Ω mod (H, W)); then S commutes with the Hartley-to-Fourier change
/// of basis and A = U diag(s) Vᴴ with Vᴴ = F D, s = S, U = H F⁻¹: every factor is one FFT.
template <FftTensor T>
class SubsampledHartley {
 public:
  using tensor_type = T;
  using coef_type = complex_tensor_t<T>;

  /// @param selection  host C×H×W values in {0, 1}, symmetric per channel (see symmetric_frequency_mask).
  /// @param seed       Rademacher signs D drawn from std::mt19937_64(seed); `random_signs = false`: D = I.
  SubsampledHartley(const T& like, ImageShape in, std::span<const double> selection, bool random_signs = true,
                    std::uint64_t seed = 0)
      : in_(in) {
    in.validate("eps::SubsampledHartley");
    EPS_CHECK(static_cast<index_t>(selection.size()) == in.numel(), shape_error,
              "eps::SubsampledHartley: selection has ", selection.size(), " values, expected C*H*W = ", in.numel());
    const index_t H = in.height, W = in.width;
    for (index_t c = 0; c < in.channels; ++c)
      for (index_t i = 0; i < H; ++i)
        for (index_t j = 0; j < W; ++j) {
          const double v = selection[static_cast<std::size_t>((c * H + i) * W + j)];
          const double m = selection[static_cast<std::size_t>((c * H + (H - i) % H) * W + (W - j) % W)];
          EPS_CHECK(v == 0.0 || v == 1.0, value_error, "eps::SubsampledHartley: selection entries must be 0 or 1, got ",
                    v);
          EPS_CHECK(v == m, value_error, "eps::SubsampledHartley: the frequency set must be symmetric under k -> -k; (",
                    i, ",", j, ") and (", (H - i) % H, ",", (W - j) % W, ") of channel ", c, " differ");
        }
    std::vector<double> d(static_cast<std::size_t>(in.numel()), 1.0);
    if (random_signs) {
      std::mt19937_64 gen(seed);
      std::bernoulli_distribution coin(0.5);
      for (double& v : d) v = coin(gen) ? 1.0 : -1.0;
    }
    s_ = eps::from_host(like, selection, 1, in.shape());
    d_ = eps::from_host(like, d, 1, in.shape());
  }

  T apply(const T& x) const {
    return eps::mul(hartley(eps::mul(check(x, "eps::SubsampledHartley::apply", "x"), (*d_))), (*s_));
  }
  T apply_adjoint(const T& y) const {
    return eps::mul(hartley(eps::mul(check(y, "eps::SubsampledHartley::apply_adjoint", "y"), (*s_))), (*d_));
  }
  Shape in_shape() const { return in_.shape(); }
  Shape out_shape() const { return in_.shape(); }
  std::string name() const { return "subsampled_hartley"; }
  /// The unitary 2-D Hartley transform H x = Re(F x) − Im(F x) (per channel).
  T hartley(const T& x) const {
    const coef_type f = eps::fft2(eps::to_complex(x), in_);
    return eps::sub(eps::real(f), eps::imag(f));
  }

  T singular_values() const { return (*s_); }
  coef_type apply_vt(const T& x) const {
    return eps::fft2(eps::to_complex(eps::mul(check(x, "eps::SubsampledHartley::apply_vt", "x"), (*d_))), in_);
  }
  T apply_v(const coef_type& c) const { return eps::mul(eps::real(eps::ifft2(c, in_)), (*d_)); }
  coef_type apply_ut(const T& y) const {
    return eps::fft2(eps::to_complex(hartley(check(y, "eps::SubsampledHartley::apply_ut", "y"))), in_);
  }
  T apply_u(const coef_type& c) const { return hartley(eps::real(eps::ifft2(c, in_))); }
  T spectral_diagonal(const T& g, const T&) const { return detail::channel_mean_map(g, in_); }
  /// y with its padding (entries off Ω) set to 0: the part of y that is a measurement.
  T measured(const T& y) const { return eps::mul(check(y, "eps::SubsampledHartley::measured", "y"), (*s_)); }

 private:
  const T& check(const T& x, const char* what, const char* name) const {
    eps::check_sample(x, in_.shape(), what, name);
    return x;
  }
  ImageShape in_;
  detail::Shared<T> s_, d_;
};

}  // namespace eps
