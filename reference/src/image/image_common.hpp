// SPDX-License-Identifier: MIT
// What the image programs share (docs/training.md §4–7): the device flag, Fashion-MNIST on a device with the
// fixed validation split, hashes of data and weights, writing model files (`model.pt`: the EMA weights of a
// trained network with the configuration that says how to use it; eps::networks reads them), PNG grids.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>

#include <cstdint>
#include <cmath>
#include <filesystem>
#include <optional>
#include <ostream>
#include <nlohmann/json.hpp>
#include <string>

#include "eps/networks/model_file.hpp"
#include "eps/tasks.hpp"
#include "unet.hpp"

namespace eps::cli {

/// cpu, cuda or cuda:k; value_error naming the flag when it is malformed or that device is absent.
at::Device parse_device(const std::string& s);

/// FNV-1a (64 bit) of a byte range, continued from h; its hexadecimal form.
std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 1469598103934665603ull);
std::string hex(std::uint64_t h);
/// The hash of a module's parameters and buffers (their bytes on the CPU, in order).
std::string weights_hash(const torch::nn::Module& m);

/// Fashion-MNIST on `device`, [N, 1, 28, 28] in [−1, 1], with labels [N] (int64). Training split: the
/// training set without the validation images (every 30th: 2000 images, whatever the seed), of which
/// `subset` > 0 keeps the first `subset`; `val` the validation images; `hash` covers the pixels and the
/// training indices. The test split: all 10,000 test images in `train`, `val` empty.
struct ImageData {
  at::Tensor train, train_labels, val, val_labels;
  std::string hash;
};
ImageData load_image_data(const std::string& dir, bool test_split, std::int64_t subset, const at::Device& device);

using networks::conditional_denoise;
using networks::denoise;
using networks::load_archive;
using networks::model_denoise;
using networks::ModelFile;
using networks::read_model;
using networks::to_json;
using networks::unet_config_from_json;
using networks::with_schedule;
using networks::write_model;

/// The tasks of a --tasks flag ("all": the five, in their order); value_error naming the flag otherwise.
std::vector<Task> tasks_from_flag(const std::vector<std::string>& names);

/// A [N, 1, H, W] batch of grey images in [−1, 1] as one PNG (`columns` images per row, 2-pixel white
/// gutters), encoded in memory (stb_image_write) for write_file_atomic.
std::string png_grid(const at::Tensor& images, std::int64_t columns);

/// The same grid, scaled `zoom`× (nearest neighbour), with a label above every column in a 5 × 7 bitmap font
/// (letters in upper case; each label broken into lines of the column's width, after a space or '-', or
/// before an '@'). One label per column.
std::string png_grid_labelled(const at::Tensor& images, std::int64_t columns, const std::vector<std::string>& labels,
                              int zoom = 2);
/// The lines `png_grid_labelled` breaks a label into for a column `width` characters wide.
std::vector<std::string> label_lines(const std::string& label, std::size_t width);

/// One method's samples in the evaluation (docs/evaluation.md, "Outputs"): every (image, seed) pair,
/// image-major, as the sampler returned them, with its timings and counts (per sample).
struct EvalPart {
  at::Tensor samples;  ///< [images · seeds, 1, 28, 28], CPU, float32
  double seconds = 0, seconds_b1 = std::nan("");
  int nfe = 0, vjp = 0;
  bool reused = false;
};

/// The part saved at `path` (format eps.eval_part) if it was written for `key` (any key: empty) and holds
/// `count` samples of 1 × 28 × 28; nothing if it is absent or of another key; nothing with a warning on `warn` naming
/// the file and the problem (a damaged file: an entry failing its CRC, a field missing or of the wrong type) — the
/// evaluation then recomputes it. Never throws for the file's content (fuzzed: tests/fuzz/fuzz_part.cpp).
std::optional<EvalPart> read_eval_part(const std::filesystem::path& path, const std::string& key, std::int64_t count,
                                       std::ostream& warn);
/// Writes a part atomically.
void write_eval_part(const std::filesystem::path& path, const std::string& key, const EvalPart& p);

/// eps::psnr of every image of x against ref (both [N, ...] in [−1, 1]: data range 2), as a [N] tensor.
at::Tensor psnr_per_image(const at::Tensor& x, const at::Tensor& ref);

}  // namespace eps::cli
