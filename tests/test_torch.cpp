// SPDX-License-Identifier: MIT
// The LibTorch backend: the operator property harness on every operator (float64 and float32, every
// available device), autograd through the operators and the pivot against closed forms built from the
// dense float64 oracle, and the device/precision/definedness errors.
#include "torch_common.hpp"  // first: see there
#include "concepts_common.hpp"
#include "operator_harness.hpp"

// Compile-only conformance on LibTorch (tests/concepts_common.hpp): one C++ type for every dtype and device.
static_assert(eps::conformance::operators_conform<at::Tensor>());
EPS_INSTANTIATE_ALL(at::Tensor)

using namespace eps;
using namespace eps::test;
using doctest::Contains;
using T = at::Tensor;

TEST_CASE("torch: operator property harness on every operator (float64, float32; every device)") {
  for (const TorchCfg& cfg : torch_configs()) {
    CAPTURE(cfg.name());
    libtorch::Generator gen(2);
    const T like = cfg.like();
    for_each_operator<T>([&](const auto& A) { check_operator<T>(A, cfg.tol, gen, like); }, 7, like);
  }
}

namespace {
/// A float64 tensor with autograd on, from a dense (numel × batch) matrix.
T leaf(const T& like, const Mat& m, const Shape& shape) {
  return reference::from_matrix(like, m, shape).requires_grad_(true);
}
/// The gradient of ⟨f, v⟩ with respect to x (one reverse pass), as a dense matrix.
Mat vjp(const T& f, const T& v, const T& x) {
  const auto g = torch::autograd::grad({(f * v).sum()}, {x}, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
  return g[0].defined() ? reference::to_matrix(g[0]) : Mat::Zero(eps::sample_numel(x), eps::batch(x));
}
/// f(A, like, gen) for every operator of the zoo, in float64 on every test device.
template <class F>
void for_each_operator_f64(std::uint64_t seed, F f) {
  for (const at::Device& dev : test_devices()) {
    CAPTURE(dev.str());
    const T like = libtorch::like(at::kDouble, dev);
    std::mt19937_64 gen(seed);
    for_each_operator<T>(
        [&](const auto& A) {
          CAPTURE(A.name());
          f(A, like, gen);
        },
        7, like);
  }
}
}  // namespace

TEST_CASE("torch: autograd through every operator gives the adjoint (VJP of A x equals A^T v)") {
  for_each_operator_f64(4, [](const auto& A, const T& like, std::mt19937_64& gen) {
    const Mat a = reference::to_dense(A, like);
    const Mat xm = randn_mat(a.cols(), 2, gen), vm = randn_mat(a.rows(), 2, gen);
    const T x = leaf(like, xm, A.in_shape());
    const T v = reference::from_matrix(like, vm, A.out_shape());
    CHECK(rel_error(vjp(A.apply(x), v, x), Mat(a.transpose() * vm)) <= 1e-12);
    const T w = leaf(like, vm, A.out_shape());
    CHECK(rel_error(vjp(A.apply_adjoint(w), x.detach(), w), Mat(a * xm)) <= 1e-12);
  });
}

// The pivot is affine in (x_t, y): x̃ = (Σ̃/σ²) x_t + (Σ̃ Aᵀ/(α σ_y²)) y (docs/math.md §2, Eq. of x̃ = α μ*),
// so its vector-Jacobian products are closed-form: vᵀ ∂x̃/∂x_t = Σ̃ v/σ² and vᵀ ∂x̃/∂y = A Σ̃ v/(α σ_y²),
// with Σ̃ from the dense precision form. At σ_y = 0: x̃ = P_N(A) x_t + α A† y (docs/math.md §3 table), so the
// products are P_N v and α (A†)ᵀ v, from Eigen's SVD pseudo-inverse. Spectral operators (the
// conjugate-gradient path is not differentiable exactly: its step sizes are host scalars).
TEST_CASE("torch: vector-Jacobian products through the pivot equal their closed forms") {
  for_each_operator_f64(5, [](const auto& A, const T& like, std::mt19937_64& gen) {
    if constexpr (SpectralOperator<std::decay_t<decltype(A)>>) {
      const Mat a = reference::to_dense(A, like);
      const Eigen::Index d = a.cols(), m = a.rows();
      const Mat xm = randn_mat(d, 2, gen), ym = randn_mat(m, 2, gen), vm = randn_mat(d, 2, gen);
      for (double sy : {0.1, 0.0}) {
        CAPTURE(sy);
        const double al = 0.8, s = 0.6;
        const T x = leaf(like, xm, A.in_shape()), y = leaf(like, ym, A.out_shape());
        const T v = reference::from_matrix(like, vm, A.in_shape());
        const auto pv = pivot(A, x, y, NoiseLevels{al, s, sy});
        Mat jx, jy;
        if (sy > 0) {
          const Mat st = reference::precision_form(a, xm.col(0), ym.col(0), al, s, sy).sigma_tilde;
          jx = st * vm / (s * s);
          jy = a * st * vm / (al * sy * sy);
        } else {
          const Mat pa = reference::pinv(a, 1e-9);
          jx = vm - pa * (a * vm);
          jy = al * pa.transpose() * vm;
        }
        // Relative to ‖J v‖ + ‖v‖: at σ_y = 0, P_N v is exactly 0 for operators without null space.
        const auto close = [&](const Mat& g, const Mat& j) { return (g - j).norm() <= 1e-10 * (j.norm() + vm.norm()); };
        CHECK(close(vjp(pv.x_tilde(), v, x), jx));
        CHECK(close(vjp(pv.x_tilde(), v, y), jy));
        CHECK(close(vjp(pv.mu_star(), v, x), Mat(jx / al)));  // μ* = x̃/α
      }
    }
  });
}

TEST_CASE("torch: tensors on different devices, of different precisions, or undefined, are errors") {
  const T a = libtorch::like(at::kDouble).new_ones({2, 3});
  const T meta = at::ones({2, 3}, at::TensorOptions().dtype(at::kDouble).device(at::kMeta));
  CHECK_THROWS_WITH_AS(eps::add(a, meta), Contains("operands are on different devices (cpu and meta)"), device_error);
  CHECK_THROWS_WITH_AS(eps::mul(a, a.to(at::kFloat)), Contains("different precisions (Double and Float)"), value_error);
  CHECK_THROWS_WITH_AS(eps::add(a, T{}), Contains("undefined tensor"), value_error);
  CHECK_THROWS_WITH_AS(eps::zeros(T{}, 1, Shape{3}), Contains("use eps::libtorch::like(dtype, device)"), value_error);
  CHECK_THROWS_WITH_AS(eps::zeros(a.to(at::kInt), 1, Shape{3}), Contains("dtype Int is not supported"), value_error);
  CHECK_THROWS_WITH_AS(eps::add(a, a.new_ones({2, 2})), Contains("cannot broadcast sample shapes [3] and [2]"),
                       shape_error);
  CHECK_THROWS_WITH_AS(eps::add(a, a.new_ones({3, 3})), Contains("cannot broadcast batch extents 2 and 3"),
                       shape_error);
  CHECK_THROWS_WITH_AS(eps::fft2(a, ImageShape{1, 1, 3}), Contains("expected a complex tensor"), value_error);
  const Mask<T> A(libtorch::like(at::kDouble), std::vector<double>{1, 0, 1}, Shape{3});
  // The meta device stands in for a second device (CI has no GPU); it cannot compute, so the finiteness
  // check (which reduces y on its own device) is switched off to reach the first operation mixing devices.
  PivotOptions no_check;
  no_check.check_finite = false;
  CHECK_THROWS_WITH_AS(pivot(A, a, meta, NoiseLevels{1, 1, 0.1}, no_check), Contains("different devices"),
                       device_error);
  CHECK_THROWS_WITH_AS(pivot(A, a.reshape({2, 3, 1}), a, NoiseLevels{1, 1, 0.1}),
                       Contains("has sample shape [3,1], expected [3]"), shape_error);
}

TEST_CASE("torch: broadcasting follows the eps rules (batch 1 against B, per-sample scalars against samples)") {
  const T like = libtorch::like(at::kDouble);
  const T a = eps::from_host(like, std::vector<double>{1, 2, 3, 4, 5, 6}, 2, Shape{1, 3});
  const T one = eps::from_host(like, std::vector<double>{10, 20, 30}, 1, Shape{1, 3});
  const T per = eps::batch_scalars(libtorch::like(at::kDouble), BatchValues{2.0, -1.0});  // rank 1: {2}
  CHECK((eps::to_host(eps::add(a, one)) == std::vector<double>{11, 22, 33, 14, 25, 36}));
  CHECK((eps::to_host(eps::mul(a, per)) == std::vector<double>{2, 4, 6, -4, -5, -6}));
  CHECK((eps::sample_shape(eps::mul(per, a)) == Shape{1, 3}));
  CHECK((eps::dot_batch(a, a) == std::vector<double>{14, 77}));
  const T c = eps::to_complex(a);
  CHECK((eps::to_host(eps::real(eps::mul(c, per))) == std::vector<double>{2, 4, 6, -4, -5, -6}));
  CHECK((eps::to_host(eps::imag(c)) == std::vector<double>(6, 0.0)));
}

TEST_CASE("torch: the generator is reproducible per seed and draws standard normals") {
  const T like = libtorch::like(at::kDouble);
  libtorch::Generator g1(9), g2(9), g3(10);
  const auto a = eps::to_host(eps::randn(like, 4, Shape{5000}, g1));
  CHECK(a == eps::to_host(eps::randn(like, 4, Shape{5000}, g2)));
  CHECK(a != eps::to_host(eps::randn(like, 4, Shape{5000}, g3)));
  CHECK(a != eps::to_host(eps::randn(like, 4, Shape{5000}, g1)));  // the stream advances
  double m = 0, v = 0;
  for (double x : a) m += x;
  m /= double(a.size());
  for (double x : a) v += (x - m) * (x - m);
  v /= double(a.size() - 1);
  // 20000 draws: the standard errors of the mean and variance are 0.007 and 0.01; 6 sigma bounds.
  CHECK(std::abs(m) <= 0.045);
  CHECK(std::abs(v - 1) <= 0.06);
  CHECK((eps::randn(libtorch::like(at::kFloat), 1, Shape{3}, g1).scalar_type() == at::kFloat));
}
