// SPDX-License-Identifier: MIT
#include "eps/networks/model_file.hpp"

#include <torch/serialize/output-archive.h>

namespace eps::networks {

nlohmann::json to_json(const UNetConfig& c) {
  return {{"in_channels", c.in_channels}, {"out_channels", c.out_channels},
          {"channels", c.channels},       {"multipliers", c.multipliers},
          {"blocks", c.blocks},           {"embedding", c.embedding},
          {"attention", c.attention}};
}

UNetConfig unet_config_from_json(const nlohmann::json& j) {
  UNetConfig c;
  c.in_channels = j.at("in_channels").get<std::int64_t>();
  c.out_channels = j.at("out_channels").get<std::int64_t>();
  c.channels = j.at("channels").get<std::int64_t>();
  c.multipliers = j.at("multipliers").get<std::vector<std::int64_t>>();
  c.blocks = j.at("blocks").get<std::int64_t>();
  c.embedding = j.at("embedding").get<std::int64_t>();
  c.attention = j.at("attention").get<bool>();
  // Sizes a model file may declare (the shipped networks are far inside them): a damaged or hostile file
  // must not make the reader allocate without bound.
  const auto within = [](std::int64_t v, std::int64_t lo, std::int64_t hi, const char* field) {
    EPS_CHECK(v >= lo && v <= hi, value_error, "network.", field, " = ", v, " lies outside [", lo, ", ", hi, "]");
  };
  within(c.in_channels, 1, 64, "in_channels");
  within(c.out_channels, 1, 64, "out_channels");
  within(c.channels, 8, 1024, "channels");
  within(c.blocks, 1, 8, "blocks");
  within(c.embedding, 4, 4096, "embedding");
  within(static_cast<std::int64_t>(c.multipliers.size()), 1, 6, "levels");
  for (std::int64_t m : c.multipliers) within(m, 1, 16, "multipliers");
  return c;
}

ModelFile read_model(const std::filesystem::path& path, const at::Device& device) {
  ArchiveReader r(path, device, "eps.model", "eps model file", 1,
                  "; a training checkpoint.pt? use the model.pt beside it");
  ModelFile m;
  m.config = r.header().config;
  r.read([&](torch::serialize::InputArchive& ar) {
    c10::IValue v;
    ar.read("step", v);
    m.step = v.toInt();
    m.net = UNet(unet_config_from_json(m.config.at("network")));
    torch::serialize::InputArchive weights;
    ar.read("weights", weights);
    m.net->load(weights);
  });
  m.net->to(device);
  m.net->eval();
  return m;
}

void write_model(const std::filesystem::path& path, const torch::nn::Module& net, const nlohmann::json& config,
                 std::int64_t step) {
  torch::serialize::OutputArchive ar, weights;
  write_header(ar, {"eps.model", 1, config});
  ar.write("step", c10::IValue(step));
  net.save(weights);
  ar.write("weights", weights);
  save_archive(ar, path);
}

}  // namespace eps::networks
