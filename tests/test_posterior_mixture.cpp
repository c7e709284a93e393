// SPDX-License-Identifier: MIT
// docs/math.md §8.2: the same identity for a Gaussian-mixture prior (3 components, full non-isotropic
// covariances): EPS's score (E1) with the anisotropic mixture denoiser at the pivot equals the score of
// the mixture x_t | y computed directly (responsibility-weighted component scores).
#include <map>

#include "common.hpp"
#include "eps/analytic/gaussian_mixture.hpp"

using namespace eps;
using namespace eps::test;

namespace {
analytic::GaussianMixture random_mixture(Eigen::Index d, std::mt19937_64& gen) {
  std::vector<double> w{0.5, 0.3, 0.2};
  std::vector<Vec> mu;
  std::vector<Mat> C;
  for (int k = 0; k < 3; ++k) {
    mu.push_back(1.5 * randn_mat(d, 1, gen));
    C.push_back(random_spd(d, gen, 0.2));
  }
  return analytic::GaussianMixture(w, mu, C);
}
}  // namespace

TEST_CASE("posterior (E1+E2): Gaussian-mixture prior, every schedule x operator x sigma_y x t") {
  // Bounds as for the Gaussian prior: 1e-9 (σ_y ≥ 0.1) and 1e-8 (σ_y ∈ {0, 1e-3}) for spectral operators,
  // 1e-8 for matrix-free ones, with the matrix-free score measured as σ²‖Δscore‖/‖x_t‖.
  std::mt19937_64 gen(4096);
  std::map<std::string, double> worst;
  for (const AnySchedule& sched : all_schedules()) {
    for_each_operator<EigenF64::T>([&](const auto& A) {
      const Mat a = reference::to_dense(A, EigenF64::T{});
      const auto prior = random_mixture(a.cols(), gen);
      constexpr bool spectral = SpectralOperator<std::decay_t<decltype(A)>>;
      for (double sy : {0.0, 1e-3, 0.1, 1.0}) {
        for (double t : {0.05, 0.3, 0.7, 0.95, 1.0}) {
          const Coefficients c = coefficients(sched, t);
          CAPTURE(sched.name());
          CAPTURE(A.name());
          CAPTURE(sy);
          CAPTURE(t);
          const Mat x0 = prior.sample(1, gen);
          const Mat y = a * x0 + sy * randn_mat(a.rows(), 1, gen);
          const Mat x_t = c.alpha * x0 + c.sigma * randn_mat(a.cols(), 1, gen);
          const auto pv = pivot(A, x_t, y, NoiseLevels{c.alpha, c.sigma, sy});
          const Mat score = posterior_score(prior.denoise(pv), x_t, pv.levels());
          const Mat direct = prior.posterior_score(x_t, c.alpha, c.sigma, a, y, sy);
          const double e =
              spectral ? rel_error(score, direct) : c.sigma * c.sigma * (score - direct).norm() / x_t.norm();
          CHECK(e <= (!spectral || sy < 0.1 ? 1e-8 : 1e-9));
          double& w = worst[std::string(spectral ? "spectral" : "matrix-free") + " sy=" + std::to_string(sy)];
          w = std::max(w, e);
        }
      }
    });
  }
  for (const auto& [k, v] : worst) MESSAGE(k << ": worst relative error " << v);
}
