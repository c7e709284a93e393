// SPDX-License-Identifier: MIT
// The thin SVDs of eps/backends/svd.hpp for float and double matrices, instantiated once (library
// eps_cpu_svd, linked by eps::eigen and eps::xtensor, which declare them extern with EPS_COMPILED_SVD).
#include "eps/backends/svd.hpp"

namespace eps::detail::cpu {

template ThinSvd<Eigen::MatrixXd> thin_svd(const Eigen::MatrixXd&, bool, bool);
template ThinSvd<Eigen::MatrixXf> thin_svd(const Eigen::MatrixXf&, bool, bool);

}  // namespace eps::detail::cpu
