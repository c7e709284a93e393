// SPDX-License-Identifier: MIT
/// @file operators/grouped.hpp
/// Operators that take one weighted sum per disjoint group of pixels: k × k average pooling
/// (super-resolution) and colour-to-grey (colorization).
///
/// Both are A x = R(a ⊙ x), where R sums over the groups (blocks, or the channels of a pixel) and every
/// group carries the same weight pattern a with norm γ. Per group AᵀA = γ² u uᵀ, u = a/γ, so the SVD is
///   s = γ on the group's first element e (0 elsewhere),  V = Q,  U = −sgn(u_e),
/// with Q = I − β w wᵀ the Householder reflection mapping u to −sgn(u_e) e (w = −sgn(u_e) e − u,
/// β = 1/(1 + |u_e|), chosen without cancellation). Q is symmetric and orthogonal, so Vᵀ = V = Q, and
/// every factor costs O(d) through the group sum and its adjoint.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "eps/operators/common.hpp"
#include "eps/operators/concepts.hpp"

namespace eps {
namespace detail {

/// Groups = non-overlapping k × k blocks of every channel.
struct BlockGroups {
  static constexpr const char* owner = "eps::AvgPool";
  ImageShape in;
  index_t k;
  ImageShape out() const { return {in.channels, in.height / k, in.width / k}; }
  /// The group's first element e: the block's top-left pixel.
  static double first(index_t, index_t i, index_t j) { return i == 0 && j == 0 ? 1.0 : 0.0; }
  template <ImageTensor T>
  T reduce(const T& x) const {
    return eps::block_sum(x, in, k, k);
  }
  template <ImageTensor T>
  T expand(const T& y) const {
    return eps::block_repeat(y, out(), k, k);
  }
  /// Host pattern with value v(c, i, j) where (i, j) is the position within the block.
  template <class F>
  std::vector<double> pattern(F v) const {
    std::vector<double> p(static_cast<std::size_t>(in.numel()));
    for (index_t c = 0; c < in.channels; ++c)
      for (index_t i = 0; i < in.height; ++i)
        for (index_t j = 0; j < in.width; ++j)
          p[static_cast<std::size_t>((c * in.height + i) * in.width + j)] = v(c, i % k, j % k);
    return p;
  }
};

/// Groups = the C channels of each pixel.
struct ChannelGroups {
  static constexpr const char* owner = "eps::ColorToGray";
  ImageShape in;
  std::vector<double> ones = std::vector<double>(static_cast<std::size_t>(in.channels), 1.0);
  ImageShape out() const { return {1, in.height, in.width}; }
  /// The group's first element e: channel 0.
  static double first(index_t c, index_t, index_t) { return c == 0 ? 1.0 : 0.0; }
  template <ImageTensor T>
  T reduce(const T& x) const {
    return eps::channel_sum(x, in, std::span<const double>(ones));
  }
  template <ImageTensor T>
  T expand(const T& y) const {
    return eps::channel_expand(y, in, std::span<const double>(ones));
  }
  template <class F>
  std::vector<double> pattern(F v) const {
    std::vector<double> p(static_cast<std::size_t>(in.numel()));
    for (index_t c = 0; c < in.channels; ++c)
      for (index_t i = 0; i < in.height * in.width; ++i)
        p[static_cast<std::size_t>(c * in.height * in.width + i)] = v(c, 0, 0);
    return p;
  }
};

/// The shared implementation of grouped weighted-sum operators (see the file comment).
/// `weight(c, i, j)` is the pattern a at in-group position (i, j) of channel c; `Groups::first` marks the
/// group's first element e.
template <ImageTensor T, class Groups>
class GroupedSum {
 public:
  using tensor_type = T;
  using coef_type = T;

  template <class Weight>
  GroupedSum(const T& like, Groups groups, Weight weight, const std::vector<double>& group_weights)
      : groups_(std::move(groups)) {
    double g2 = 0;
    for (double w : group_weights) g2 += w * w;
    gamma_ = std::sqrt(g2);
    EPS_CHECK(gamma_ > 0 && std::isfinite(gamma_), value_error, Groups::owner,
              ": the weights must be finite and not all 0");
    const double u_e = group_weights.front() / gamma_;
    sgn_ = u_e >= 0 ? 1.0 : -1.0;
    beta_ = 1.0 / (1.0 + std::abs(u_e));
    const auto first = [](index_t c, index_t i, index_t j) { return Groups::first(c, i, j); };
    const auto w = [&](index_t c, index_t i, index_t j) { return -sgn_ * first(c, i, j) - weight(c, i, j) / gamma_; };
    const ImageShape in = groups_.in;
    const T first_t = eps::from_host(like, groups_.pattern(first), 1, in.shape());
    const T w_t = eps::from_host(like, groups_.pattern(w), 1, in.shape());
    const T w2_t = eps::mul(w_t, w_t);
    a_ = eps::from_host(like, groups_.pattern(weight), 1, in.shape());
    first_ = first_t;
    w_ = w_t;
    w2_ = w2_t;
    diag_factor_ = eps::add_scalar(eps::scale(w2_t, -2 * beta_), 1.0);
    s_ = eps::scale(first_t, gamma_);
  }

  Shape in_shape() const { return groups_.in.shape(); }
  Shape out_shape() const { return groups_.out().shape(); }

