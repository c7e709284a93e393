// SPDX-License-Identifier: MIT
// Shared by the pivot benchmarks of every backend: the batched image sizes, the noise levels, and glibc's
// allocator setting of the eps program (docs/benchmarks.md).
#pragma once

#include <malloc.h>

#include <vector>

#include "eps/posterior.hpp"

namespace eps::bench {

struct Size {
  eps::index_t batch;
  eps::ImageShape img;
  eps::index_t numel() const { return batch * img.numel(); }
};

/// ~1e3, ~1e4, ~1e5, ~1e6 values (batch × C × H × W).
inline const std::vector<Size> kSizes{{1, {1, 32, 32}}, {4, {3, 32, 32}}, {8, {3, 64, 64}}, {16, {3, 128, 128}}};

inline const eps::NoiseLevels kLevels{0.7, 0.7, 0.05};

/// As in the eps program: keep large temporaries on the heap instead of a fresh mmap (and its page
/// faults) per allocation, so that timings measure the arithmetic.
inline void set_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace eps::bench
