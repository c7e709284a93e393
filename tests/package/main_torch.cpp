// A consumer of eps::torch: the pivot of a blurred measurement with LibTorch tensors (float64, CPU),
// checked against the Eigen-free identity 0 < diag Σ̃ ≤ σ² (E3), so that the packaging test fails if the
// LibTorch component's headers, targets or link flags are missing.
#include <eps/backends/torch.hpp>
#include <eps/eps.hpp>
#include <iostream>

int main() {
  using T = at::Tensor;
  const T like = eps::libtorch::like(at::kDouble);
  const eps::ImageShape g{1, 8, 8};
  eps::libtorch::Generator gen(1);
  const eps::Blur<T> A(like, g, eps::gaussian_kernel(3, 0.8));
  const T x0 = eps::randn(like, 2, g.shape(), gen);
  const auto pv = eps::pivot(eps::Linear{}, A, x0, A.apply(x0), 0.3, 0.05);
  const double dmax = pv.covariance().diagonal().max().item<double>();
  const bool ok = eps::all_finite(pv.x_tilde()) && dmax <= 0.3 * 0.3 * (1 + 1e-12) && dmax > 0;
  std::cout << "eps " << EPS_VERSION_STRING << " torch consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
