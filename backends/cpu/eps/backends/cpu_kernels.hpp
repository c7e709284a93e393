// SPDX-License-Identifier: MIT
/// @file cpu_kernels.hpp
/// Raw-buffer kernels shared by the CPU backends (Eigen, xtensor). Both store a batch sample-major: B
/// samples of n contiguous elements (Eigen: an n × B column-major matrix; xtensor: a B × n row-major
/// tensor), so the same loops serve both. A "per-sample scalar" operand has n = 1; a batch-1 operand is
/// broadcast over the batch.
#pragma once

#include <algorithm>
#include <complex>
#include <random>
#include <span>
#include <type_traits>

#include "eps/error.hpp"
#include "eps/shape.hpp"

namespace eps::detail::cpu {

/// Whether a scalar type is std::complex, and its real type (S itself for a real S).
template <class S>
struct is_complex : std::false_type {};
template <class R>
struct is_complex<std::complex<R>> : std::true_type {};
template <class S>
struct real_of {
  using type = S;
};
template <class R>
struct real_of<std::complex<R>> {
  using type = R;
};

/// A read-only view of a sample-major batch.
template <class S>
struct Batch {
  const S* data;
  index_t n;      ///< elements per sample
  index_t batch;  ///< samples
};

inline index_t broadcast_extent(index_t a, index_t b, const char* backend, const char* what, const char* axis) {
  EPS_CHECK(a == b || a == 1 || b == 1, shape_error, "eps::", what, " (", backend, " backend): cannot broadcast ", axis,
            " extents ", a, " and ", b, " (they must be equal or one of them 1)");
  return std::max(a, b);
}

/// out(j, i) = f(a(j', i'), b(j'', i'')) over samples j and elements i, broadcasting a per-sample scalar
/// (n = 1) over the sample and a batch of 1 over the batch. `out` holds n × batch of the result extents
/// (see result_extents).
template <class R, class A, class B, class F>
void broadcast(Batch<A> a, Batch<B> b, R* out, index_t n, index_t batch, F f) {
  const bool sa = a.n != 1 || n == 1, sb = b.n != 1 || n == 1;
  for (index_t j = 0; j < batch; ++j) {
    const A* pa = a.data + (a.batch == 1 ? 0 : j * a.n);
    const B* pb = b.data + (b.batch == 1 ? 0 : j * b.n);
    R* pr = out + j * n;
    if (sa && sb) {
      for (index_t i = 0; i < n; ++i) pr[i] = f(pa[i], pb[i]);
    } else if (sa) {
      const B bv = pb[0];
      for (index_t i = 0; i < n; ++i) pr[i] = f(pa[i], bv);
    } else if (sb) {
      const A av = pa[0];
      for (index_t i = 0; i < n; ++i) pr[i] = f(av, pb[i]);
    } else {
      pr[0] = f(pa[0], pb[0]);
    }
  }
}

inline void check_image(index_t n, const ImageShape& g, const char* backend, const char* what) {
  EPS_CHECK(n == g.numel(), shape_error, "eps::", what, " (", backend, " backend): sample has ", n,
            " elements, expected C*H*W = ", g.numel());
}

/// Sums of kh × kw blocks of every channel: `out` (zeroed) holds C × H/kh × W/kw per sample.
template <class S>
void block_sum(Batch<S> x, const ImageShape& g, index_t kh, index_t kw, S* out) {
  const index_t h = g.height / kh, w = g.width / kw, m = g.channels * h * w;
  for (index_t b = 0; b < x.batch; ++b) {
    const S* in = x.data + b * x.n;
    S* o = out + b * m;
    for (index_t c = 0; c < g.channels; ++c)
      for (index_t i = 0; i < g.height; ++i) {
        const S* row = in + (c * g.height + i) * g.width;
        S* orow = o + (c * h + i / kh) * w;
        for (index_t jb = 0; jb < w; ++jb) {
          S acc = orow[jb];
          for (index_t q = 0; q < kw; ++q) acc += row[jb * kw + q];
          orow[jb] = acc;
        }
      }
  }
}

/// Every value of y (C × H × W per sample) repeated over a kh × kw block: `out` holds C × kh·H × kw·W.
template <class S>
void block_repeat(Batch<S> y, const ImageShape& s, index_t kh, index_t kw, S* out) {
  const index_t H = s.height * kh, W = s.width * kw, m = s.channels * H * W;
  for (index_t b = 0; b < y.batch; ++b) {
    const S* in = y.data + b * y.n;
    S* o = out + b * m;
    for (index_t c = 0; c < s.channels; ++c)
      for (index_t i = 0; i < H; ++i) {
        const S* irow = in + (c * s.height + i / kh) * s.width;
        S* orow = o + (c * H + i) * W;
        for (index_t jb = 0; jb < s.width; ++jb)
          for (index_t q = 0; q < kw; ++q) orow[jb * kw + q] = irow[jb];
      }
  }
}

/// Σ_c w_c x[c] per pixel: `out` holds H × W per sample.
template <class S>
void channel_sum(Batch<S> x, const ImageShape& g, std::span<const double> wts, S* out) {
  const index_t hw = g.height * g.width;
  for (index_t b = 0; b < x.batch; ++b) {
    S* o = out + b * hw;
    std::fill(o, o + hw, S(0));
    for (index_t c = 0; c < g.channels; ++c) {
      const S wc = static_cast<S>(wts[static_cast<std::size_t>(c)]);
      const S* in = x.data + b * x.n + c * hw;
      for (index_t i = 0; i < hw; ++i) o[i] += wc * in[i];
    }
  }
}

/// w_c y per channel: `out` holds C × H × W per sample.
template <class S>
void channel_expand(Batch<S> y, const ImageShape& g, std::span<const double> wts, S* out) {
  const index_t hw = g.height * g.width;
  EPS_CHECK(y.n == hw, shape_error, "eps::channel_expand: sample has ", y.n, " elements, expected H*W = ", hw);
  for (index_t b = 0; b < y.batch; ++b)
    for (index_t c = 0; c < g.channels; ++c) {
      const S wc = static_cast<S>(wts[static_cast<std::size_t>(c)]);
      const S* in = y.data + b * hw;
      S* o = out + (b * g.channels + c) * hw;
      for (index_t i = 0; i < hw; ++i) o[i] = wc * in[i];
    }
}

/// Standard normal draws in storage order (sample by sample), so that every CPU backend given the same
/// generator state draws the same batch.
template <class S>
void randn(S* out, index_t count, std::mt19937_64& gen) {
  std::normal_distribution<double> n01;
  for (index_t i = 0; i < count; ++i) out[i] = static_cast<S>(n01(gen));
}

}  // namespace eps::detail::cpu
