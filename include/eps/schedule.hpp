// SPDX-License-Identifier: MIT
/// @file schedule.hpp
/// Gaussian interpolants x_t = α_t x0 + σ_t ε (docs/math.md §1): the schedules, their derivatives, log-SNR
/// inversion, and EDM's time-step grid.
///
/// A schedule is a scalar-only type with `alpha(t)`, `sigma(t)`, `alpha_dot(t)`, `sigma_dot(t)`,
/// `t_min()`, `t_max()` and `name()`. Time runs from data (t_min, small noise) to noise (t_max); the
/// signal-to-noise ratio α²/σ² decreases strictly with t. Call through `eps::coefficients`, which
/// checks that t lies in [t_min, t_max].
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "eps/error.hpp"
#include "eps/shape.hpp"

namespace eps {

/// α_t, σ_t and their time derivatives at one time.
struct Coefficients {
  double alpha = 1, sigma = 0, alpha_dot = 0, sigma_dot = 0;
};

/// Per-sample coefficients of a batch (each field broadcasts when uniform).
struct BatchCoefficients {
  BatchValues alpha = 1.0, sigma = 0.0, alpha_dot = 0.0, sigma_dot = 0.0;
};

template <class S>
concept Schedule = requires(const S& s, double t) {
  { s.alpha(t) } -> std::convertible_to<double>;
  { s.sigma(t) } -> std::convertible_to<double>;
  { s.alpha_dot(t) } -> std::convertible_to<double>;
  { s.sigma_dot(t) } -> std::convertible_to<double>;
  { s.t_min() } -> std::convertible_to<double>;
  { s.t_max() } -> std::convertible_to<double>;
  { s.name() } -> std::convertible_to<std::string>;
};

/// Rectified flow / flow matching: α = 1 − t, σ = t. At t = 1, α = 0 (pure noise).
struct Linear {
  double alpha(double t) const { return 1.0 - t; }
  double sigma(double t) const { return t; }
  double alpha_dot(double) const { return -1.0; }
  double sigma_dot(double) const { return 1.0; }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "linear"; }
};

/// Trigonometric (variance-preserving stochastic interpolant): α = cos(πt/2), σ = sin(πt/2).
/// α is evaluated as sin(π(1 − t)/2) so that α(1) = 0 exactly.
struct Trigonometric {
  double alpha(double t) const { return std::sin(std::numbers::pi * (1.0 - t) / 2); }
  double sigma(double t) const { return std::sin(std::numbers::pi * t / 2); }
  double alpha_dot(double t) const { return -std::numbers::pi / 2 * sigma(t); }
  double sigma_dot(double t) const { return std::numbers::pi / 2 * alpha(t); }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "trigonometric"; }
};

/// Improved-DDPM cosine schedule: α = √ᾱ(t), σ = √(1 − ᾱ(t)),
/// ᾱ(t) = cos²(f(t)) / cos²(f(0)), f(t) = (t + s)/(1 + s)·π/2, s = 0.008.
/// α is evaluated as sin(π(1 − t)/(2(1 + s)))/cos f(0) (= cos f(t)/cos f(0)) so that α(1) = 0 exactly, and
/// σ without cancellation near t = 0: 1 − α = 2 sin((f+f0)/2) sin((f−f0)/2) / cos f0.
struct VpCosine {
  double s = 0.008;
  double f(double t) const { return (t + s) / (1 + s) * std::numbers::pi / 2; }
  double alpha(double t) const { return std::sin(std::numbers::pi * (1 - t) / (2 * (1 + s))) / std::cos(f(0)); }
  double sigma(double t) const {
    const double f0 = f(0), ft = f(t);
    const double one_minus = 2 * std::sin((ft + f0) / 2) * std::sin((ft - f0) / 2) / std::cos(f0);
    return std::sqrt(std::max(0.0, one_minus * (1 + alpha(t))));
  }
  double alpha_dot(double t) const { return -std::sin(f(t)) * (std::numbers::pi / (2 * (1 + s))) / std::cos(f(0)); }
  /// σ' = −α α'/σ (+inf at t = 0, where σ = 0).
  double sigma_dot(double t) const {
    const double sg = sigma(t);
    return sg == 0 ? std::numeric_limits<double>::infinity() : -alpha(t) * alpha_dot(t) / sg;
  }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "vp_cosine"; }
};

