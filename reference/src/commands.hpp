// SPDX-License-Identifier: MIT
// The subcommands of the `eps` reference program.
#pragma once

#include <CLI/CLI.hpp>
#include <Eigen/Dense>

#include "eps/reference/dense.hpp"

namespace eps::cli {

/// Thrown by a subcommand's callback to carry its exit code out of CLI11's parse.
struct CommandResult {
  int code;
};

/// The dense matrix of an Eigen-backend operator.
template <class Op>
Eigen::MatrixXd to_host_matrix(const Op& A) {
  return reference::to_dense(A, typename Op::tensor_type{});
}

void add_demo_command(CLI::App& app);
void add_toy_command(CLI::App& app);
void add_posterior_command(CLI::App& app);
void add_image_command(CLI::App& app);               ///< built with LibTorch only (EPS_CLI_IMAGE)
void add_image_classifier_command(CLI::App& image);  ///< `eps image classifier`, added by add_image_command
void add_image_sample_command(CLI::App& image);      ///< `eps image sample`, added by add_image_command
void add_image_restore_command(CLI::App& image);     ///< `eps image restore`, added by add_image_command
void add_image_eval_command(CLI::App& image);        ///< `eps image eval`, added by add_image_command
void add_image_tune_command(CLI::App& image);        ///< `eps image tune`, added by add_image_command

}  // namespace eps::cli
