// SPDX-License-Identifier: MIT
// The README's example: the exact posterior score for a blurred, noisy measurement, with a Gaussian
// prior as the (exact) denoiser. Build: part of the default build (examples/quickstart).
#include <eps/analytic/gaussian_mixture.hpp>
#include <eps/backends/eigen.hpp>
#include <eps/eps.hpp>
#include <iostream>

int main() {
  using T = eps::eigen::Tensor<double>;  // one sample per column
  const eps::ImageShape img{1, 8, 8};
  std::mt19937_64 gen(0);
  const eps::Blur<T> A(T{}, img, eps::gaussian_kernel(5, 1.0));  // y = k ⊛ x0 + σ_y n
  const auto prior = eps::analytic::GaussianMixture::gaussian(T::Zero(64, 1), T::Identity(64, 64));
  const T x0 = prior.sample(1, gen), y = A.apply(x0) + 0.05 * eps::randn(T{}, 1, img.shape(), gen);
  const eps::Linear sched;  // x_t = (1 − t) x0 + t ε
  const double t = 0.5;
  const T x_t = 0.5 * x0 + 0.5 * eps::randn(T{}, 1, img.shape(), gen);
  const auto pv = eps::pivot(sched, A, x_t, y, t, /*sigma_y=*/0.05);          // μ*, Σ* (E2) and x̃, Σ̃ (E3)
  const T score = eps::posterior_score(prior.denoise(pv), x_t, pv.levels());  // (E1), exact
  std::cout << "|score| = " << score.norm() << ", per-pixel noise of the pivot: min " << pv.noise_map().minCoeff()
            << ", max " << pv.noise_map().maxCoeff() << " (relative to sigma_t)\n";
}
