// SPDX-License-Identifier: MIT
// docs/math.md §8.6 (schedules): derivatives against finite differences, endpoint values, log-SNR inversion,
// EDM's grid; and the prediction conversions' round trips.
#include "common.hpp"

using namespace eps;
using namespace eps::test;
using T = EigenF64::T;

TEST_CASE("schedules: derivatives against central finite differences") {
  // h = 1e-6: truncation O(h²) and round-off O(ε/h) give ~1e-9 absolute; bound 1e-7 relative.
  for (const AnySchedule& s : all_schedules())
    for (double t : {0.01, 0.1, 0.37, 0.5, 0.81, 0.99}) {
      CAPTURE(s.name());
      CAPTURE(t);
      const double h = 1e-6;
      const double da = (s.alpha(t + h) - s.alpha(t - h)) / (2 * h), ds = (s.sigma(t + h) - s.sigma(t - h)) / (2 * h);
      CHECK(std::abs(da - s.alpha_dot(t)) <= 1e-7 * std::max(1.0, std::abs(da)));
      CHECK(std::abs(ds - s.sigma_dot(t)) <= 1e-7 * std::max(1.0, std::abs(ds)));
    }
}

TEST_CASE("schedules: closed forms and endpoints of docs/math.md section 1") {
  const Linear lin;
  const Trigonometric tri;
  const VpCosine vc;
  const VpLinear vl;
  const VeEdm ve;
  const VeGeometric vg;
  CHECK(lin.alpha(1) == 0.0);
  CHECK(tri.alpha(1) == 0.0);
  CHECK(vc.alpha(1) == 0.0);
  for (double t : {0.0, 0.2, 0.6, 1.0}) {
    CHECK(tri.alpha(t) * tri.alpha(t) + tri.sigma(t) * tri.sigma(t) == doctest::Approx(1).epsilon(1e-15));
    CHECK(vc.alpha(t) * vc.alpha(t) + vc.sigma(t) * vc.sigma(t) == doctest::Approx(1).epsilon(1e-14));
    CHECK(vl.alpha(t) * vl.alpha(t) + vl.sigma(t) * vl.sigma(t) == doctest::Approx(1).epsilon(1e-14));
    // ᾱ(t) = cos²(((t+s)/(1+s))π/2)/cos²((s/(1+s))π/2)
    const double s = 0.008, ab = std::pow(std::cos((t + s) / (1 + s) * std::numbers::pi / 2), 2) /
                                 std::pow(std::cos(s / (1 + s) * std::numbers::pi / 2), 2);
    CHECK(vc.alpha(t) * vc.alpha(t) == doctest::Approx(ab).epsilon(1e-12));
    CHECK(vl.alpha(t) == doctest::Approx(std::exp(-0.5 * (0.1 * t + 0.5 * 19.9 * t * t))).epsilon(1e-15));
  }
  for (const auto* n : {"linear", "trigonometric", "vp_cosine", "vp_linear"}) CHECK(make_schedule(n).sigma(0) == 0.0);
  CHECK(vc.sigma(1e-9) > 0);  // no cancellation to 0 near t = 0
  CHECK(vc.sigma(1e-9) == doctest::Approx(std::sqrt(2 * vc.alpha_dot(0) * -1e-9)).epsilon(1e-5));
  CHECK(ve.sigma(0) == 0.002);
  CHECK(ve.sigma(1) == doctest::Approx(80));
  CHECK(vg.sigma(1) == doctest::Approx(80).epsilon(1e-14));
  CHECK(std::isinf(vl.sigma_dot(0)));
}

