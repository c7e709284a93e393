// SPDX-License-Identifier: MIT
// Posterior sampling with a denoiser you supply: EPS is EDM's sampler with the posterior denoiser
// (x, t) ↦ D(pivot(x, y, t)). Here D is a Gaussian-mixture prior's exact anisotropic denoiser; with a
// trained EPS network, the lambda would call the network on pv.x_tilde() (and y).
#include <eps/analytic/gaussian_mixture.hpp>
#include <eps/backends/eigen.hpp>
#include <eps/eps.hpp>
#include <eps/samplers.hpp>
#include <iostream>

int main() {
  using T = eps::eigen::Tensor<double>;
  const eps::ImageShape img{1, 4, 4};
  std::mt19937_64 gen(1);
  const auto prior = eps::analytic::GaussianMixture({0.5, 0.5}, {T::Constant(16, 1, -1.0), T::Constant(16, 1, 1.0)},
                                                    {T::Identity(16, 16) * 0.2, T::Identity(16, 16) * 0.2});
  const eps::Mask<T> A(T{}, eps::random_mask(img, 0.5, gen), img.shape());
  const T y = A.apply(prior.sample(1, gen));  // noiseless inpainting (σ_y = 0 is exact)
  const eps::VeEdm edm;                       // α = 1, σ from 0.002 to 80
  auto D =
      eps::posterior_denoiser(edm, A, y, 0.0, [&](const eps::Pivot<eps::Mask<T>>& pv) { return prior.denoise(pv); });
  eps::EdmOptions opt;
  opt.steps = 20;
  const T xT = eps::initial_noise(edm, eps::edm_grid(edm, opt).front(), T{}, 500, img.shape(), gen);
  const auto res = eps::edm_sample(D, edm, xT, opt);
  const T mean = res.x.rowwise().mean();
  std::cout << "NFE " << res.nfe << "; posterior sample mean vs exact posterior mean: "
            << (mean - prior.posterior(T(A.apply(T::Identity(16, 16))), y, 0.0).mean()).norm()
            << " (Monte Carlo error ~ " << std::sqrt(16.0 / 500) << ")\n"
            << "observed pixels reproduced exactly: " << (A.apply(res.x).colwise() - y.col(0)).cwiseAbs().maxCoeff()
            << "\n";
}
