// SPDX-License-Identifier: MIT
// What the image programs share (docs/training.md §4–7): the device flag, Fashion-MNIST on a device with the
// fixed validation split, hashes of data and weights, the zip pre-check of torch archives, and the model
// file (`model.pt`: the EMA weights of a trained network with the configuration that says how to use it).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

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

/// Reads a torch archive (zip) into `ar`, refusing a file that is not a zip archive or has no central
/// directory at its end before LibTorch's reader sees it (LibTorch 1.13 leaks on those). io_error that
/// names the file and `what` it should have been.
void load_archive(const std::filesystem::path& path, torch::serialize::InputArchive& ar, const at::Device& device,
                  const std::string& what);

/// A trained network: its configuration (the training configuration, with "network" describing the
/// U-Net) and the network holding the EMA weights, in evaluation mode.
struct ModelFile {
  nlohmann::json config;
  std::int64_t step = 0;
  UNet net{nullptr};
};
/// Writes `net`'s weights with `config` and `step` to `path` atomically (format eps.model).
void write_model(const std::filesystem::path& path, const torch::nn::Module& net, const nlohmann::json& config,
                 std::int64_t step);
/// Reads a model file written by write_model onto `device`; io_error for a missing, corrupt or foreign file.
ModelFile read_model(const std::filesystem::path& path, const at::Device& device);

/// The U-Net configuration recorded in a model's configuration ("network"), and its inverse.
nlohmann::json to_json(const UNetConfig& c);
UNetConfig unet_config_from_json(const nlohmann::json& j);

}  // namespace eps::cli
