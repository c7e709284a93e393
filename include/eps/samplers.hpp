// SPDX-License-Identifier: MIT
/// @file samplers.hpp
/// Samplers for any interpolant, driven by a denoiser `D(x, t) → x̂0 = E[x0 | x_t = x]` (batched; one time
/// for the whole batch): EDM's Euler and Heun (Karras et al. 2022, Alg. 1, generalised to α ≠ 1 through
/// x̄ = x/α and ς = σ/α), the probability-flow ODE in velocity form (Euler, Heun), DDIM with η, and
/// Euler–Maruyama on the reverse SDE (docs/math.md §5). Every sampler is one update rule on one shared grid
/// walk (`detail::walk`), which checks the times, counts network evaluations (NFE) and vector–Jacobian
/// products, and calls an optional step callback.
///
/// Conventions (docs/api.md, "Denoisers"):
///  - A sampler uses the denoiser it is given in place, for the duration of the call (forwarding reference).
///  - A function that returns a new denoiser (`posterior_denoiser` here, the baselines' wrappers) stores
///    the denoiser it wraps by value; pass `std::ref(d)` to share one instead (it must then outlive the
///    wrapper). A torch module handle is a shallow copy either way.
///  - Stochastic samplers draw from a noise source: the backend's generator (`eps::generator_t<T>`), or any
///    callable `(const T& like) → T` returning standard normal draws shaped as `like` (to replay noise).
///
/// EPS posterior sampling is the same sampler with the posterior denoiser
/// `(x, t) ↦ D(μ*(x, y, t), Σ*(t))` (docs/math.md §4, `eps::posterior_denoiser`): one evaluation per step
/// and no vector-Jacobian product.
#pragma once

#include <cmath>
#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "eps/backend.hpp"
#include "eps/parametrization.hpp"
#include "eps/posterior.hpp"
#include "eps/schedule.hpp"

