// SPDX-License-Identifier: MIT
// Compile-only conformance (docs/testing.md): each operator satisfies exactly the concepts it claims, and
// every operator and algorithm template is instantiated explicitly on a backend, so that a template that
// cannot compile fails the build instead of waiting for a user. Included once per backend with EPS_T set.
#pragma once

#include <functional>
#include <vector>

#include "eps/eps.hpp"

namespace eps::conformance {

/// The positive and negative concept checks for a real tensor family T.
template <class T>
constexpr bool operators_conform() {
  // Every operator is a LinearOperator.
  static_assert(LinearOperator<Identity<T>> && LinearOperator<Mask<T>> && LinearOperator<AvgPool<T>> &&
                LinearOperator<ColorToGray<T>> && LinearOperator<Blur<T>> && LinearOperator<Dense<T>> &&
                LinearOperator<SubsampledHartley<T>> && LinearOperator<Compose<Blur<T>, Mask<T>>> &&
                LinearOperator<MatrixFree<Mask<T>>>);
  // The factorised ones are SpectralOperators ...
  static_assert(SpectralOperator<Identity<T>> && SpectralOperator<Mask<T>> && SpectralOperator<AvgPool<T>> &&
                SpectralOperator<ColorToGray<T>> && SpectralOperator<Blur<T>> && SpectralOperator<Dense<T>> &&
                SpectralOperator<SubsampledHartley<T>>);
  // ... and the compositions and matrix-free views are not (they take the conjugate-gradient path).
  static_assert(!SpectralOperator<Compose<Blur<T>, Mask<T>>> && !SpectralOperator<MatrixFree<Mask<T>>> &&
                !SpectralOperator<MatrixFree<Dense<T>>>);
  // Real coefficients (DDRM, the isotropic-mixture denoiser) except for the Fourier-diagonalised operators,
  // whose coefficients are complex.
  static_assert(std::same_as<typename Mask<T>::coef_type, T> && std::same_as<typename Dense<T>::coef_type, T> &&
                std::same_as<typename Blur<T>::coef_type, complex_tensor_t<T>> &&
                std::same_as<typename SubsampledHartley<T>::coef_type, complex_tensor_t<T>>);
  // A schedule is not an operator, an operator not a schedule, a schedule not a denoiser (an Eigen matrix,
  // with its indexed views m(rows, cols), would pass for one syntactically).
  static_assert(Schedule<Linear> && Schedule<VeEdm> && Schedule<AnySchedule> && !Schedule<Mask<T>> &&
                !LinearOperator<VeEdm> && !LinearOperator<T> && !Denoiser<VeEdm, T> && !Denoiser<Mask<T>, T>);
  return true;
}

/// A differentiable denoiser that is the identity (for instantiating the samplers and baselines).
template <class T>
struct IdentityDenoiser {
  T operator()(const T& x, double) const { return x; }
  T vjp(const T&, double, const T& v) const { return v; }
};

/// Calls every sampler and baseline, so that an explicit instantiation of this function template
/// instantiates them all for T (it is compiled, never run).
template <class T>
void use_every_algorithm(const T& like, generator_t<T>& gen) {
  const ImageShape g{1, 4, 4};
  const VeEdm s;
  IdentityDenoiser<T> D;
  const Mask<T> mask(like, std::vector<double>(16, 1.0), g.shape());
  const Blur<T> blur(like, g, gaussian_kernel(3, 1.0));
  const Dense<T> dense(like, std::vector<double>(32, 0.1), 2, g.shape());
  const T x = eps::zeros(like, 1, g.shape()), y = x, yd = eps::zeros(like, 1, Shape{2});
  const EdmOptions o;
  const std::vector<double> ts{1.0, 0.5, 0.1};
  edm_sample(D, s, x, o);
  ode_sample(D, s, x, ts, OdeMethod::heun);
  ddim_sample(D, s, x, ts, 0.5, gen);
  euler_maruyama_sample(D, s, x, ts, gen);
  one_step_posterior_mean(D, s, x, o);
  initial_noise(s, 0.5, like, 1, g.shape(), gen);
  edm_sample(posterior_denoiser(s, blur, y, 0.1, [](const Pivot<Blur<T>>& pv) { return pv.x_tilde(); }), s, x, o);
  dps_sample(D, s, dense, yd, x, o);
  edm_sample(pigdm_denoiser(D, s, blur, y, 0.1), s, x, o);
  edm_sample(ddnm_denoiser(D, mask, y), s, x, o);
  edm_sample(ddnm_denoiser(std::ref(D), compose(blur, mask), y, 0.0), s, x, o);
  ddnm_plus_sample(D, s, blur, y, 0.1, x, gen, o);
  edm_ddim_sample(D, s, x, 1.0, gen, o);
  mpgd_sample(D, s, mask, y, x, gen, o);
  daps_sample(D, s, matrix_free(mask), y, x, gen);
  daps_sample(D, s, blur, y, x, gen, DapsOptions{.exact = true});
  ddrm_sample(D, s, dense, yd, 0.1, x, gen, o);
  edm_sample(zero_shot_denoiser(D, s, matrix_free(mask), y, 0.1), s, x, o);
  edm_sample(equivalent_time_denoiser(D, s, mask, y, 0.1), s, x, o);
  pivot(s, mask, x, y, 0.5, 0.1).noise_map();
  pivot(s, dense, x, yd, 0.5, 0.1).covariance().sample(x, gen);
}

}  // namespace eps::conformance

