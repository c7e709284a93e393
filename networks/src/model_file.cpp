// SPDX-License-Identifier: MIT
#include "eps/networks/model_file.hpp"

#include "eps/networks/zip_check.hpp"

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
  // A torch archive is a zip file of stored entries, each with the CRC-32 of its bytes, which LibTorch 1.13
  // writes but never checks: every entry (every tensor, the pickled structure with the configuration) is
  // verified here before LibTorch's reader sees the file (which also leaks on some malformed archives).
  if (const auto problem = zip_problem(bytes, true)) bad(*problem);
  try {
    std::istringstream is(bytes);
    ar.load_from(is, device);
  } catch (const c10::Error& e) {
    bad(std::string("corrupt file (") + e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {  // TorchScript's parser reports with its own types (torch::jit::ErrorReport)
    bad(std::string("corrupt file (") + e.what() + ")");
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
  } catch (const eps::io_error&) {
    throw;
  } catch (const std::exception& e) {  // LibTorch's other readers (TorchScript), a network the configuration breaks
    detail::raise<io_error>("'", path.string(), "' is not a usable eps model file: ", e.what());
  }
  m.net->to(device);
  m.net->eval();
  return m;
}

}  // namespace eps::networks