namespace eps {

namespace detail {
template <class D>
struct is_reference_wrapper : std::false_type {};
template <class D>
struct is_reference_wrapper<std::reference_wrapper<D>> : std::true_type {};

/// The denoiser a stored or passed object stands for: itself, or the target of a std::reference_wrapper.
template <class D>
decltype(auto) unwrap(D& d) {
  if constexpr (is_reference_wrapper<std::remove_cv_t<D>>::value)
    return d.get();
  else
    return (d);
}
template <class D>
using unwrapped_t = std::remove_reference_t<decltype(unwrap(std::declval<D&>()))>;
}  // namespace detail

/// A batched denoiser for tensor type T (or a std::reference_wrapper to one).
template <class D, class T>
concept Denoiser = requires(detail::unwrapped_t<D>& d, const T& x, double t) {
  { d(x, t) } -> std::convertible_to<T>;
};

/// A denoiser with vector–Jacobian products `vjp(x, t, v) = vᵀ ∂D(x, t)/∂x` (batched, per sample): the
/// analytic priors give them in closed form (second-order Tweedie), a LibTorch network by autograd
/// (`eps::libtorch::AutogradDenoiser`). It may also offer `denoise_and_vjp(x, t, make_v)`, which returns
/// {D(x, t), vᵀ ∂D/∂x with v = make_v(D(x, t))} from one forward and one backward pass.
template <class D, class T>
concept DifferentiableDenoiser =
    Denoiser<D, T> && requires(detail::unwrapped_t<D>& d, const T& x, double t, const T& v) {
      { d.vjp(x, t, v) } -> std::convertible_to<T>;
    };

/// {x̂0, g} = {D(x, t), vᵀ ∂D(x, t)/∂x with v = make_v(x̂0)}: guidance whose vector depends on the
/// denoiser's output (DPS, ΠGDM). One call of `denoise_and_vjp` where the denoiser has it (autograd then
/// reuses the forward's graph), else D(x, t) followed by D.vjp(x, t, v).
template <class T, class D, class MakeV>
  requires DifferentiableDenoiser<D, T>
std::pair<T, T> denoise_and_vjp(D& denoiser, const T& x, double t, MakeV&& make_v) {
  auto& d = detail::unwrap(denoiser);
  if constexpr (requires { d.denoise_and_vjp(x, t, make_v); }) {
    auto r = d.denoise_and_vjp(x, t, make_v);
    return {static_cast<T>(std::move(r.first)), static_cast<T>(std::move(r.second))};
  } else {
    T x0 = static_cast<T>(d(x, t));
    const T v = make_v(x0);
    return {std::move(x0), static_cast<T>(d.vjp(x, t, v))};
  }
}

/// A source of standard normal noise for tensors of type T: the backend's generator, or a callable
/// (const T& like) → T (for example draws replayed from elsewhere).
template <class G, class T>
concept NoiseSource = std::same_as<std::remove_cv_t<G>, generator_t<T>> || std::invocable<G&, const T&>;

/// Standard normal draws shaped as `like`, from a noise source.
template <RealTensor T, class G>
  requires NoiseSource<G, T>
T draw_noise(const T& like, G& source) {
  if constexpr (std::invocable<G&, const T&>) {
    T n = static_cast<T>(source(like));
    eps::check_sample(n, eps::sample_shape(like), "eps::draw_noise", "the noise source's draw", eps::batch(like));
    return n;
  } else {
    return eps::randn_like(like, source);
  }
}

/// What a step callback sees (progress bars, trajectories).
template <class T>
struct StepInfo {
  int step = 0;               ///< 0-based index of the step just taken
  int steps = 0;              ///< total number of steps
  double t = 0;               ///< time at the start of the step
  double t_next = 0;          ///< time at its end
  const T* x = nullptr;       ///< state after the step
  const T* x0_hat = nullptr;  ///< denoiser output at the start of the step
  int nfe = 0;                ///< network evaluations so far
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

/// One step of a grid, as an update rule sees it.
struct GridStep {
  int index = 0, steps = 0;
  double t = 0, t_next = 0;
  Coefficients c{}, cn{};  ///< schedule coefficients at t and t_next
  bool last = false;       ///< the final step
  /// ς = σ/α at t and at t_next; `edm_end` grids end at ς = 0 whatever the schedule's t_min.
  double ratio = 0, ratio_next = 0;
};

namespace detail {

/// A denoiser's evaluations and vector–Jacobian products, counted.
template <class T, class D>
struct Counted {
  D& d;
  int nfe = 0, vjps = 0;
  T operator()(const T& x, double t) {
    ++nfe;
    return static_cast<T>(unwrap(d)(x, t));
  }
  T vjp(const T& x, double t, const T& v)
    requires DifferentiableDenoiser<D, T>
  {
    ++vjps;
    return static_cast<T>(unwrap(d).vjp(x, t, v));
  }
  template <class MakeV>
  std::pair<T, T> denoise_and_vjp(const T& x, double t, MakeV&& make_v)
    requires DifferentiableDenoiser<D, T>
  {
    ++nfe;
    ++vjps;
    return eps::denoise_and_vjp<T>(d, x, t, std::forward<MakeV>(make_v));
  }
};

inline void check_times(const std::vector<double>& ts, const char* where, std::size_t min_size = 2) {
  EPS_CHECK(ts.size() >= min_size, value_error, where, ": need at least ", min_size, " times, got ", ts.size());
  for (std::size_t i = 0; i + 1 < ts.size(); ++i)
    EPS_CHECK(std::isfinite(ts[i]) && ts[i] > ts[i + 1], value_error, where,
              ": times must be finite and strictly decreasing, got t[", i, "]=", ts[i], ", t[", i + 1, "]=", ts[i + 1]);
}

/// The loop every sampler and baseline shares. Walks the grid `ts` (checked: finite and strictly
/// decreasing; with `edm_end` the last step goes to ς = 0 at the schedule's t_min and only the times
/// before it are checked), hands each step to `update(x, step, net)` — `net` is the counted denoiser —
/// which returns {x_next, x̂0}, notifies the callback, and returns the samples with their NFE and VJP counts.
template <Schedule S, class T, class D, class Update>
SampleResult<T> walk(const char* where, const S& s, const std::vector<double>& ts, bool edm_end, T x, D& denoiser,
                     const StepCallback<T>& cb, Update&& update) {
  if (edm_end)
    check_times(std::vector<double>(ts.begin(), ts.end() - 1), where, 1);
  else
    check_times(ts, where);
  Counted<T, D> net{denoiser};
  const int n = static_cast<int>(ts.size()) - 1;
  for (int i = 0; i < n; ++i) {
    GridStep st;
    st.index = i;
    st.steps = n;
    st.t = ts[static_cast<std::size_t>(i)];
    st.t_next = ts[static_cast<std::size_t>(i) + 1];
    st.c = coefficients(s, st.t);
    st.cn = coefficients(s, st.t_next);
    st.last = i + 1 == n;
    st.ratio = st.c.alpha > 0 ? st.c.sigma / st.c.alpha : std::numeric_limits<double>::infinity();
    st.ratio_next = edm_end && st.last ? 0.0
                    : st.cn.alpha > 0  ? st.cn.sigma / st.cn.alpha
                                       : std::numeric_limits<double>::infinity();
    auto [xn, x0] = update(static_cast<const T&>(x), static_cast<const GridStep&>(st), net);
    x = std::move(xn);
    if (cb) cb(StepInfo<T>{i, n, st.t, st.t_next, &x, &x0, net.nfe});
  }
  return {std::move(x), net.nfe, net.vjps};
}

/// One EDM Euler step in x̄ = x/α, ς = σ/α from (x, t) to t_next given x̂0: x̄' = x̄ + (ς' − ς)(x̄ − x̂0)/ς.
template <Tensor T>
T edm_euler_step(const T& x, const T& x0, const GridStep& st) {
  const double r = st.ratio, rn = st.ratio_next;
  const T xb = eps::scale(x, 1 / st.c.alpha);
  return eps::scale(eps::add(xb, eps::scale(eps::sub(xb, x0), (rn - r) / r)), st.cn.alpha);
}

}  // namespace detail

/// σ(t₀)·ε, `batch` samples of shape `shape`: the usual initial state at the first time of a grid (the
/// α x0 part is neglected, as in EDM; docs/gmm_benchmark.md measures what that costs on a wide prior).
template <Schedule S, RealTensor T, class G>
  requires NoiseSource<G, T>
T initial_noise(const S& s, double t0, const T& like, index_t batch, const Shape& shape, G& gen) {
  return eps::scale(draw_noise(eps::zeros(like, batch, shape), gen), coefficients(s, t0).sigma);
}

/// Options of the EDM sampler.
struct EdmOptions {
  int steps = 18;            ///< number of noise levels (Euler: NFE = steps; Heun: 2·steps − 1)
  bool heun = false;         ///< second-order correction (EDM's Alg. 1)
  double ratio_min = 0.002;  ///< smallest σ/α of the grid (EDM's σ_min)
  double ratio_max = 80.0;   ///< largest σ/α (EDM's σ_max); clamped to the schedule's own largest σ/α
  double rho = 7.0;          ///< EDM's ρ
};

/// The EDM grid for a schedule: `steps` times where σ/α follows EDM's ρ-spacing, then the clean end
/// (σ/α = 0) at t_min.
template <Schedule S>
std::vector<double> edm_grid(const S& s, const EdmOptions& o) {
  EPS_CHECK(o.steps >= 1, value_error, "eps::edm_grid: steps must be >= 1, got ", o.steps);
  return edm_times(s, o.steps, o.ratio_min, o.ratio_max, o.rho);
}

/// EDM's deterministic sampler (Euler, or Heun with `heun`) on any schedule: with x̄ = x/α and ς = σ/α the
/// probability-flow ODE is dx̄/dς = (x̄ − D(x, t))/ς; the last step goes to ς = 0 and returns α(t_min)·x̂0.
/// For a VE schedule (α = 1, σ = ς) this is exactly Karras et al.'s Algorithm 1.
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> edm_sample(D&& denoiser, const S& s, T x, const EdmOptions& o = {},
                           const std::type_identity_t<StepCallback<T>>& cb = {}) {
  return detail::walk("eps::edm_sample", s, edm_grid(s, o), true, std::move(x), denoiser, cb,
                      [&](const T& xc, const GridStep& st, auto& net) {
                        const T x0 = net(xc, st.t);
                        T xn = detail::edm_euler_step(xc, x0, st);
                        if (o.heun && st.ratio_next > 0) {
                          const double r = st.ratio, rn = st.ratio_next;
                          const T xb = eps::scale(xc, 1 / st.c.alpha), xbn = eps::scale(xn, 1 / st.cn.alpha);
                          const T d = eps::scale(eps::sub(xb, x0), 1 / r);
                          const T dn = eps::scale(eps::sub(xbn, net(xn, st.t_next)), 1 / rn);
                          xn = eps::scale(eps::add(xb, eps::scale(eps::add(d, dn), 0.5 * (rn - r))), st.cn.alpha);
                        }
                        return std::pair{std::move(xn), x0};
                      });
}

/// Integration rule of the probability-flow ODE.
enum class OdeMethod { euler, heun };

/// The probability-flow ODE dx/dt = v(x, t) = α' x̂0 + σ' ε̂ (docs/math.md §5) from times[0] down to
/// times.back(), Euler or Heun (Heun's correction is skipped on a step that ends at σ = 0, where v needs ε̂).
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> ode_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times,
                           OdeMethod method = OdeMethod::euler, const std::type_identity_t<StepCallback<T>>& cb = {}) {
  const auto velocity = [](const T& x0, const T& xx, const Coefficients& c) {
    return velocity_from_x0(x0, xx, BatchCoefficients{c.alpha, c.sigma, c.alpha_dot, c.sigma_dot});
  };
  return detail::walk(
      "eps::ode_sample", s, times, false, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
        const T x0 = net(xc, st.t);
        const T v = velocity(x0, xc, st.c);
        T xn = eps::add(xc, eps::scale(v, st.t_next - st.t));
        if (method == OdeMethod::heun && st.cn.sigma > 0)
          xn = eps::add(xc, eps::scale(eps::add(v, velocity(net(xn, st.t_next), xn, st.cn)), 0.5 * (st.t_next - st.t)));
        return std::pair{std::move(xn), x0};
      });
}

