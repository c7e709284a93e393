// SPDX-License-Identifier: MIT
// `eps`: the reference command-line program. Exit codes: 0 success, 1 runtime failure (I/O, numerics),
// 2 bad usage or bad input (flags, files, values), with a message on stderr that names what was wrong.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "eps/error.hpp"
#include "eps/version.hpp"

namespace {

/// Rejects NaN and ±inf (a value that is not a number at all is left to CLI11's conversion, which names it).
const CLI::Validator kFinite(
    [](std::string& v) -> std::string {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || std::isfinite(x)) return {};
      return "Value " + v + " is not a finite number";
    },
    "");

/// Every floating-point option of every subcommand rejects NaN and ±inf with exit code 2, naming the flag:
/// CLI11's range checks let NaN through (every comparison with NaN is false). Applied to the options as the
/// CLI lists them, so an option added later is covered (tests/cli/float_options.sh walks the same list).
void require_finite(CLI::App& app) {
  for (CLI::Option* opt : app.get_options())
    if (opt->get_type_name().rfind("FLOAT", 0) == 0) opt->check(kFinite);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) require_finite(*sub);
}

}  // namespace

int main(int argc, char** argv) {
  // glibc's allocator thrashes on many large temporaries (docs/benchmarks.md).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app{"eps " EPS_VERSION_STRING ": exact posterior sampling for linear inverse problems (reference program)"};
  app.set_version_flag("--version", EPS_VERSION_STRING);
  app.require_subcommand(1);
  eps::cli::add_demo_command(app);
  eps::cli::add_toy_command(app);
  eps::cli::add_posterior_command(app);
#ifdef EPS_CLI_IMAGE
  eps::cli::add_image_command(app);
#endif
  require_finite(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const eps::cli::CommandResult& r) {
    return r.code;
  } catch (const std::exception& e) {
    std::cerr << "eps: error: " << e.what() << "\n";
    // Bad input (shapes, values, files) is exit code 2; anything else (numerics, internal) is 1.
    const bool bad_input = dynamic_cast<const eps::shape_error*>(&e) || dynamic_cast<const eps::value_error*>(&e) ||
                           dynamic_cast<const eps::io_error*>(&e);
    return bad_input ? 2 : 1;
  }
  return 0;
}
