// SPDX-License-Identifier: MIT
/// @file parametrization.hpp
/// Conversions between x0-, ε-, score- and velocity-prediction (docs/math.md §1, §4; docs/math.md §4.1).
///
/// With x̂0 = E[x0 | x_t] and ε̂ = E[ε | x_t], two linear identities tie everything together:
///   x_t = α x̂0 + σ ε̂,   score = (α x̂0 − x_t)/σ² = −ε̂/σ,   v = α' x̂0 + σ' ε̂.
/// They hold unchanged for the posterior (conditioning on y as well), which is how EPS plugs a
/// posterior denoiser into any sampler. A conversion that needs to divide by α, σ or (α'σ − σ'α)
/// throws domain_error where that quantity is 0 rather than return inf or NaN.
#pragma once

#include <cmath>

#include "eps/backend.hpp"
#include "eps/schedule.hpp"

namespace eps {

/// What a model predicts.
enum class Prediction { x0, epsilon, score, velocity };

inline const char* to_string(Prediction p) {
  switch (p) {
    case Prediction::x0:
      return "x0";
    case Prediction::epsilon:
      return "epsilon";
    case Prediction::score:
      return "score";
    case Prediction::velocity:
      return "velocity";
  }
  return "?";
}

namespace detail {
inline BatchValues reciprocal_checked(const BatchValues& v, const char* where, const char* what) {
  EPS_CHECK(v.all([](double x) { return x != 0 && std::isfinite(x); }), domain_error, where, ": ", what,
            " is 0 (or not finite) for some sample, so this conversion is undefined there");
  return v.map([](double x) { return 1.0 / x; });
}
}  // namespace detail

/// ε̂ = (x_t − α x̂0)/σ; needs σ > 0.
template <Tensor T>
T epsilon_from_x0(const T& x0, const T& x_t, const BatchValues& alpha, const BatchValues& sigma) {
  const BatchValues inv_s = detail::reciprocal_checked(sigma, "eps::epsilon_from_x0", "sigma");
  return eps::scale_batch(eps::sub(x_t, eps::scale_batch(x0, alpha)), inv_s);
}

/// x̂0 = (x_t − σ ε̂)/α; needs α > 0.
template <Tensor T>
T x0_from_epsilon(const T& eps, const T& x_t, const BatchValues& alpha, const BatchValues& sigma) {
  const BatchValues inv_a = detail::reciprocal_checked(alpha, "eps::x0_from_epsilon", "alpha");
  return eps::scale_batch(eps::sub(x_t, eps::scale_batch(eps, sigma)), inv_a);
}

/// Tweedie (E1): score = (α x̂0 − x_t)/σ²; needs σ > 0.
template <Tensor T>
T score_from_x0(const T& x0, const T& x_t, const BatchValues& alpha, const BatchValues& sigma) {
  const BatchValues inv_s2 =
      detail::reciprocal_checked(sigma.map([](double s) { return s * s; }), "eps::score_from_x0", "sigma");
  return eps::scale_batch(eps::sub(eps::scale_batch(x0, alpha), x_t), inv_s2);
}

/// x̂0 = (x_t + σ² score)/α; needs α > 0.
template <Tensor T>
T x0_from_score(const T& score, const T& x_t, const BatchValues& alpha, const BatchValues& sigma) {
  const BatchValues inv_a = detail::reciprocal_checked(alpha, "eps::x0_from_score", "alpha");
  return eps::scale_batch(eps::add(x_t, eps::scale_batch(score, sigma.map([](double s) { return s * s; }))), inv_a);
}

/// Velocity v = α' x̂0 + σ' ε̂ = (σ'/σ) x_t + (α' − α σ'/σ) x̂0 (docs/math.md §4.1); needs σ > 0
/// unless σ' = 0 (then v = α' x̂0).
template <Tensor T>
T velocity_from_x0(const T& x0, const T& x_t, const BatchCoefficients& c) {
  if (c.sigma_dot.all([](double v) { return v == 0; })) return eps::scale_batch(x0, c.alpha_dot);
  const auto times = [](double a, double b) { return a * b; };
  const BatchValues r = zip(c.sigma_dot, detail::reciprocal_checked(c.sigma, "eps::velocity_from_x0", "sigma"), times);
  const BatchValues k = zip(c.alpha_dot, zip(c.alpha, r, times), [](double a, double b) { return a - b; });
  return eps::add(eps::scale_batch(x_t, r), eps::scale_batch(x0, k));
}

/// x̂0 = (σ v − σ' x_t)/(α' σ − σ' α); needs α'σ − σ'α ≠ 0.
template <Tensor T>
T x0_from_velocity(const T& v, const T& x_t, const BatchCoefficients& c) {
  std::vector<double> den(std::max({c.alpha.size(), c.sigma.size(), c.alpha_dot.size(), c.sigma_dot.size()}));
  for (std::size_t i = 0; i < den.size(); ++i) den[i] = c.alpha_dot[i] * c.sigma[i] - c.sigma_dot[i] * c.alpha[i];
  const BatchValues inv =
      detail::reciprocal_checked(BatchValues(std::move(den)), "eps::x0_from_velocity", "alpha' sigma - sigma' alpha");
  return eps::scale_batch(eps::sub(eps::scale_batch(v, c.sigma), eps::scale_batch(x_t, c.sigma_dot)), inv);
}

/// Any prediction to x̂0.
template <Tensor T>
T to_x0(Prediction from, const T& value, const T& x_t, const BatchCoefficients& c) {
  switch (from) {
    case Prediction::x0:
      return value;
    case Prediction::epsilon:
      return x0_from_epsilon(value, x_t, c.alpha, c.sigma);
    case Prediction::score:
      return x0_from_score(value, x_t, c.alpha, c.sigma);
    case Prediction::velocity:
      return x0_from_velocity(value, x_t, c);
  }
  detail::raise<value_error>("eps::to_x0: unknown prediction type");
}

/// x̂0 to any prediction.
template <Tensor T>
T from_x0(Prediction to, const T& x0, const T& x_t, const BatchCoefficients& c) {
  switch (to) {
    case Prediction::x0:
      return x0;
    case Prediction::epsilon:
      return epsilon_from_x0(x0, x_t, c.alpha, c.sigma);
    case Prediction::score:
      return score_from_x0(x0, x_t, c.alpha, c.sigma);
    case Prediction::velocity:
      return velocity_from_x0(x0, x_t, c);
  }
  detail::raise<value_error>("eps::from_x0: unknown prediction type");
}

/// Converts a prediction of one kind into another at the same (x_t, t). Exact wherever the
/// intermediate x̂0 is defined; ε ↔ score needs only σ > 0 and does not go through x̂0.
template <Tensor T>
T convert(Prediction from, Prediction to, const T& value, const T& x_t, const BatchCoefficients& c) {
  if (from == to) return value;
  if (from == Prediction::epsilon && to == Prediction::score)
    return eps::scale_batch(
        value, detail::reciprocal_checked(c.sigma, "eps::convert", "sigma").map([](double v) { return -v; }));
  if (from == Prediction::score && to == Prediction::epsilon)
    return eps::scale_batch(value, c.sigma.map([](double v) { return -v; }));
  return from_x0(to, to_x0(from, value, x_t, c), x_t, c);
}

}  // namespace eps
