// SPDX-License-Identifier: MIT
/// @file samplers.hpp
/// Samplers for any interpolant, driven by a denoiser `D(x, t) → x̂0 = E[x0 | x_t = x]` (batched; one time
/// for the whole batch): EDM's Euler and Heun (Karras et al. 2022, Alg. 1, generalised to α ≠ 1 through
/// x̄ = x/α and ς = σ/α), the probability-flow ODE in velocity form (Euler, Heun), DDIM with η, and
/// Euler–Maruyama on the reverse SDE. Every sampler counts network evaluations (NFE) and calls an
/// optional step callback.
///
/// EPS posterior sampling is the same sampler with the posterior denoiser
/// `(x, t) ↦ D(μ*(x, y, t), Σ*(t))` (MATH.md §4, `eps::posterior_denoiser`): one evaluation per step and
/// no vector-Jacobian product.
#pragma once

#include <cmath>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "eps/backend.hpp"
#include "eps/parametrization.hpp"
#include "eps/posterior.hpp"
#include "eps/schedule.hpp"

namespace eps {

/// A batched denoiser for tensor type T.
template <class D, class T>
concept Denoiser = requires(D& d, const T& x, double t) {
  { d(x, t) } -> std::convertible_to<T>;
};

/// What a step callback sees (progress bars, trajectories).
template <class T>
struct StepInfo {
  int step = 0;          ///< 0-based index of the step just taken
  int steps = 0;         ///< total number of steps
  double t = 0;          ///< time at the start of the step
  double t_next = 0;     ///< time at its end
  const T* x = nullptr;  ///< state after the step
  const T* x0_hat = nullptr;  ///< denoiser output at the start of the step
  int nfe = 0;           ///< network evaluations so far
};

template <class T>
using StepCallback = std::function<void(const StepInfo<T>&)>;

/// A sampler's output: the samples and the number of denoiser evaluations it took.
template <class T>
struct SampleResult {
  T x;
  int nfe = 0;  ///< denoiser evaluations
  int vjp = 0;  ///< vector-Jacobian products through the denoiser (gradient-based baselines)
};

namespace detail {
/// Counts the evaluations of a denoiser.
template <class T, class D>
struct Counted {
  D& d;
  int nfe = 0;
  T operator()(const T& x, double t) {
    ++nfe;
    return d(x, t);
  }
};

inline void check_times(const std::vector<double>& ts, const char* where, std::size_t min_size = 2) {
  EPS_CHECK(ts.size() >= min_size, value_error, where, ": need at least ", min_size, " times, got ", ts.size());
  for (std::size_t i = 0; i + 1 < ts.size(); ++i)
    EPS_CHECK(std::isfinite(ts[i]) && ts[i] > ts[i + 1], value_error, where,
              ": times must be finite and strictly decreasing, got t[", i, "]=", ts[i], ", t[", i + 1, "]=", ts[i + 1]);
}

template <class T>
void notify(const StepCallback<T>& cb, int i, int n, double t, double tn, const T& x, const T& x0, int nfe) {
  if (cb) cb(StepInfo<T>{i, n, t, tn, &x, &x0, nfe});
}
}  // namespace detail

/// σ(t₀)·ε, `batch` samples of shape `shape`: the usual initial state at the first time of a grid (the
/// α x0 part is neglected, as in EDM).
template <Schedule S, RealTensor T>
T initial_noise(const S& s, double t0, const T& like, index_t batch, const Shape& shape, generator_t<T>& gen) {
  return eps::scale(eps::randn(like, batch, shape, gen), coefficients(s, t0).sigma);
}

/// Options of the EDM sampler.
struct EdmOptions {
  int steps = 18;           ///< number of noise levels (Euler: NFE = steps; Heun: 2·steps − 1)
  bool heun = false;        ///< second-order correction (EDM's Alg. 1)
  double ratio_min = 0.002; ///< smallest σ/α of the grid (EDM's σ_min)
  double ratio_max = 80.0;  ///< largest σ/α (EDM's σ_max)
  double rho = 7.0;         ///< EDM's ρ
};

/// The EDM grid for a schedule: `steps` times where σ/α follows EDM's ρ-spacing, then the clean end
/// (σ/α = 0) at t_min.
template <Schedule S>
std::vector<double> edm_grid(const S& s, const EdmOptions& o) {
  return edm_times(s, o.steps, o.ratio_min, o.ratio_max, o.rho);
}

/// EDM's deterministic sampler (Euler, or Heun with `heun`) on any schedule: with x̄ = x/α and ς = σ/α the
/// probability-flow ODE is dx̄/dς = (x̄ − D(x, t))/ς; the last step goes to ς = 0 and returns α(t_min)·x̂0.
/// For a VE schedule (α = 1, σ = ς) this is exactly Karras et al.'s Algorithm 1.
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> edm_sample(D&& denoiser, const S& s, T x, const EdmOptions& o = {}, const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::edm_sample";
  EPS_CHECK(o.steps >= 1, value_error, where, ": steps must be >= 1, got ", o.steps);
  const std::vector<double> ts = edm_grid(s, o);
  // The last step always ends at ς = 0 (EDM's σ_N = 0), even where the schedule's own t_min has σ > 0.
  detail::check_times(std::vector<double>(ts.begin(), ts.end() - 1), where, 1);
  detail::Counted<T, std::remove_reference_t<D>> net{denoiser};
  const int n = static_cast<int>(ts.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const double t = ts[static_cast<std::size_t>(i)], tn = ts[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    const double r = c.sigma / c.alpha, rn = i + 1 == n ? 0.0 : cn.sigma / cn.alpha;
    const T x0 = net(x, t);
    const T xb = eps::scale(x, 1 / c.alpha);
    const T d = eps::scale(eps::sub(xb, x0), 1 / r);
    T xbn = eps::add(xb, eps::scale(d, rn - r));
    if (o.heun && rn > 0) {
      const T x0n = net(eps::scale(xbn, cn.alpha), tn);
      const T dn = eps::scale(eps::sub(xbn, x0n), 1 / rn);
      xbn = eps::add(xb, eps::scale(eps::add(d, dn), 0.5 * (rn - r)));
    }
    x = eps::scale(xbn, cn.alpha);
    detail::notify(cb, i, n, t, tn, x, x0, net.nfe);
  }
  return {std::move(x), net.nfe};
}

/// Integration rule of the probability-flow ODE.
enum class OdeMethod { euler, heun };

/// The probability-flow ODE dx/dt = v(x, t) = α' x̂0 + σ' ε̂ (MATH.md §4) from times[0] down to times.back(),
/// Euler or Heun (Heun's correction is skipped on a step that ends at σ = 0, where v needs ε̂).
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> ode_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times, OdeMethod method = OdeMethod::euler,
                           const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::ode_sample";
  detail::check_times(times, where);
  detail::Counted<T, std::remove_reference_t<D>> net{denoiser};
  const auto velocity = [&](const T& xx, double t, const Coefficients& c, T* x0_out) {
    const T x0 = net(xx, t);
    if (x0_out) *x0_out = x0;
    return velocity_from_x0(x0, xx, BatchCoefficients{c.alpha, c.sigma, c.alpha_dot, c.sigma_dot});
  };
  const int n = static_cast<int>(times.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const double t = times[static_cast<std::size_t>(i)], tn = times[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    T x0 = x;
    const T v = velocity(x, t, c, &x0);
    T xn = eps::add(x, eps::scale(v, tn - t));
    if (method == OdeMethod::heun && cn.sigma > 0) xn = eps::add(x, eps::scale(eps::add(v, velocity(xn, tn, cn, nullptr)), 0.5 * (tn - t)));
    x = std::move(xn);
    detail::notify(cb, i, n, t, tn, x, x0, net.nfe);
  }
  return {std::move(x), net.nfe};
}

/// DDIM (Song et al. 2021) with stochasticity η ∈ [0, 1] for any interpolant: from t to s < t,
///   x_s = α_s x̂0 + √(σ_s² − c²) ε̂ + c ξ,  c = η σ_s √(1 − (α_t σ_s / (α_s σ_t))²).
/// η = 0 is deterministic (the exponential integrator of the probability-flow ODE).
template <Schedule S, RealTensor T, Denoiser<T> D>
SampleResult<T> ddim_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times, double eta,
                            generator_t<T>& gen, const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::ddim_sample";
  detail::check_times(times, where);
  EPS_CHECK(eta >= 0 && eta <= 1, value_error, where, ": eta must lie in [0, 1], got ", eta);
  detail::Counted<T, std::remove_reference_t<D>> net{denoiser};
  const int n = static_cast<int>(times.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const double t = times[static_cast<std::size_t>(i)], tn = times[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    EPS_CHECK(c.sigma > 0, domain_error, where, ": sigma(t) = 0 at t = ", t, " before the last step");
    const T x0 = net(x, t);
    const T e = eps::scale(eps::sub(x, eps::scale(x0, c.alpha)), 1 / c.sigma);
    double cc = 0;
    if (eta > 0 && cn.sigma > 0 && cn.alpha > 0) {
      const double q = c.alpha * cn.sigma / (cn.alpha * c.sigma);
      cc = eta * cn.sigma * std::sqrt(std::max(0.0, 1 - q * q));
    }
    x = eps::axpby(cn.alpha, x0, std::sqrt(std::max(0.0, cn.sigma * cn.sigma - cc * cc)), e);
    if (cc > 0) x = eps::add(x, eps::scale(eps::randn_like(x, gen), cc));
    detail::notify(cb, i, n, t, tn, x, x0, net.nfe);
  }
  return {std::move(x), net.nfe};
}

/// Euler–Maruyama on the reverse SDE dx = [f x − g² ∇log p_t(x)] dt + g dW̄, f = α'/α, g² = dσ²/dt − 2 f σ²,
/// with the score from the denoiser (Tweedie); the last step (to σ = 0, or to the end of the grid) returns
/// α x̂0 without noise, as is customary. Needs α > 0 on the grid.
template <Schedule S, RealTensor T, Denoiser<T> D>
SampleResult<T> euler_maruyama_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times,
                                      generator_t<T>& gen, const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::euler_maruyama_sample";
  detail::check_times(times, where);
  detail::Counted<T, std::remove_reference_t<D>> net{denoiser};
  const int n = static_cast<int>(times.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const double t = times[static_cast<std::size_t>(i)], tn = times[static_cast<std::size_t>(i) + 1];
    const Coefficients c = coefficients(s, t), cn = coefficients(s, tn);
    EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error, where, ": need alpha, sigma > 0 at t = ", t);
    const T x0 = net(x, t);
    if (i + 1 == n) {
      x = eps::scale(x0, cn.alpha);
    } else {
      const double f = c.alpha_dot / c.alpha, g2 = 2 * c.sigma * c.sigma_dot - 2 * f * c.sigma * c.sigma;
      EPS_CHECK(g2 >= 0, domain_error, where, ": negative diffusion g^2 = ", g2, " at t = ", t);
      const T score = score_from_x0(x0, x, c.alpha, c.sigma);
      const double dt = tn - t;  // < 0
      x = eps::add(eps::add(x, eps::scale(eps::sub(eps::scale(x, f), eps::scale(score, g2)), dt)), eps::scale(eps::randn_like(x, gen), std::sqrt(g2 * -dt)));
    }
    detail::notify(cb, i, n, t, tn, x, x0, net.nfe);
  }
  return {std::move(x), net.nfe};
}

