// SPDX-License-Identifier: MIT
// Fuzz target: the JSON problem reader behind `eps posterior` (reference/src/toy/posterior.hpp): any text is
// parsed, read and computed, or refused with an eps error (value_error naming the field, shape_error,
// domain_error); any other exception escapes and counts as a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "eps/error.hpp"
#include "posterior.hpp"
#include "toy_problem.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto j = eps::cli::jsonio::parse_text(std::string(reinterpret_cast<const char*>(data), size), "input");
    (void)eps::cli::posterior_of(j);
  } catch (const eps::value_error&) {
  } catch (const eps::shape_error&) {
  } catch (const eps::domain_error&) {
  } catch (const eps::convergence_error&) {
  }
  return 0;
}
