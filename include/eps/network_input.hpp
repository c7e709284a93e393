// SPDX-License-Identifier: MIT
/// @file network_input.hpp
/// What a conditional denoiser is fed (docs/math.md §5; docs/training.md §5): the EPS input
/// [x̃, observation image] with x̃ = α μ* the pivot of (x_t, y) computed by eps::pivot, and Palette's
/// [x_t, observation image]. Both are backend-generic: one image-shaped tensor per channel group, for the
/// network to concatenate along its channel axis.
#pragma once

#include "eps/operators/concepts.hpp"
#include "eps/posterior.hpp"

namespace eps {

/// The observation image of y (docs/math.md §5): an image-shaped view of the measurement, of A's input
/// shape. The operator's own `observation(y)` where it has one (AvgPool: nearest-neighbour upsampling;
/// ColorToGray: the grey value in every channel); otherwise, for an operator whose output has the
/// image's shape (masks, blurs, subsampled transforms), the measured part of y (`eps::measured`: masked y
/// for inpainting, the blurred y for deblurring); otherwise Aᵀy.
template <LinearOperator Op>
typename Op::tensor_type observation_image(const Op& A, const typename Op::tensor_type& y) {
  eps::check_sample(y, A.out_shape(), "eps::observation_image", "y");
  if constexpr (requires {
                  { A.observation(y) } -> std::same_as<typename Op::tensor_type>;
                }) {
    return A.observation(y);
  } else {
    if (A.in_shape() == A.out_shape()) return eps::measured(A, y);
    return A.apply_adjoint(eps::measured(A, y));
  }
}

/// A conditional network's two inputs of image shape: `image` (the pivot x̃, or x_t for Palette) and the
/// observation image. Batch sizes: `image` has x_t's, `observation` y's (1 when y is shared).
template <Tensor T>
struct ConditionalInput {
  T image;
  T observation;
};

/// The EPS network input (docs/math.md §5): x̃ = α μ* = Σ̃ (x_t/σ² + Aᵀy/(α σ_y²)) (E3), which has x_t's
/// scale (so a pretrained denoiser sees what it was trained on), and the observation image of y. Every
/// case of docs/math.md §3.2 is handled by eps::pivot (σ_y = 0, α = 0, σ = 0).
template <LinearOperator Op>
ConditionalInput<typename Op::tensor_type> eps_input(const Op& A, const typename Op::tensor_type& x_t,
                                                     const typename Op::tensor_type& y, const NoiseLevels& lv,
                                                     const PivotOptions& opt = {}) {
  return {eps::pivot(A, x_t, y, lv, opt).x_tilde(), observation_image(A, y)};
}

/// The EPS input for many network calls on one measurement (a sampling run): what depends only on the
/// operator and y — the singular values s and s², c_y = Uᴴy and the observation image — is computed once
/// here, so that each call pays only for c = Vᴴx_t, the weights of its noise levels and one V
/// (docs/evaluation.md, "Cost"). `operator()(x_t, lv)` equals eps_input(A, x_t, y, lv) with
/// check_range = false: with σ_y = 0, check y once with eps::check_measurement. `check_finite` as in
/// PivotOptions (y once, here; x_t per call).
template <SpectralOperator Op>
class EpsInputPlan {
 public:
  using T = typename Op::tensor_type;

  EpsInputPlan(Op A, T y, bool check_finite = true)
      : A_(std::move(A)),
        y_(std::move(y)),
        s_(A_.singular_values()),
        ss_(eps::mul(s_, s_)),
        cy_(A_.apply_ut(y_)),
        observation_(observation_image(A_, y_)),
        check_finite_(check_finite) {
    if (check_finite_) eps::check_finite(y_, "eps::EpsInputPlan", "y");
  }

  ConditionalInput<T> operator()(const T& x_t, const NoiseLevels& lv) const {
    constexpr const char* where = "eps::EpsInputPlan";
    eps::check_sample(x_t, A_.in_shape(), where, "x_t");
    const index_t B = eps::batch(x_t);
    EPS_CHECK(eps::batch(y_) == B || eps::batch(y_) == 1, shape_error, where, ": y has batch size ", eps::batch(y_),
              "; expected 1 or the batch size of x_t, ", B);
    lv.validate(B, where);
    if (check_finite_) eps::check_finite(x_t, where, "x_t");
    return {detail::spectral_x_tilde(A_, x_t, A_.apply_vt(x_t), cy_, s_, ss_, lv).x_tilde, observation_};
  }

  const Op& op() const { return A_; }
  const T& y() const { return y_; }
  const T& observation() const { return observation_; }

 private:
  Op A_;
  T y_;
  real_tensor_t<T> s_, ss_;
  typename Op::coef_type cy_;
  T observation_;
  bool check_finite_;
};

/// Palette's input (docs/math.md §9): x_t itself and the observation image of y.
template <LinearOperator Op>
ConditionalInput<typename Op::tensor_type> palette_input(const Op& A, const typename Op::tensor_type& x_t,
                                                         const typename Op::tensor_type& y) {
  eps::check_sample(x_t, A.in_shape(), "eps::palette_input", "x_t");
  return {x_t, observation_image(A, y)};
}

}  // namespace eps
