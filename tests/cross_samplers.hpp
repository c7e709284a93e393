// SPDX-License-Identifier: MIT
// Every sampler and every baseline, on the Eigen reference and on another backend, from the same inputs
// and the same noise, step for step. The denoiser is the exact one of a Gaussian prior with a diagonal
// covariance, written with the façade only (so it runs on every backend), with its closed-form VJP. The
// noise is drawn on the host (std::mt19937_64, the same seed on both sides) and handed to the samplers as a
// noise source (eps/samplers.hpp), so backends with their own generators see the same numbers.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "cross_backend.hpp"
#include "eps/baselines.hpp"

namespace eps::test {

/// E[x0 | x_t] for x0 ~ N(m, diag(c)): m + k ⊙ (x − α m), k = α c/(α² c + σ²); J = diag(k), so vᵀJ = k ⊙ v.
template <class T>
struct DiagonalGaussianDenoiser {
  AnySchedule s;
  T m, c;  ///< one sample each, of the operator's input shape
  T gain(double t) const {
    const Coefficients co = coefficients(s, t);
    return eps::scale(eps::div(c, eps::add_scalar(eps::scale(c, co.alpha * co.alpha), co.sigma * co.sigma)), co.alpha);
  }
  T operator()(const T& x, double t) const {
    const double a = coefficients(s, t).alpha;
    return eps::add(m, eps::mul(eps::sub(x, eps::scale(m, a)), gain(t)));
  }
  T vjp(const T&, double t, const T& v) const { return eps::mul(v, gain(t)); }
};

/// Standard normal draws from a host generator, shaped as `like` on its backend.
struct HostNoise {
  std::mt19937_64 gen;
  template <class T>
  T operator()(const T& like) {
    std::normal_distribution<double> n01;
    std::vector<double> h(static_cast<std::size_t>(eps::batch(like) * eps::sample_numel(like)));
    for (double& v : h) v = n01(gen);
    return eps::reshape(T(eps::from_host(like, h, eps::batch(like), eps::sample_shape(like))), eps::sample_shape(like));
  }
};

/// Runs every sampler and baseline on both backends and compares the trajectories step by step.
template <class TE, class TX>
void cross_backend_samplers(double tol, const TX& lx = TX{}) {
  const auto moved = [&](const TE& e, const Shape& shape) {
    return eps::reshape(TX(eps::from_host(lx, eps::to_host(e), eps::batch(e), eps::sample_shape(e))), shape);
  };
  const TE le;
  std::mt19937_64 g0(17);
  const ImageShape g{1, 4, 4};
  const std::vector<double> mask = random_mask(g, 0.6, g0);
  const std::vector<double> rows = row_major(randn_mat(6, g.numel(), g0) / 4.0);
  const auto run = [&](const auto& Ae, const auto& Ax) {
    using OpE = std::decay_t<decltype(Ae)>;
    CAPTURE(Ae.name());
    const AnySchedule s = make_schedule("ve_edm");
    std::mt19937_64 g1(23);
    const TE me = eps::randn(le, 1, Ae.in_shape(), g1);
    const TE ce = eps::add_scalar(eps::abs(eps::randn(le, 1, Ae.in_shape(), g1)), 0.5);
    const TE ye = eps::add(Ae.apply(eps::randn(le, 1, Ae.in_shape(), g1)),
                           eps::scale(eps::randn(le, 1, Ae.out_shape(), g1), 0.1));
    const TE xe = eps::scale(eps::randn(le, 2, Ae.in_shape(), g1), 80.0);
    const DiagonalGaussianDenoiser<TE> De{s, me, ce};
    const DiagonalGaussianDenoiser<TX> Dx{s, moved(me, Ax.in_shape()), moved(ce, Ax.in_shape())};
    const TX yx = moved(ye, Ax.out_shape()), xx = moved(xe, Ax.in_shape());
    const double sy = 0.1;
    EdmOptions o;
    o.steps = 6;
    const std::vector<double> times = edm_grid(s, o);
    const std::vector<double> inner(times.begin(), times.end() - 1);  // ending at σ_min > 0
    // Runs one sampler on both sides, each with its own copy of the same host noise, and compares.
    const auto same = [&](const std::string& name, auto&& sample_e, auto&& sample_x) {
      CAPTURE(name);
      std::vector<std::vector<double>> te, tx;
      HostNoise ne{std::mt19937_64(99)}, nx{std::mt19937_64(99)};
      const auto re = sample_e(ne, [&](const StepInfo<TE>& i) { te.push_back(eps::to_host(*i.x)); });
      const auto rx = sample_x(nx, [&](const StepInfo<TX>& i) { tx.push_back(eps::to_host(*i.x)); });
      REQUIRE(te.size() == tx.size());
      REQUIRE(!te.empty());
      for (std::size_t i = 0; i < te.size(); ++i) CHECK(rel(tx[i], te[i]) <= tol);
      CHECK(re.nfe == rx.nfe);
      CHECK(re.vjp == rx.vjp);
    };
    const auto both = [&](const std::string& name, auto&& f) {  // f(A, D, y, x, noise, callback)
      same(
          name, [&](HostNoise& n, auto cb) { return f(Ae, De, ye, xe, n, cb); },
          [&](HostNoise& n, auto cb) { return f(Ax, Dx, yx, xx, n, cb); });
    };
    both("edm euler", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise&, auto cb) {
      return edm_sample(D, s, x, o, cb);
    });
    both("edm heun", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise&, auto cb) {
      EdmOptions h = o;
      h.heun = true;
      return edm_sample(D, s, x, h, cb);
    });
    both("ode heun", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise&, auto cb) {
      return ode_sample(D, s, x, inner, OdeMethod::heun, cb);
    });
    both("ddim eta 0.5", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise& n, auto cb) {
      return ddim_sample(D, s, x, inner, 0.5, n, cb);
    });
    both("euler-maruyama", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise& n, auto cb) {
      return euler_maruyama_sample(D, s, x, inner, n, cb);
    });
    both("eps (posterior denoiser)",
         [&](const auto& A, const auto&, const auto& y, const auto& x, HostNoise&, auto cb) {
           // The exact denoiser of the standard normal prior at the pivot (cross_backend.hpp).
           return edm_sample(posterior_denoiser(s, A, y, sy, [](const auto& pv) { return gaussian_denoiser(pv); }), s,
                             x, o, cb);
         });
    both("dps", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise&, auto cb) {
      return dps_sample(D, s, A, y, x, o, DpsOptions{0.5}, cb);
    });
    both("zero-shot", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise&, auto cb) {
      return edm_sample(zero_shot_denoiser(D, s, A, y, sy), s, x, o, cb);
    });
    both("ddnm (noise-free)", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise&, auto cb) {
      return edm_sample(ddnm_denoiser(D, A, y), s, x, o, cb);
    });
    both("ddim in ve form", [&](const auto&, const auto& D, const auto&, const auto& x, HostNoise& n, auto cb) {
      return edm_ddim_sample(D, s, x, 1.0, n, o, cb);
    });
    both("mpgd", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise& n, auto cb) {
      MpgdOptions mp;
      mp.step = 0.3;
      mp.clip_min = -1.5;
      mp.clip_max = 1.5;
      return mpgd_sample(D, s, A, y, x, n, o, mp, cb);
    });
    both("daps", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise& n, auto cb) {
      DapsOptions da;
      da.levels = 3;
      da.ode_steps = 2;
      da.langevin_steps = 4;
      da.tau = 0.3;
      return daps_sample(D, s, A, y, x, n, da, cb);
    });
    if constexpr (SpectralOperator<OpE>) {
      both("pigdm", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise&, auto cb) {
        return edm_sample(pigdm_denoiser(D, s, A, y, sy), s, x, o, cb);
      });
      both("ddrm", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise& n, auto cb) {
        return ddrm_sample(D, s, A, y, sy, x, n, o, DdrmOptions{}, cb);
      });
      both("ddnm+", [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise& n, auto cb) {
        return ddnm_plus_sample(D, s, A, y, sy, x, n, o, DdnmPlusOptions{}, cb);
      });
      both("daps (exact draws)",
           [&](const auto& A, const auto& D, const auto& y, const auto& x, HostNoise& n, auto cb) {
             DapsOptions da;
             da.levels = 3;
             da.ode_steps = 2;
             da.exact = true;
             da.tau = 0.3;
             return daps_sample(D, s, A, y, x, n, da, cb);
           });
    }
  };
  run(Mask<TE>(le, mask, g.shape()), Mask<TX>(lx, mask, g.shape()));
  run(AvgPool<TE>(le, g, 2), AvgPool<TX>(lx, g, 2));
  run(Blur<TE>(le, g, skew_kernel()), Blur<TX>(lx, g, skew_kernel()));
  run(Dense<TE>(le, rows, 6, g.shape()), Dense<TX>(lx, rows, 6, g.shape()));
}

}  // namespace eps::test
