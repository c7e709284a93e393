// SPDX-License-Identifier: MIT
// docs/math.md §8.1: the posterior score through the pivot, (E1) with E[x0|x_t,y] = D_{Σ*}(μ*) (E2), equals
// the direct Gaussian formula −(α² C_y + σ² I)⁻¹ (x_t − α m_y), for every schedule × every operator ×
// σ_y ∈ {0, 1e-3, 0.1, 1} × t ∈ {0, 0.05, 0.3, 0.7, 0.95, 1}. The denoiser output itself is compared with
// E[x0 | x_t, y] from the stacked dense observation, which also covers σ = 0 (no score) and α = 0.
#include <map>

#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"

using namespace eps;
using namespace eps::test;

namespace {

struct Instance {
  Vec mu, x0, y, x_t;
  Mat C, A;
};

template <class Op>
Instance draw(const Op& A, double a, double s, double sy, std::mt19937_64& gen) {
  using T = EigenF64::T;
  Instance in;
  in.A = reference::to_dense(A, T{});
  const Eigen::Index d = in.A.cols(), m = in.A.rows();
  in.C = random_spd(d, gen);
  in.mu = randn_mat(d, 1, gen);
  in.x0 = in.mu + in.C.llt().matrixL() * randn_mat(d, 1, gen);
  in.y = in.A * in.x0 + sy * randn_mat(m, 1, gen);
  in.x_t = a * in.x0 + s * randn_mat(d, 1, gen);
  return in;
}

}  // namespace

TEST_CASE("posterior (E1+E2): Gaussian prior, every schedule x operator x sigma_y x t") {
  // Bounds (float64, relative), spectral operators: 1e-9 for the score and the posterior mean when
  // σ_y ≥ 0.1; 1e-8 (docs/math.md §8.1) for σ_y ∈ {0, 1e-3}, where the dense reference goes through a
  // (pseudo-)inverse of the nearly singular A C Aᵀ + σ_y² I (an independent numpy check saw up to 1.1e-8; we see
  // ≤ 1.4e-9). Matrix-free operators (conjugate gradients to a relative residual of 1e-12): 1e-8 on the mean, and on
  // the score measured as σ²‖Δscore‖/‖x_t‖ = α‖Δx̂0‖/‖x_t‖, because the score divides the solver's error in x̂0 by σ² (σ
  // = 0.002 at the EDM end).
  std::mt19937_64 gen(2026);
  std::map<std::string, double> worst;
  int cases = 0;
  for (const AnySchedule& sched : all_schedules()) {
    for_each_operator<EigenF64::T>([&](const auto& A) {
      for (double sy : {0.0, 1e-3, 0.1, 1.0}) {
        for (double t : {0.0, 0.05, 0.3, 0.7, 0.95, 1.0}) {
          const Coefficients c = coefficients(sched, t);
          CAPTURE(sched.name());
          CAPTURE(A.name());
          CAPTURE(sy);
          CAPTURE(t);
          const Instance in = draw(A, c.alpha, c.sigma, sy, gen);
          const auto pv = pivot(A, Mat(in.x_t), Mat(in.y), NoiseLevels{c.alpha, c.sigma, sy});
          const auto prior = analytic::GaussianMixture::gaussian(in.mu, in.C);
          const Mat x0_hat = prior.denoise(pv);
          REQUIRE(x0_hat.allFinite());
          constexpr bool spectral = SpectralOperator<std::decay_t<decltype(A)>>;
          const double bound = !spectral || sy < 0.1 ? 1e-8 : 1e-9;
          const std::string path = spectral ? "spectral " : "matrix-free ";
          const Vec joint = reference::gaussian_joint_mean(in.mu, in.C, in.A, in.y, sy, in.x_t, c.alpha, c.sigma);
          const double e_mean = rel_error(Vec(x0_hat.col(0)), joint);
          CHECK(e_mean <= bound);
          double& wm = worst[path + "mean sy=" + std::to_string(sy)];
          wm = std::max(wm, e_mean);
          if (c.sigma > 0) {
            const Mat score = posterior_score(x0_hat, Mat(in.x_t), pv.levels());
            const Vec direct =
                reference::gaussian_posterior_score(in.mu, in.C, in.A, in.y, sy, in.x_t, c.alpha, c.sigma);
            const double e = spectral ? rel_error(Vec(score.col(0)), direct)
                                      : c.sigma * c.sigma * (score.col(0) - direct).norm() / in.x_t.norm();
            CHECK(e <= bound);
            double& ws = worst[path + "score sy=" + std::to_string(sy)];
            ws = std::max(ws, e);
          }
          ++cases;
        }
      }
    });
  }
  for (const auto& [k, v] : worst) MESSAGE(k << ": worst relative error " << v);
  CHECK(cases == 7 * 9 * 4 * 6);
}
