// SPDX-License-Identifier: MIT
/// @file torch.hpp
/// LibTorch backend: `at::Tensor` (= `torch::Tensor`), a batch B × (sample shape), typically B × C × H × W
/// images or B × d vectors. One C++ type for the whole family: float32/float64 and their complex
/// counterparts are decided at run time by the tensors' dtype, and every operation runs on the device of
/// its operands (CPU or CUDA). Rules of this adapter, on top of docs/backends.md:
///  - `like` arguments give dtype and device: `zeros`, `from_host`, `randn` create there. Use
///    `eps::libtorch::like(dtype, device)` for a like-tensor without data.
///  - Operands of a binary operation must be on the same device and of the same precision (complex64
///    goes with float32, complex128 with float64): anything else is an `eps::device_error` or
///    `eps::value_error` naming both. Nothing is copied between devices except by `to_host`/`from_host`.
///  - Differentiable: every operation is an ATen operation on the inputs (no in-place writes, no host
///    round trips), so autograd flows through the operators and the spectral pivot. Host reductions
///    (`dot_batch`, `max_abs`, `all_finite`) detach; the conjugate-gradient path therefore differentiates
///    with its step sizes held fixed, which is not the derivative of the solve (use the spectral path).
/// Includes only ATen (the lightest LibTorch header that has everything used here).
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "eps/backend.hpp"
#include "eps/error.hpp"

namespace eps {
namespace libtorch {

/// A like-tensor without data (shape {0}): carries a floating dtype (float32, float64 or their complex
/// types) and a device for the `like` arguments of eps (operator constructors, zeros, randn).
inline at::Tensor like(at::ScalarType dtype = at::kDouble, at::Device device = at::kCPU) {
  return at::empty({0}, at::TensorOptions().dtype(dtype).device(device));
}

/// The random source of the LibTorch family: one `at::Generator` per device, each seeded with the same
/// seed on first use (CPU: a fresh CPU generator; CUDA: a clone of the device's default generator,
/// reseeded), so draws are reproducible per device. Not thread-safe, like std::mt19937_64.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  /// The generator of `device`, created on first use.
  at::Generator& on(const at::Device& device) {
    for (auto& [d, g] : gens_)
      if (d == device) return g;
    at::Generator g =
        device.is_cpu() ? at::detail::createCPUGenerator(seed_) : at::globalContext().defaultGenerator(device).clone();
    g.set_current_seed(seed_);
    gens_.emplace_back(device, std::move(g));
    return gens_.back().second;
  }

 private:
  std::uint64_t seed_;
  std::vector<std::pair<at::Device, at::Generator>> gens_;
};

}  // namespace libtorch