/// DDPM linear-β schedule: α = exp(−½∫₀ᵗβ), β(t) = β_min + t(β_max − β_min), σ = √(1 − α²).
struct VpLinear {
  double beta_min = 0.1, beta_max = 20.0;
  double log_alpha(double t) const { return -0.5 * (beta_min * t + 0.5 * (beta_max - beta_min) * t * t); }
  double beta(double t) const { return beta_min + t * (beta_max - beta_min); }
  double alpha(double t) const { return std::exp(log_alpha(t)); }
  double sigma(double t) const { return std::sqrt(-std::expm1(2 * log_alpha(t))); }
  double alpha_dot(double t) const { return -0.5 * beta(t) * alpha(t); }
  /// σ' = ½ β α² / σ (+inf at t = 0).
  double sigma_dot(double t) const {
    const double sg = sigma(t);
    return sg == 0 ? std::numeric_limits<double>::infinity() : 0.5 * beta(t) * alpha(t) * alpha(t) / sg;
  }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "vp_linear"; }
};

/// Variance exploding, EDM parametrisation (α = 1, σ = t in EDM's own time) rescaled to t ∈ [0, 1]:
/// σ(t) = σ_min + t (σ_max − σ_min); EDM's defaults σ_min = 0.002, σ_max = 80.
struct VeEdm {
  double sigma_min = 0.002, sigma_max = 80.0;
  double alpha(double) const { return 1.0; }
  double sigma(double t) const { return sigma_min + t * (sigma_max - sigma_min); }
  double alpha_dot(double) const { return 0.0; }
  double sigma_dot(double) const { return sigma_max - sigma_min; }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "ve_edm"; }
};

/// Variance exploding, geometric (Song et al.): α = 1, σ(t) = σ_min (σ_max/σ_min)^t.
struct VeGeometric {
  double sigma_min = 0.002, sigma_max = 80.0;
  double alpha(double) const { return 1.0; }
  double sigma(double t) const { return sigma_min * std::pow(sigma_max / sigma_min, t); }
  double alpha_dot(double) const { return 0.0; }
  double sigma_dot(double t) const { return sigma(t) * std::log(sigma_max / sigma_min); }
  double t_min() const { return 0.0; }
  double t_max() const { return 1.0; }
  std::string name() const { return "ve_geometric"; }
};

/// A schedule from user callables α(t), σ(t), α'(t), σ'(t) on [t_min, t_max]; also the type-erased
/// holder of any schedule (`AnySchedule`). Copies share the callables.
class Custom {
 public:
  using Fn = std::function<double(double)>;
  Custom(Fn alpha, Fn sigma, Fn alpha_dot, Fn sigma_dot, double t_min = 0.0, double t_max = 1.0,
         std::string name = "custom")
      : alpha_(std::move(alpha)),
        sigma_(std::move(sigma)),
        alpha_dot_(std::move(alpha_dot)),
        sigma_dot_(std::move(sigma_dot)),
        t_min_(t_min),
        t_max_(t_max),
        name_(std::move(name)) {
    EPS_CHECK(alpha_ && sigma_ && alpha_dot_ && sigma_dot_, value_error,
              "eps::Custom: all four callables (alpha, sigma, alpha_dot, sigma_dot) are required");
    EPS_CHECK(std::isfinite(t_min) && std::isfinite(t_max) && t_min < t_max, value_error,
              "eps::Custom: need finite t_min < t_max, got [", t_min, ", ", t_max, "]");
  }
  /// Type erasure of any schedule.
  template <Schedule S>
    requires(!std::same_as<S, Custom>)
  explicit Custom(S s)
      : Custom([s](double t) { return s.alpha(t); }, [s](double t) { return s.sigma(t); },
               [s](double t) { return s.alpha_dot(t); }, [s](double t) { return s.sigma_dot(t); }, s.t_min(), s.t_max(),
               s.name()) {}

