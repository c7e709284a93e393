// SPDX-License-Identifier: MIT
// `eps`: the reference command-line program. Exit codes: 0 success, 1 runtime failure (I/O, numerics),
// 2 bad usage or bad input (flags, files, values), with a message on stderr that names what was wrong.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"
#include "eps/error.hpp"
#include "eps/version.hpp"

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