namespace detail::libtorch {

using Sizes = std::vector<std::int64_t>;

/// The sizes of a tensor, formatted as eps formats shapes ("[2,3,4]").
inline std::string sizes_str(at::IntArrayRef s) { return eps::to_string(std::span<const index_t>(s.data(), s.size())); }

/// Throws unless x is a defined tensor.
inline const at::Tensor& defined(const at::Tensor& x, const char* what) {
  EPS_CHECK(x.defined(), value_error, "eps::", what,
            " (LibTorch backend): undefined tensor (a default-constructed torch::Tensor; use "
            "eps::libtorch::like(dtype, device))");
  return x;
}

/// Throws unless x is a defined tensor with a batch axis.
inline const at::Tensor& batched(const at::Tensor& x, const char* what) {
  defined(x, what);
  EPS_CHECK(x.dim() >= 1, shape_error, "eps::", what,
            " (LibTorch backend): a 0-dimensional tensor has no batch axis; expected B x ...");
  return x;
}

/// The real floating dtype of x's family (float32 for float32/complex64, float64 for float64/complex128).
inline at::ScalarType real_dtype(const at::Tensor& x, const char* what) {
  const at::ScalarType t = defined(x, what).scalar_type();
  EPS_CHECK(t == at::kFloat || t == at::kDouble || t == at::kComplexFloat || t == at::kComplexDouble, value_error,
            "eps::", what, " (LibTorch backend): dtype ", c10::toString(t),
            " is not supported (expected float32, float64, complex64 or complex128)");
  return c10::toRealValueType(t);
}

inline at::TensorOptions real_options(const at::Tensor& like, const char* what) {
  return at::TensorOptions().dtype(real_dtype(like, what)).device(like.device());
}

inline Sizes sizes(index_t batch, const Shape& shape) {
  Sizes s{static_cast<std::int64_t>(batch)};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

inline index_t sample_numel(const at::Tensor& x) {
  index_t n = 1;
  for (std::int64_t i = 1; i < x.dim(); ++i) n *= x.size(i);
  return n;
}

/// Same device and same precision, or a clear error.
inline void check_pair(const at::Tensor& a, const at::Tensor& b, const char* what) {
  batched(a, what);
  batched(b, what);
  EPS_CHECK(a.device() == b.device(), device_error, "eps::", what,
            " (LibTorch backend): operands are on different devices (", a.device().str(), " and ", b.device().str(),
            "); eps never copies between devices, move one with .to(device)");
  EPS_CHECK(real_dtype(a, what) == real_dtype(b, what), value_error, "eps::", what,
            " (LibTorch backend): operands have different precisions (", c10::toString(a.scalar_type()), " and ",
            c10::toString(b.scalar_type()), "); convert one with .to(dtype)");
}

/// {batch, 1, ..., 1} with `rank` axes in all.
inline Sizes scalar_sizes(std::int64_t batch, std::int64_t rank) {
  Sizes s(static_cast<std::size_t>(std::max<std::int64_t>(rank, 1)), 1);
  s[0] = batch;
  return s;
}

/// The operands of a binary operation, viewed so that ATen's broadcasting does exactly what eps allows:
/// batch 1 against B, and a one-element sample (a per-sample scalar) against any sample shape.
inline std::pair<at::Tensor, at::Tensor> align(const at::Tensor& a, const at::Tensor& b, const char* what) {
  check_pair(a, b, what);
  const std::int64_t ba = a.size(0), bb = b.size(0);
  EPS_CHECK(ba == bb || ba == 1 || bb == 1, shape_error, "eps::", what,
            " (LibTorch backend): cannot broadcast batch extents ", ba, " and ", bb,
            " (they must be equal or one of them 1)");
  if (a.sizes().slice(1) == b.sizes().slice(1)) return {a, b};
  if (sample_numel(b) == 1) return {a, b.reshape(scalar_sizes(bb, a.dim()))};
  if (sample_numel(a) == 1) return {a.reshape(scalar_sizes(ba, b.dim())), b};
  detail::raise<shape_error>("eps::", what, " (LibTorch backend): cannot broadcast sample shapes ",
                             sizes_str(a.sizes().slice(1)), " and ", sizes_str(b.sizes().slice(1)),
                             " (they must be equal or one of them a single value)");
}

inline void check_image(const at::Tensor& x, const ImageShape& g, const char* what) {
  batched(x, what);
  EPS_CHECK(sample_numel(x) == g.numel(), shape_error, "eps::", what, " (LibTorch backend): samples have ",
            sample_numel(x), " elements, expected C*H*W = ", g.channels, "*", g.height, "*", g.width);
}

inline at::Tensor as_image(const at::Tensor& x, const ImageShape& g) {
  return x.reshape({x.size(0), g.channels, g.height, g.width});
}

}  // namespace detail::libtorch

/// The LibTorch family: one C++ type for real and complex tensors of any floating precision and device.
template <>
struct backend_traits<at::Tensor> {
  using tensor_type = at::Tensor;
  using real_tensor = at::Tensor;
  using complex_tensor = at::Tensor;
  using generator_type = libtorch::Generator;
  static constexpr bool tracks_shape = true;

  static const char* name() { return "torch"; }
  static index_t batch(const at::Tensor& x) { return detail::libtorch::batched(x, "batch").size(0); }
  static index_t sample_numel(const at::Tensor& x) {
    return detail::libtorch::sample_numel(detail::libtorch::batched(x, "sample_numel"));
  }
  static Shape sample_shape(const at::Tensor& x) {
    const auto s = detail::libtorch::batched(x, "sample_shape").sizes().slice(1);
    return Shape(s.begin(), s.end());
  }