/// DDIM (Song et al. 2021) with stochasticity η ∈ [0, 1] for any interpolant: from t to s < t,
///   x_s = α_s x̂0 + √(σ_s² − c²) ε̂ + c ξ,  c = η σ_s √(1 − (α_t σ_s / (α_s σ_t))²).
/// η = 0 is deterministic (the exponential integrator of the probability-flow ODE).
template <Schedule S, RealTensor T, Denoiser<T> D, class G>
  requires NoiseSource<G, T>
SampleResult<T> ddim_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times, double eta, G& gen,
                            const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::ddim_sample";
  EPS_CHECK(eta >= 0 && eta <= 1, value_error, where, ": eta must lie in [0, 1], got ", eta);
  return detail::walk(
      where, s, times, false, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
        const Coefficients &c = st.c, &cn = st.cn;
        EPS_CHECK(c.sigma > 0, domain_error, where, ": sigma(t) = 0 at t = ", st.t, " before the last step");
        const T x0 = net(xc, st.t);
        const T e = eps::scale(eps::sub(xc, eps::scale(x0, c.alpha)), 1 / c.sigma);
        double cc = 0;
        if (eta > 0 && cn.sigma > 0 && cn.alpha > 0) {
          const double q = c.alpha * cn.sigma / (cn.alpha * c.sigma);
          cc = eta * cn.sigma * std::sqrt(std::max(0.0, 1 - q * q));
        }
        T xn = eps::axpby(cn.alpha, x0, std::sqrt(std::max(0.0, cn.sigma * cn.sigma - cc * cc)), e);
        if (cc > 0) xn = eps::add(xn, eps::scale(draw_noise(xn, gen), cc));
        return std::pair{std::move(xn), x0};
      });
}

