// SPDX-License-Identifier: MIT
#include "eps/networks/model_file.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace eps::networks {

void load_archive(const std::filesystem::path& path, torch::serialize::InputArchive& ar, const at::Device& device,
                  const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  EPS_CHECK(in.good(), io_error, "cannot open '", path.string(), "' for reading");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EPS_CHECK(!in.bad(), io_error, "error while reading '", path.string(), "'");
  const auto bad = [&](const std::string& why) {
    detail::raise<io_error>("'", path.string(), "' is not a usable ", what, ": ", why);
  };
  // A torch archive is a zip file that ends with its central directory.
  const auto eocd = bytes.size() >= 22 ? bytes.rfind("PK\x05\x06") : std::string::npos;
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0) bad("corrupt or foreign file (not a zip archive)");
  if (eocd == std::string::npos || bytes.size() - eocd > 22 + 65535)
    bad("corrupt file (truncated: the zip archive has no central directory at its end)");
  try {
    std::istringstream is(bytes);
    ar.load_from(is, device);
  } catch (const c10::Error& e) {
    bad(std::string("corrupt file (") + e.what_without_backtrace() + ")");
  }
}

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
  return c;
}

ModelFile read_model(const std::filesystem::path& path, const at::Device& device) {
  torch::serialize::InputArchive ar;
  load_archive(path, ar, device, "eps model file");
  ModelFile m;
  try {
    c10::IValue v;
    EPS_CHECK(ar.try_read("format", v) && v.isString() && v.toStringRef() == "eps.model", io_error, "'", path.string(),
              "' is not an eps model file (no 'format' = eps.model; a training checkpoint.pt? use the ",
              "model.pt beside it)");
    ar.read("config", v);
    m.config = nlohmann::json::parse(v.toStringRef());
    ar.read("step", v);
    m.step = v.toInt();
    m.net = UNet(unet_config_from_json(m.config.at("network")));
    torch::serialize::InputArchive weights;
    ar.read("weights", weights);
    m.net->load(weights);
  } catch (const c10::Error& e) {
    detail::raise<io_error>("'", path.string(), "' is not a usable eps model file: a field is missing or malformed (",
                            e.what_without_backtrace(), ")");
  } catch (const nlohmann::json::exception& e) {
    detail::raise<io_error>("'", path.string(), "' is not a usable eps model file: its configuration is malformed (",
                            e.what(), ")");
  }
  m.net->to(device);
  m.net->eval();
  return m;
}

}  // namespace eps::networks