TEST_CASE("schedules: log-SNR inversion and EDM's grid") {
  for (const AnySchedule& s : all_schedules())
    for (double t : {0.02, 0.3, 0.5, 0.97}) {
      CAPTURE(s.name());
      CHECK(time_from_log_snr(s, log_snr(s, t)) == doctest::Approx(t).epsilon(1e-12));
      CHECK(time_from_noise_ratio(s, noise_ratio(s, t)) == doctest::Approx(t).epsilon(1e-12));
    }
  const auto sig = edm_sigmas(18, 0.002, 80, 7);
  REQUIRE(sig.size() == 19);
  CHECK(sig[0] == doctest::Approx(80).epsilon(1e-14));
  CHECK(sig[17] == doctest::Approx(0.002).epsilon(1e-14));
  CHECK(sig[18] == 0.0);
  for (int i = 0; i < 18; ++i) {
    const double r = std::pow(std::pow(80, 1 / 7.0) + i / 17.0 * (std::pow(0.002, 1 / 7.0) - std::pow(80, 1 / 7.0)), 7);
    CHECK(sig[static_cast<std::size_t>(i)] == doctest::Approx(r).epsilon(1e-14));
    CHECK(sig[static_cast<std::size_t>(i)] > sig[static_cast<std::size_t>(i) + 1]);
  }
  const VeEdm ve;
  const auto ts = edm_times(ve, 18);
  for (int i = 0; i < 18; ++i)
    CHECK(ve.sigma(ts[static_cast<std::size_t>(i)]) ==
          doctest::Approx(sig[static_cast<std::size_t>(i)]).epsilon(1e-10));
  CHECK(ts.back() == 0.0);
  const Linear lin;
  const auto tl = edm_times(lin, 10);
  CHECK(noise_ratio(lin, tl[0]) == doctest::Approx(80).epsilon(1e-10));
}

TEST_CASE("parametrization: round trips between x0, epsilon, score and velocity for every schedule") {
  std::mt19937_64 gen(21);
  const std::vector<Prediction> kinds{Prediction::x0, Prediction::epsilon, Prediction::score, Prediction::velocity};
  for (const AnySchedule& s : all_schedules())
    for (double t : {0.1, 0.5, 0.9}) {
      CAPTURE(s.name());
      CAPTURE(t);
      const Coefficients c = coefficients(s, t);
      const BatchCoefficients bc{c.alpha, c.sigma, c.alpha_dot, c.sigma_dot};
      const T x0 = randn(T{}, 2, {5}, gen), e = randn(T{}, 2, {5}, gen);
      const T x_t = axpby(c.alpha, x0, c.sigma, e);
      // With x̂0 = x0 exactly, ε̂ = ε, score = −ε/σ, v = α' x0 + σ' ε (docs/math.md §1).
      CHECK(rel_error(epsilon_from_x0(x0, x_t, c.alpha, c.sigma), e) <= 1e-12);
      CHECK(rel_error(score_from_x0(x0, x_t, c.alpha, c.sigma), T(-e / c.sigma)) <= 1e-12);
      CHECK(rel_error(velocity_from_x0(x0, x_t, bc), axpby(c.alpha_dot, x0, c.sigma_dot, e)) <= 1e-12);
      for (Prediction from : kinds)
        for (Prediction to : kinds) {
          CAPTURE(to_string(from));
          CAPTURE(to_string(to));
          const T v = from_x0(from, x0, x_t, bc);
          CHECK(rel_error(convert(to, from, convert(from, to, v, x_t, bc), x_t, bc), v) <= 1e-10);
          CHECK(rel_error(convert(from, to, v, x_t, bc), from_x0(to, x0, x_t, bc)) <= 1e-10);
        }
    }
}

TEST_CASE("parametrization: per-sample coefficients and undefined conversions") {
  const T x0 = T::Ones(3, 2), x_t = 2 * T::Ones(3, 2);
  const T e = epsilon_from_x0(x0, x_t, BatchValues{1.0, 0.5}, BatchValues{1.0, 2.0});
  CHECK(e(0, 0) == doctest::Approx(1.0));
  CHECK(e(0, 1) == doctest::Approx(0.75));
  CHECK_THROWS_AS(epsilon_from_x0(x0, x_t, 1.0, 0.0), domain_error);
  CHECK_THROWS_AS(x0_from_epsilon(x0, x_t, 0.0, 1.0), domain_error);
  CHECK_THROWS_WITH_AS(x0_from_score(x0, x_t, BatchValues{1.0, 0.0}, 1.0), doctest::Contains("alpha is 0"),
                       domain_error);
  CHECK_THROWS_AS(x0_from_velocity(x0, x_t, BatchCoefficients{1.0, 1.0, 0.0, 0.0}), domain_error);
}