/// The EPS posterior denoiser (x, t) ↦ D(μ*(x, y, t), Σ*(t)) = E[x0 | x_t = x, y] for a schedule, an operator,
/// a measurement y (batch 1 or the batch of x) with noise σ_y, and an anisotropic denoiser that takes the
/// pivot (`eps::Pivot<Op>`: x̃, Σ̃, μ*, Σ*) and returns x̂0 (a trained EPS network, or an analytic prior).
template <Schedule S, LinearOperator Op, class AnisotropicDenoiser>
auto posterior_denoiser(S s, Op A, typename Op::tensor_type y, double sigma_y, AnisotropicDenoiser D,
                        PivotOptions opt = {}) {
  detail::require_nonnegative(sigma_y, "eps::posterior_denoiser", "sigma_y");
  return [s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, D = std::move(D), opt](
             const typename Op::tensor_type& x, double t) mutable {
    return static_cast<typename Op::tensor_type>(D(pivot(s, A, x, y, t, sigma_y, opt)));
  };
}

/// PAPER.md Obs. 4: one evaluation of the posterior denoiser at the largest noise of the grid estimates
/// the posterior mean E[x0 | y] (μ* → A†y + P_N x_t there).
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> one_step_posterior_mean(D&& posterior, const S& s, const T& x, const EdmOptions& o = {}) {
  const double t0 = edm_grid(s, o).front();
  return {posterior(x, t0), 1};
}

}  // namespace eps
