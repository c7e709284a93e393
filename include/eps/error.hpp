// SPDX-License-Identifier: MIT
/// @file error.hpp
/// The exceptions eps throws, and the checking macros that raise them.
///
/// Every message starts with the name of the function that rejected its input, names the argument,
/// says what was expected and what was received: "eps::pivot: sigma_y must be finite and >= 0, got -0.1".
#pragma once

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace eps {

/// A tensor has the wrong shape, batch size or number of elements for the call.
class shape_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A scalar or tensor argument has a value outside its domain: a negative or NaN noise level, a time
/// outside the schedule's range, a non-finite input tensor, an unknown name.
class value_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Tensors that must live on the same device (or have the same floating-point precision) do not.
/// eps never copies between devices behind the caller's back (LibTorch backend).
class device_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The requested quantity does not exist at this point (for example x0 from ε at α = 0).
class domain_error : public std::domain_error {
 public:
  using std::domain_error::domain_error;
};

/// An iterative solver (conjugate gradients, Lanczos) did not reach its tolerance within its cap.
class convergence_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A backend library (FFTW, Eigen's SVD, LibTorch) failed at a task it was given valid input for.
class backend_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A collective of a data-parallel job failed: a peer process died or did not answer in time.
class distributed_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file could not be read or written, or its content is malformed.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Concatenates its arguments with operator<< (full double precision).
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  os.precision(17);
  (os << ... << args);
  return os.str();
}

template <class E, class... Args>
[[noreturn]] void raise(const Args&... args) {
  throw E(concat(args...));
}

/// Throws value_error unless `v` is finite and >= 0.
inline void require_nonnegative(double v, const char* where, const char* name) {
  if (!std::isfinite(v) || v < 0.0) raise<value_error>(where, ": ", name, " must be finite and >= 0, got ", v);
}

/// Throws value_error unless `v` is finite.
inline void require_finite(double v, const char* where, const char* name) {
  if (!std::isfinite(v)) raise<value_error>(where, ": ", name, " must be finite, got ", v);
}

}  // namespace detail
}  // namespace eps

/// Throws `exc` with the concatenated message unless `cond` holds.
#define EPS_CHECK(cond, exc, ...)                        \
  do {                                                   \
    if (!(cond)) ::eps::detail::raise<exc>(__VA_ARGS__); \
  } while (false)
