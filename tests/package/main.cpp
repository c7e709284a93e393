// A consumer of the installed (or added) eps: builds a pivot for a blurred, noisy measurement and
// checks one identity, so that the packaging test fails if headers, targets or FFTW are missing.
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
  const bool ok = pv.x_tilde().allFinite() && dmax <= 0.3 * 0.3 * (1 + 1e-12) && dmax > 0;
  std::cout << "eps " << EPS_VERSION_STRING << " consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