/// Explicit instantiation of every operator class and every algorithm template for tensor type T
/// (a macro, since explicit instantiations must be at namespace scope with the type spelled out).
#define EPS_INSTANTIATE_ALL(T)                                                                                    \
  template class eps::Identity<T>;                                                                                \
  template class eps::Mask<T>;                                                                                    \
  template class eps::AvgPool<T>;                                                                                 \
  template class eps::ColorToGray<T>;                                                                             \
  template class eps::Blur<T>;                                                                                    \
  template class eps::Dense<T>;                                                                                   \
  template class eps::SubsampledHartley<T>;                                                                       \
  template class eps::Compose<eps::Blur<T>, eps::Mask<T>>;                                                        \
  template class eps::MatrixFree<eps::Mask<T>>;                                                                   \
  template class eps::Pivot<eps::Mask<T>>;                                                                        \
  template class eps::Pivot<eps::Dense<T>>;                                                                       \
  template class eps::Pivot<eps::Blur<T>>;                                                                        \
  template class eps::Pivot<eps::Compose<eps::Blur<T>, eps::Mask<T>>>;                                            \
  template class eps::PosteriorCovariance<eps::AvgPool<T>>;                                                       \
  template class eps::PosteriorCovariance<eps::MatrixFree<eps::Mask<T>>>;                                         \
  template eps::Pivot<eps::SubsampledHartley<T>> eps::pivot(const eps::SubsampledHartley<T>&, const T&, const T&, \
                                                            const eps::NoiseLevels&, const eps::PivotOptions&);   \
  template eps::Pivot<eps::ColorToGray<T>> eps::pivot(const eps::ColorToGray<T>&, const T&, const T&,             \
                                                      const eps::NoiseLevels&, const eps::PivotOptions&);         \
  template T eps::pinv_apply(const eps::Dense<T>&, const T&, const eps::CgOptions&);                              \
  template T eps::pinv_apply(const eps::MatrixFree<eps::Dense<T>>&, const T&, const eps::CgOptions&);             \
  template T eps::null_project(const eps::Blur<T>&, const T&, const eps::CgOptions&);                             \
  template T eps::high_noise_limit(const eps::Compose<eps::Blur<T>, eps::Mask<T>>&, const T&, const T&, double,   \
                                   const eps::CgOptions&);                                                        \
  template void eps::check_measurement(const eps::Compose<eps::Blur<T>, eps::Mask<T>>&, const T&,                 \
                                       const eps::BatchValues&, double, const eps::CgOptions&, const char*);      \
  template eps::index_t eps::numerical_rank(const eps::Blur<T>&, eps::index_t);                                   \
  template double eps::gram_scale(const eps::Dense<T>&, double);                                                  \
  template void eps::conformance::use_every_algorithm<T>(const T&, eps::generator_t<T>&);
