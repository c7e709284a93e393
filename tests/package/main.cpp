// A consumer of the installed (or added) eps: builds a pivot for a blurred, noisy measurement and
// checks one identity, so that the packaging test fails if headers, targets or FFTW are missing.
#include <eps/analytic/gaussian_mixture.hpp>
#include <eps/backends/eigen.hpp>
#include <eps/eps.hpp>
#include <iostream>

int main() {
  using T = eps::eigen::Tensor<double>;
  const eps::ImageShape g{1, 8, 8};
  std::mt19937_64 gen(1);
  const eps::Blur<T> A(T{}, g, eps::gaussian_kernel(3, 0.8));
  const T x0 = eps::randn(T{}, 2, g.shape(), gen);
  const T y = A.apply(x0);
  const auto pv = eps::pivot(eps::Linear{}, A, x0, y, 0.3, 0.05);
  // The pivot is finite and its covariance satisfies 0 < diag Σ̃ ≤ σ² (E3) at t = 0.3 (σ = 0.3).
  const double dmax = pv.covariance().diagonal().maxCoeff();
  // The compiled analytic priors (eps::analytic): the score through the pivot equals the direct one.
  const auto prior = eps::analytic::GaussianMixture::gaussian(T::Zero(64, 1), T::Identity(64, 64));
  const eps::Coefficients c = eps::coefficients(eps::Linear{}, 0.3);
  const T score = eps::posterior_score(prior.denoise(pv), x0, pv.levels());
  const T a = A.apply(T::Identity(64, 64));  // the blur as a dense matrix, column by column
  const T direct = prior.posterior_score(x0, c.alpha, c.sigma, a, y, 0.05);
  const bool ok = pv.x_tilde().allFinite() && dmax <= 0.3 * 0.3 * (1 + 1e-12) && dmax > 0 &&
                  (score - direct).norm() <= 1e-9 * direct.norm();
  std::cout << "eps " << EPS_VERSION_STRING << " consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