  T apply(const T& x) const { return groups_.reduce(eps::mul(in_check(x, "apply", "x"), (*a_))); }
  T apply_adjoint(const T& y) const { return eps::mul(groups_.expand(out_check(y, "apply_adjoint", "y")), (*a_)); }
  T singular_values() const { return (*s_); }
  /// Q x = x − β w ⊙ expand(reduce(w ⊙ x)).
  T apply_vt(const T& x) const { return reflect(in_check(x, "apply_vt", "x")); }
  T apply_v(const T& c) const { return reflect(in_check(c, "apply_v", "c")); }
  T apply_ut(const T& y) const {
    return eps::scale(eps::mul(groups_.expand(out_check(y, "apply_ut", "y")), (*first_)), -sgn_);
  }
  T apply_u(const T& c) const {
    return eps::scale(groups_.reduce(eps::mul(in_check(c, "apply_u", "c"), (*first_))), -sgn_);
  }
  /// diag(Q diag(g) Q)_j = g_j (1 − 2β w_j²) + β² w_j² Σ_{i in group} w_i² g_i.
  T spectral_diagonal(const T& g, const T&) const {
    return eps::add(eps::mul(g, (*diag_factor_)),
                    eps::scale(eps::mul(groups_.expand(groups_.reduce(eps::mul(g, (*w2_)))), (*w2_)), beta_ * beta_));
  }
  /// The common singular value γ of every group.
  double gamma() const { return gamma_; }
  /// The observation image (docs/math.md §5): every measured value repeated over its group (nearest-
  /// neighbour upsampling for AvgPool, the grey value in every channel for ColorToGray).
  T observation(const T& y) const { return groups_.expand(out_check(y, "observation", "y")); }

 private:
  T reflect(const T& x) const {
    return eps::sub(x, eps::scale(eps::mul(groups_.expand(groups_.reduce(eps::mul(x, (*w_)))), (*w_)), beta_));
  }
  /// Checks an operand; errors name the user-facing operator ("eps::AvgPool::apply").
  const T& in_check(const T& x, const char* method, const char* name) const {
    eps::check_sample(x, in_shape(), (std::string(Groups::owner) + "::" + method).c_str(), name);
    return x;
  }
  const T& out_check(const T& y, const char* method, const char* name) const {
    eps::check_sample(y, out_shape(), (std::string(Groups::owner) + "::" + method).c_str(), name);
    return y;
  }

  Groups groups_;
  double gamma_ = 1, sgn_ = 1, beta_ = 1;
  Shared<T> a_, first_, w_, w2_, diag_factor_, s_;
};

}  // namespace detail

/// k × k average pooling (super-resolution): C×H×W → C×(H/k)×(W/k), block means; H and W divisible by k.
/// Singular values 1/k (one per block), V = per-block Householder reflection, U = −1 on block corners.
template <ImageTensor T>
class AvgPool : public detail::GroupedSum<T, detail::BlockGroups> {
  using base = detail::GroupedSum<T, detail::BlockGroups>;

 public:
  AvgPool(const T& like, ImageShape in, index_t k)
      : base(
            like, make_groups(in, k), [k](index_t, index_t, index_t) { return 1.0 / double(k * k); },
            std::vector<double>(static_cast<std::size_t>(k * k), 1.0 / double(k * k))),
        k_(k) {}
  std::string name() const { return "avgpool" + std::to_string(k_); }
  index_t factor() const { return k_; }
  /// AᵀA x = (1/k²)·(block mean of x, repeated).
  T apply_gram(const T& x) const { return this->apply_adjoint(this->apply(x)); }

 private:
  static detail::BlockGroups make_groups(const ImageShape& in, index_t k) {
    in.validate("eps::AvgPool");
    EPS_CHECK(k >= 1, value_error, "eps::AvgPool: factor k must be >= 1, got ", k);
    EPS_CHECK(in.height % k == 0 && in.width % k == 0, value_error, "eps::AvgPool: H=", in.height, " and W=", in.width,
              " must be divisible by k=", k);
    return {in, k};
  }
  index_t k_;
};

/// Colour to grey (colorization): C×H×W → 1×H×W, y = Σ_c w_c x_c. Default weights: ITU-R BT.601 luma
/// (0.299, 0.587, 0.114) for C = 3, the mean otherwise.
template <ImageTensor T>
class ColorToGray : public detail::GroupedSum<T, detail::ChannelGroups> {
  using base = detail::GroupedSum<T, detail::ChannelGroups>;

 public:
  ColorToGray(const T& like, ImageShape in, std::vector<double> weights = {})
      : base(
            like, make_groups(in),
            [w = resolve(in, weights)](index_t c, index_t, index_t) { return w[static_cast<std::size_t>(c)]; },
            resolve(in, weights)),
        weights_(resolve(in, weights)) {}
  std::string name() const { return "color_to_gray"; }
  const std::vector<double>& weights() const { return weights_; }

 private:
  static detail::ChannelGroups make_groups(const ImageShape& in) {
    in.validate("eps::ColorToGray");
    return detail::ChannelGroups{in};
  }
  static std::vector<double> resolve(const ImageShape& in, const std::vector<double>& w) {
    if (w.empty()) {
      if (in.channels == 3) return {0.299, 0.587, 0.114};
      return std::vector<double>(static_cast<std::size_t>(in.channels), 1.0 / double(in.channels));
    }
    EPS_CHECK(static_cast<index_t>(w.size()) == in.channels, shape_error, "eps::ColorToGray: ", w.size(),
              " weights for ", in.channels, " channels");
    for (double v : w) EPS_CHECK(std::isfinite(v), value_error, "eps::ColorToGray: weights must be finite, got ", v);
    return w;
  }
  std::vector<double> weights_;
};

}  // namespace eps