  static at::Tensor zeros(const at::Tensor& like, index_t batch, const Shape& shape) {
    return at::zeros(detail::libtorch::sizes(batch, shape), detail::libtorch::real_options(like, "zeros"));
  }
  /// The one host → device transfer: `batch` samples of shape `shape` in row-major order.
  static at::Tensor from_host(const at::Tensor& like, std::span<const double> v, index_t batch, const Shape& shape) {
    const auto opts = detail::libtorch::real_options(like, "from_host");
    EPS_CHECK(static_cast<index_t>(v.size()) == numel(shape) * batch, shape_error,
              "eps::from_host (LibTorch backend): got ", v.size(), " values for ", batch, " samples of shape ",
              to_string(shape));
    at::Tensor h = at::empty(detail::libtorch::sizes(batch, shape), at::TensorOptions().dtype(at::kDouble));
    std::copy(v.begin(), v.end(), h.data_ptr<double>());
    return h.to(opts);
  }
  /// B × 1 × … × 1 (the rank of `like`): broadcasts against samples of any shape.
  static at::Tensor batch_scalars(const at::Tensor& like, const BatchValues& v) {
    const auto s = v.values();
    return from_host(like, s, static_cast<index_t>(s.size()), Shape{})
        .reshape(detail::libtorch::scalar_sizes(static_cast<std::int64_t>(s.size()), like.dim()));
  }
  static at::Tensor reshape(const at::Tensor& x, const Shape& shape) {
    detail::libtorch::batched(x, "reshape");
    EPS_CHECK(numel(shape) == detail::libtorch::sample_numel(x), shape_error,
              "eps::reshape (LibTorch backend): cannot view ", detail::libtorch::sample_numel(x),
              " elements per sample as ", to_string(shape));
    return x.reshape(detail::libtorch::sizes(x.size(0), shape));
  }

  static at::Tensor add(const at::Tensor& a, const at::Tensor& b) {
    const auto [x, y] = detail::libtorch::align(a, b, "add");
    return x + y;
  }
  static at::Tensor sub(const at::Tensor& a, const at::Tensor& b) {
    const auto [x, y] = detail::libtorch::align(a, b, "sub");
    return x - y;
  }
  static at::Tensor mul(const at::Tensor& a, const at::Tensor& b) {
    const auto [x, y] = detail::libtorch::align(a, b, "mul");
    return x * y;
  }
  static at::Tensor div(const at::Tensor& a, const at::Tensor& b) {
    const auto [x, y] = detail::libtorch::align(a, b, "div");
    return x / y;
  }
  static at::Tensor scale(const at::Tensor& x, double a) { return detail::libtorch::batched(x, "scale") * a; }
  static at::Tensor axpby(double a, const at::Tensor& x, double b, const at::Tensor& y) {
    const auto [u, v] = detail::libtorch::align(x, y, "axpby");
    return u * a + v * b;
  }
  static at::Tensor add_scalar(const at::Tensor& x, double c) { return detail::libtorch::batched(x, "add_scalar") + c; }
  static at::Tensor abs2(const at::Tensor& x) {
    return x.is_complex() ? at::real(x).square() + at::imag(x).square() : x.square();
  }
  static at::Tensor abs(const at::Tensor& x) { return x.abs(); }
  static at::Tensor real(const at::Tensor& x) { return x.is_complex() ? at::real(x) : x; }
  static at::Tensor imag(const at::Tensor& x) { return x.is_complex() ? at::imag(x) : at::zeros_like(x); }
  static at::Tensor conj(const at::Tensor& x) { return x.is_complex() ? x.conj_physical() : x; }
  static double epsilon(const at::Tensor& x) {
    return detail::libtorch::real_dtype(x, "epsilon") == at::kFloat ? double(std::numeric_limits<float>::epsilon())
                                                                    : std::numeric_limits<double>::epsilon();
  }