namespace detail {
/// One DDIM step in EDM's coordinates (x̄ = x/α, ς = σ/α; ς' may be 0 at the grid's clean end): from x̂0 and
/// the noise direction ε̂, x̄' = x̂0 + √(ς'² − c²) ε̂ + c ξ with c = η ς' √(1 − (ς'/ς)²); returns α' x̄'. This
/// is DDIM's update divided by α' (Song et al. 2021, Eq. 12), so it holds for every schedule.
template <RealTensor T, class G>
T edm_ddim_step(const T& x0, const T& eps_hat, const GridStep& st, double eta, G& gen) {
  const double r = st.ratio, rn = st.ratio_next;
  const double q = rn / r, c = eta * rn * std::sqrt(std::max(0.0, 1 - q * q));
  T xb = eps::axpby(1.0, x0, std::sqrt(std::max(0.0, rn * rn - c * c)), eps_hat);
  if (c > 0) xb = eps::add(xb, eps::scale(draw_noise(xb, gen), c));
  return eps::scale(xb, st.cn.alpha);
}
}  // namespace detail

/// DDIM with stochasticity η ∈ [0, 1] on EDM's grid (the clean end included: the last step returns α x̂0),
/// in EDM's coordinates (`detail::edm_ddim_step`): the "DDIM in VE form" that ΠGDM (η = 1) and MPGD are
/// published with. η = 0 is the deterministic exponential integrator; NFE = steps.
template <Schedule S, RealTensor T, Denoiser<T> D, class G>
  requires NoiseSource<G, T>