  double alpha(double t) const { return alpha_(t); }
  double sigma(double t) const { return sigma_(t); }
  double alpha_dot(double t) const { return alpha_dot_(t); }
  double sigma_dot(double t) const { return sigma_dot_(t); }
  double t_min() const { return t_min_; }
  double t_max() const { return t_max_; }
  std::string name() const { return name_; }

 private:
  Fn alpha_, sigma_, alpha_dot_, sigma_dot_;
  double t_min_, t_max_;
  std::string name_;
};

/// Any schedule behind one type (for run-time selection, e.g. from the command line).
using AnySchedule = Custom;

namespace detail {
/// The named schedules, with their default parameters: the one list behind schedule_names and make_schedule.
inline const std::vector<std::pair<std::string, AnySchedule (*)()>>& schedule_table() {
  static const std::vector<std::pair<std::string, AnySchedule (*)()>> table{{"linear", [] { return AnySchedule(Linear{}); }},
                                                                            {"trigonometric", [] { return AnySchedule(Trigonometric{}); }},
                                                                            {"vp_cosine", [] { return AnySchedule(VpCosine{}); }},
                                                                            {"vp_linear", [] { return AnySchedule(VpLinear{}); }},
                                                                            {"ve_edm", [] { return AnySchedule(VeEdm{}); }},
                                                                            {"ve_geometric", [] { return AnySchedule(VeGeometric{}); }}};
  return table;
}
}  // namespace detail

/// The names accepted by make_schedule.
inline std::vector<std::string> schedule_names() {
  std::vector<std::string> n;
  for (const auto& [name, make] : detail::schedule_table()) n.push_back(name);
  return n;
}

/// A schedule by name with its default parameters; throws value_error for an unknown name.
inline AnySchedule make_schedule(const std::string& name) {
  for (const auto& [n, make] : detail::schedule_table())
    if (n == name) return make();
  std::string known;
  for (const auto& n : schedule_names()) known += (known.empty() ? "" : ", ") + n;
  detail::raise<value_error>("eps::make_schedule: unknown schedule '", name, "'; expected one of ", known);
}

/// Throws value_error unless t is finite and in [t_min, t_max].
template <Schedule S>
void check_time(const S& s, double t, const char* where = "eps::coefficients") {
  EPS_CHECK(std::isfinite(t) && t >= s.t_min() && t <= s.t_max(), value_error, where, ": t must lie in [", s.t_min(),
            ", ", s.t_max(), "] for schedule '", s.name(), "', got ", t);
}

/// α, σ, α', σ' at t (docs/math.md §1), after checking t and the values (α, σ ≥ 0, not both 0).
template <Schedule S>
Coefficients coefficients(const S& s, double t) {
  check_time(s, t);
  Coefficients c{s.alpha(t), s.sigma(t), s.alpha_dot(t), s.sigma_dot(t)};
  EPS_CHECK(
      std::isfinite(c.alpha) && std::isfinite(c.sigma) && c.alpha >= 0 && c.sigma >= 0 && (c.alpha > 0 || c.sigma > 0),
      value_error, "eps::coefficients: schedule '", s.name(), "' gives alpha=", c.alpha, ", sigma=", c.sigma,
      " at t=", t, "; expected finite alpha, sigma >= 0, not both 0");
  return c;
}

/// Per-sample coefficients for per-sample times.
template <Schedule S>
BatchCoefficients coefficients(const S& s, const BatchValues& t) {
  std::vector<double> a(t.size()), sg(t.size()), ad(t.size()), sd(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    const Coefficients c = coefficients(s, t[i]);
    a[i] = c.alpha, sg[i] = c.sigma, ad[i] = c.alpha_dot, sd[i] = c.sigma_dot;
  }
  return {BatchValues(std::move(a)), BatchValues(std::move(sg)), BatchValues(std::move(ad)),
          BatchValues(std::move(sd))};
}

/// log SNR λ(t) = log(α²/σ²) (+inf where σ = 0, −inf where α = 0).
template <Schedule S>
double log_snr(const S& s, double t) {
  const Coefficients c = coefficients(s, t);
  return 2 * (std::log(c.alpha) - std::log(c.sigma));
}