  /// Per-sample Re⟨a, b⟩, reduced on the device, returned on the host (detached).
  static std::vector<double> dot_batch(const at::Tensor& a, const at::Tensor& b) {
    detail::libtorch::check_pair(a, b, "dot_batch");
    EPS_CHECK(a.sizes() == b.sizes(), shape_error, "eps::dot_batch (LibTorch backend): shapes ",
              detail::libtorch::sizes_str(a.sizes()), " and ", detail::libtorch::sizes_str(b.sizes()), " differ");
    const at::Tensor p = a.is_complex() || b.is_complex() ? at::real(a.conj() * b) : a * b;
    return host(p.detach().reshape({a.size(0), -1}).sum(1));
  }
  static bool all_finite(const at::Tensor& x) { return x.numel() == 0 || at::isfinite(x.detach()).all().item<bool>(); }
  static double max_abs(const at::Tensor& x) { return x.numel() == 0 ? 0.0 : x.detach().abs().max().item<double>(); }

  // ---- real family -------------------------------------------------------------------------------
  static at::Tensor sqrt(const at::Tensor& x) { return x.sqrt(); }
  static at::Tensor clamp(const at::Tensor& x, double lo, double hi) {
    return x.clamp(std::isinf(lo) ? c10::optional<at::Scalar>() : c10::optional<at::Scalar>(lo),
                   std::isinf(hi) ? c10::optional<at::Scalar>() : c10::optional<at::Scalar>(hi));
  }
  static at::Tensor zero_indicator(const at::Tensor& x) { return (x.detach() == 0).to(x.scalar_type()); }
  /// The one device → host transfer (detached, as float64).
  static std::vector<double> to_host(const at::Tensor& x) {
    EPS_CHECK(!detail::libtorch::batched(x, "to_host").is_complex(), value_error,
              "eps::to_host (LibTorch backend): expected a real tensor, got ", c10::toString(x.scalar_type()));
    return host(x.detach());
  }
  static at::Tensor randn(const at::Tensor& like, index_t batch, const Shape& shape, libtorch::Generator& gen) {
    const auto opts = detail::libtorch::real_options(like, "randn");
    return at::randn(detail::libtorch::sizes(batch, shape), gen.on(like.device()), opts);
  }
  static at::Tensor to_complex(const at::Tensor& x) {
    detail::libtorch::real_dtype(x, "to_complex");
    return x.is_complex() ? x : x.to(c10::toComplexType(x.scalar_type()));
  }
  /// rows: r samples; x: B samples of the same size → B × r, (⟨rows_k, x_b⟩)_k (one matrix product).
  static at::Tensor inner_products(const at::Tensor& rows, const at::Tensor& x) {
    detail::libtorch::check_pair(rows, x, "inner_products");
    const std::int64_t n = detail::libtorch::sample_numel(rows);
    EPS_CHECK(detail::libtorch::sample_numel(x) == n, shape_error, "eps::inner_products (LibTorch backend): rows have ",
              n, " elements, samples have ", detail::libtorch::sample_numel(x));
    return at::matmul(x.reshape({x.size(0), n}), rows.reshape({rows.size(0), n}).t());
  }
  /// rows: r samples; c: B × r → B samples Σ_k c_k rows_k of shape `shape`.
  static at::Tensor combine(const at::Tensor& rows, const at::Tensor& c, const Shape& shape) {
    detail::libtorch::check_pair(rows, c, "combine");
    const std::int64_t r = rows.size(0), n = detail::libtorch::sample_numel(rows);
    EPS_CHECK(detail::libtorch::sample_numel(c) == r, shape_error, "eps::combine (LibTorch backend): ", r, " rows but ",
              detail::libtorch::sample_numel(c), " coefficients per sample");
    EPS_CHECK(numel(shape) == n, shape_error, "eps::combine (LibTorch backend): rows have ", n,
              " elements, expected shape ", to_string(shape));
    return at::matmul(c.reshape({c.size(0), r}), rows.reshape({r, n}))
        .reshape(detail::libtorch::sizes(c.size(0), shape));
  }
  static at::Tensor block_sum(const at::Tensor& x, const ImageShape& g, index_t kh, index_t kw) {
    detail::libtorch::check_image(x, g, "block_sum");
    EPS_CHECK(kh >= 1 && kw >= 1 && g.height % kh == 0 && g.width % kw == 0, shape_error,
              "eps::block_sum (LibTorch backend): ", kh, "x", kw, " blocks do not tile a ", g.height, "x", g.width,
              " image");
    return x.reshape({x.size(0), g.channels, g.height / kh, kh, g.width / kw, kw}).sum({3, 5});
  }
  static at::Tensor block_repeat(const at::Tensor& y, const ImageShape& s, index_t kh, index_t kw) {
    detail::libtorch::check_image(y, s, "block_repeat");
    const std::int64_t b = y.size(0);
    return y.reshape({b, s.channels, s.height, 1, s.width, 1})
        .expand({b, s.channels, s.height, kh, s.width, kw})
        .reshape({b, s.channels, s.height * kh, s.width * kw});
  }
  /// Σ_c w_c x_c → B × 1 × H × W (a weighted sum of channel slices: no weight upload).
  static at::Tensor channel_sum(const at::Tensor& x, const ImageShape& g, std::span<const double> w) {
    detail::libtorch::check_image(x, g, "channel_sum");
    EPS_CHECK(static_cast<index_t>(w.size()) == g.channels, shape_error,
              "eps::channel_sum (LibTorch backend): ", w.size(), " weights for ", g.channels, " channels");
    const at::Tensor xi = detail::libtorch::as_image(x, g);
    at::Tensor acc = xi.select(1, 0) * w[0];
    for (index_t c = 1; c < g.channels; ++c) acc = acc + xi.select(1, c) * w[static_cast<std::size_t>(c)];
    return acc.unsqueeze(1);
  }
  /// 1 × H × W → C × H × W with channel c equal to w_c y.
  static at::Tensor channel_expand(const at::Tensor& y, const ImageShape& g, std::span<const double> w) {
    detail::libtorch::check_image(y, ImageShape{1, g.height, g.width}, "channel_expand");
    EPS_CHECK(static_cast<index_t>(w.size()) == g.channels, shape_error,
              "eps::channel_expand (LibTorch backend): ", w.size(), " weights for ", g.channels, " channels");
    const at::Tensor yi = y.reshape({y.size(0), 1, g.height, g.width});
    std::vector<at::Tensor> parts;
    for (double wc : w) parts.push_back(yi * wc);
    return at::cat(parts, 1);
  }
  /// Unitary 2-D DFT over (H, W) of every channel (torch.fft, norm = "ortho").
  static at::Tensor fft2(const at::Tensor& x, const ImageShape& g) { return dft(x, g, true); }
  static at::Tensor ifft2(const at::Tensor& x, const ImageShape& g) { return dft(x, g, false); }
  /// rows: the m × n matrix M = U diag(s) Vᵀ (m samples): u = Uᵀ (r samples of {m}), s (one sample of
  /// {r}), v = Vᵀ (r samples of the rows' sample shape). torch.linalg.svd on the rows' device.
  static SvdRows<at::Tensor> svd_rows(const at::Tensor& rows) {
    detail::libtorch::real_dtype(detail::libtorch::batched(rows, "svd_rows"), "svd_rows");
    const std::int64_t m = rows.size(0), n = detail::libtorch::sample_numel(rows);
    auto [u, s, vh] = at::linalg_svd(rows.reshape({m, n}), /*full_matrices=*/false);
    detail::libtorch::Sizes vs = rows.sizes().vec();
    vs[0] = vh.size(0);
    return {u.t().contiguous(), s.unsqueeze(0), vh.reshape(vs)};
  }

 private:
  static std::vector<double> host(const at::Tensor& x) {
    const at::Tensor h = x.to(at::kCPU, at::kDouble).contiguous();
    return {h.data_ptr<double>(), h.data_ptr<double>() + h.numel()};
  }
  static at::Tensor dft(const at::Tensor& x, const ImageShape& g, bool forward) {
    const char* what = forward ? "fft2" : "ifft2";
    detail::libtorch::check_image(x, g, what);
    EPS_CHECK(x.is_complex(), value_error, "eps::", what, " (LibTorch backend): expected a complex tensor, got ",
              c10::toString(x.scalar_type()));
    const at::Tensor xi = detail::libtorch::as_image(x, g);
    const at::Tensor r = forward ? at::fft_fft2(xi, c10::nullopt, {-2, -1}, "ortho")
                                 : at::fft_ifft2(xi, c10::nullopt, {-2, -1}, "ortho");
    return r.reshape(x.sizes());
  }
};

static_assert(FftTensor<at::Tensor>);
static_assert(SvdTensor<at::Tensor>);

}  // namespace eps