SampleResult<T> edm_ddim_sample(D&& denoiser, const S& s, T x, double eta, G& gen, const EdmOptions& o = {},
                                const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::edm_ddim_sample";
  EPS_CHECK(eta >= 0 && eta <= 1, value_error, where, ": eta must lie in [0, 1], got ", eta);
  return detail::walk(where, s, edm_grid(s, o), true, std::move(x), denoiser, cb,
                      [&](const T& xc, const GridStep& st, auto& net) {
                        const T x0 = net(xc, st.t);
                        const T e = eps::scale(eps::sub(eps::scale(xc, 1 / st.c.alpha), x0), 1 / st.ratio);
                        return std::pair{detail::edm_ddim_step(x0, e, st, eta, gen), x0};
                      });
}

/// Euler–Maruyama on the reverse SDE dx = [f x − g² ∇log p_t(x)] dt + g dW̄, f = α'/α, g² = dσ²/dt − 2 f σ²,
/// with the score from the denoiser (Tweedie); the last step (to σ = 0, or to the end of the grid) returns
/// α x̂0 without noise, as is customary. Needs α > 0 on the grid.
template <Schedule S, RealTensor T, Denoiser<T> D, class G>
  requires NoiseSource<G, T>
SampleResult<T> euler_maruyama_sample(D&& denoiser, const S& s, T x, const std::vector<double>& times, G& gen,
                                      const std::type_identity_t<StepCallback<T>>& cb = {}) {
  constexpr const char* where = "eps::euler_maruyama_sample";
  return detail::walk(
      where, s, times, false, std::move(x), denoiser, cb, [&](const T& xc, const GridStep& st, auto& net) {
        const Coefficients& c = st.c;
        EPS_CHECK(c.alpha > 0 && c.sigma > 0, domain_error, where, ": need alpha, sigma > 0 at t = ", st.t);
        const T x0 = net(xc, st.t);
        if (st.last) return std::pair{eps::scale(x0, st.cn.alpha), x0};
        const double f = c.alpha_dot / c.alpha, g2 = 2 * c.sigma * c.sigma_dot - 2 * f * c.sigma * c.sigma;
        EPS_CHECK(g2 >= 0, domain_error, where, ": negative diffusion g^2 = ", g2, " at t = ", st.t);
        const T score = score_from_x0(x0, xc, c.alpha, c.sigma);
        const double dt = st.t_next - st.t;  // < 0
        T xn = eps::add(eps::add(xc, eps::scale(eps::sub(eps::scale(xc, f), eps::scale(score, g2)), dt)),
                        eps::scale(draw_noise(xc, gen), std::sqrt(g2 * -dt)));
        return std::pair{std::move(xn), x0};
      });
}

/// The EPS posterior denoiser (x, t) ↦ D(μ*(x, y, t), Σ*(t)) = E[x0 | x_t = x, y] for a schedule, an operator,
/// a measurement y (batch 1 or the batch of x) with noise σ_y, and an anisotropic denoiser that takes the
/// pivot (`eps::Pivot<Op>`: x̃, Σ̃, μ*, Σ*) and returns x̂0 (a trained EPS network, or an analytic prior),
/// stored by value (std::ref to share). A noise-free y is checked once, here (docs/conventions.md).
template <Schedule S, LinearOperator Op, class AnisotropicDenoiser>
auto posterior_denoiser(S s, Op A, typename Op::tensor_type y, double sigma_y, AnisotropicDenoiser D,
                        PivotOptions opt = {}) {
  detail::require_nonnegative(sigma_y, "eps::posterior_denoiser", "sigma_y");
  check_measurement(A, y, sigma_y, opt.range_rtol, opt.cg, "eps::posterior_denoiser");  // once, not per step
  opt.check_range = false;
  return [s = std::move(s), A = std::move(A), y = std::move(y), sigma_y, D = std::move(D), opt](
             const typename Op::tensor_type& x, double t) mutable {
    return static_cast<typename Op::tensor_type>(detail::unwrap(D)(pivot(s, A, x, y, t, sigma_y, opt)));
  };
}

/// The high-noise limit (docs/math.md §4.1): one evaluation of the posterior denoiser at the largest noise of the
/// grid estimates the posterior mean E[x0 | y] (μ* → A†y + P_N x_t there).
template <Schedule S, Tensor T, Denoiser<T> D>
SampleResult<T> one_step_posterior_mean(D&& posterior, const S& s, const T& x, const EdmOptions& o = {}) {
  const double t0 = edm_grid(s, o).front();
  return {static_cast<T>(detail::unwrap(posterior)(x, t0)), 1};
}

}  // namespace eps
