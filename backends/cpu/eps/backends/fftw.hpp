// SPDX-License-Identifier: MIT
/// @file fftw.hpp
/// Unitary 2-D FFTs through FFTW 3 for CPU backends (Eigen, xtensor): plans are created once per
/// (precision, direction, H, W, count, in place or not) under a mutex, cached, and executed with FFTW's
/// new-array interface, which is thread-safe. Plans are made with FFTW_ESTIMATE | FFTW_UNALIGNED so that
/// they apply to any buffer (no planning-time measurement, no alignment requirement on Eigen storage);
/// an in-place plan serves only in-place calls and an out-of-place plan only out-of-place ones, as FFTW
/// requires. The cache destroys its plans at exit and then calls fftw_cleanup() for its precision, so a
/// leak checker sees nothing of FFTW (a program that keeps its own FFTW plans past exit must not rely on
/// them then).
#pragma once

#include <fftw3.h>

#include <cmath>
#include <complex>
#include <cstddef>
#include <map>
#include <mutex>
#include <tuple>

#include "eps/error.hpp"

namespace eps::detail::fftw {

template <class Real>
struct api;

template <>
struct api<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static plan make(int h, int w, int count, complex* in, complex* out, int sign) {
    int n[2] = {h, w};
    return fftw_plan_many_dft(2, n, count, in, nullptr, 1, h * w, out, nullptr, 1, h * w, sign,
                              FFTW_ESTIMATE | FFTW_UNALIGNED);
  }
  static void execute(plan p, complex* in, complex* out) { fftw_execute_dft(p, in, out); }
  static void destroy(plan p) { fftw_destroy_plan(p); }
  static void cleanup() { fftw_cleanup(); }
};

template <>
struct api<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static plan make(int h, int w, int count, complex* in, complex* out, int sign) {
    int n[2] = {h, w};
    return fftwf_plan_many_dft(2, n, count, in, nullptr, 1, h * w, out, nullptr, 1, h * w, sign,
                               FFTW_ESTIMATE | FFTW_UNALIGNED);
  }
  static void execute(plan p, complex* in, complex* out) { fftwf_execute_dft(p, in, out); }
  static void destroy(plan p) { fftwf_destroy_plan(p); }
  static void cleanup() { fftwf_cleanup(); }
};

/// Process-wide plan cache; plans live until exit.
template <class Real>
class PlanCache {
 public:
  using plan = typename api<Real>::plan;
  using complex = typename api<Real>::complex;

  static PlanCache& instance() {
    static PlanCache cache;
    return cache;
  }

  PlanCache() = default;
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;
  ~PlanCache() {
    for (auto& [key, p] : plans_) api<Real>::destroy(p);
    api<Real>::cleanup();
  }

  /// A plan for `count` contiguous h × w transforms, in place when in == out; `in`/`out` are only used
  /// for planning (FFTW_ESTIMATE does not touch them).
  plan get(int h, int w, int count, int sign, complex* in, complex* out) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_tuple(h, w, count, sign, in == out);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    plan p = api<Real>::make(h, w, count, in, out, sign);
    EPS_CHECK(p != nullptr, backend_error, "eps::detail::fftw::PlanCache::get: FFTW could not create a plan for ",
              count, " transforms of ", h, "x", w);
    plans_.emplace(key, p);
    return p;
  }

 private:
  std::mutex mutex_;
  std::map<std::tuple<int, int, int, int, bool>, plan> plans_;
};

/// Unitary 2-D DFT (sign = FFTW_FORWARD or FFTW_BACKWARD) of `count` contiguous h × w complex images,
/// from `in` to `out` (`out == in` for in place; partial overlap is not allowed). Both directions scale
/// by 1/√(hw).
template <class Real>
void unitary_dft2(const std::complex<Real>* in, std::complex<Real>* out, std::ptrdiff_t h, std::ptrdiff_t w,
                  std::ptrdiff_t count, int sign) {
  if (count == 0 || h * w == 0) return;
  using complex = typename api<Real>::complex;
  auto* i = reinterpret_cast<complex*>(const_cast<std::complex<Real>*>(in));
  auto* o = reinterpret_cast<complex*>(out);
  auto p =
      PlanCache<Real>::instance().get(static_cast<int>(h), static_cast<int>(w), static_cast<int>(count), sign, i, o);
  api<Real>::execute(p, i, o);
  const Real s = Real(1) / std::sqrt(static_cast<Real>(h * w));
  for (std::ptrdiff_t k = 0; k < h * w * count; ++k) out[k] *= s;
}

}  // namespace eps::detail::fftw
