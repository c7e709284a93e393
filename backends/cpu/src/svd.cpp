// SPDX-License-Identifier: MIT
// The thin SVD of eps/backends/svd.hpp for double matrices (float ones are factorised in double),
// instantiated once (library eps_cpu_svd, linked by eps::eigen and eps::xtensor, which declare it extern
// with EPS_COMPILED_SVD).
#include "eps/backends/svd.hpp"

namespace eps::detail::cpu {

template ThinSvd<Eigen::MatrixXd> thin_svd(const Eigen::MatrixXd&, bool, bool);

}  // namespace eps::detail::cpu