/// The noise-to-signal ratio σ/α at t (EDM's σ; +inf where α = 0).
template <Schedule S>
double noise_ratio(const S& s, double t) {
  const Coefficients c = coefficients(s, t);
  return c.alpha == 0 ? std::numeric_limits<double>::infinity() : c.sigma / c.alpha;
}

/// The time t with log SNR λ(t) = lambda, by bisection (λ decreases strictly in t); accurate to a few
/// ulps of t. Throws value_error if lambda is outside [λ(t_max), λ(t_min)].
template <Schedule S>
double time_from_log_snr(const S& s, double lambda) {
  EPS_CHECK(!std::isnan(lambda), value_error, "eps::time_from_log_snr: lambda is NaN");
  double lo = s.t_min(), hi = s.t_max();
  const double l_lo = log_snr(s, lo), l_hi = log_snr(s, hi);
  const double slack = 1e-12 * std::max(1.0, std::abs(lambda));  // round-off at the ends is clamped
  if (lambda > l_lo && lambda <= l_lo + slack) return lo;
  if (lambda < l_hi && lambda >= l_hi - slack) return hi;
  EPS_CHECK(lambda <= l_lo && lambda >= l_hi, value_error, "eps::time_from_log_snr: log SNR ", lambda,
            " is outside the range [", l_hi, ", ", l_lo, "] of schedule '", s.name(), "'");
  if (lambda == l_lo) return lo;
  if (lambda == l_hi) return hi;
  for (int it = 0; it < 200 && hi - lo > 0; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (log_snr(s, mid) > lambda ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// The time t with σ(t)/α(t) = ratio (inverse of noise_ratio).
template <Schedule S>
double time_from_noise_ratio(const S& s, double ratio) {
  EPS_CHECK(ratio >= 0 && !std::isnan(ratio), value_error, "eps::time_from_noise_ratio: ratio must be >= 0, got ",
            ratio);
  return time_from_log_snr(s, -2 * std::log(ratio));
}

/// EDM's noise levels (Karras et al. 2022, Eq. 5): n levels from σ_max down to σ_min spaced uniformly in
/// σ^{1/ρ}, followed by a final 0 (n + 1 values in all).
inline std::vector<double> edm_sigmas(int n, double sigma_min = 0.002, double sigma_max = 80.0, double rho = 7.0) {
  EPS_CHECK(n >= 1, value_error, "eps::edm_sigmas: need n >= 1 steps, got ", n);
  EPS_CHECK(sigma_min > 0 && sigma_max >= sigma_min && std::isfinite(sigma_max), value_error,
            "eps::edm_sigmas: need 0 < sigma_min <= sigma_max < inf, got [", sigma_min, ", ", sigma_max, "]");
  EPS_CHECK(rho > 0 && std::isfinite(rho), value_error, "eps::edm_sigmas: rho must be > 0, got ", rho);
  std::vector<double> s(static_cast<std::size_t>(n) + 1, 0.0);
  const double a = std::pow(sigma_max, 1 / rho), b = std::pow(sigma_min, 1 / rho);
  for (int i = 0; i < n; ++i)
    s[static_cast<std::size_t>(i)] = std::pow(a + (n == 1 ? 0.0 : i / (n - 1.0)) * (b - a), rho);
  return s;
}

/// EDM's grid for any schedule: the times at which σ/α takes the EDM levels (clipped to the range the
/// schedule reaches), n decreasing times followed by t_min.
template <Schedule S>
std::vector<double> edm_times(const S& s, int n, double ratio_min = 0.002, double ratio_max = 80.0, double rho = 7.0) {
  const double lo = noise_ratio(s, s.t_min()), hi = noise_ratio(s, s.t_max());
  const double rmin = std::max(ratio_min, lo > 0 ? lo : ratio_min), rmax = std::min(ratio_max, hi);
  const std::vector<double> r = edm_sigmas(n, rmin, rmax, rho);
  std::vector<double> t(r.size());
  for (std::size_t i = 0; i + 1 < r.size(); ++i) t[i] = time_from_noise_ratio(s, r[i]);
  t.back() = s.t_min();
  return t;
}

}  // namespace eps
