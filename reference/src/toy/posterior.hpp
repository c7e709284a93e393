// SPDX-License-Identifier: MIT
// `eps posterior`: the exact posterior quantities of one problem (docs/gmm_benchmark.md, "eps posterior"), as a
// function of the parsed JSON (the command reads the file with jsonio::parse_file; the fuzz harness feeds
// any bytes through jsonio::parse_text, tests/fuzz/fuzz_problem.cpp).
#pragma once

#include <nlohmann/json.hpp>

namespace eps::cli {

/// The pivot, Σ*, E[x0 | x_t, y] and the posterior score of the problem `j` (schema: docs/gmm_benchmark.md);
/// value_error naming the field for bad input, domain_error for a non-finite result.
nlohmann::json posterior_of(const nlohmann::json& j);

}  // namespace eps::cli
