// SPDX-License-Identifier: MIT
// Files across LibTorch versions (docs/testing.md, "Files across LibTorch versions"): what one LibTorch writes, the
// other reads, with the same outputs to float32 round-off. A file's outputs are computed where it was written and
// kept beside it (outputs.json); the reader recomputes them under its own LibTorch and compares.
//
//   eps_torch_files write DIR [--outputs FILE]             the outputs of DIR's files under this LibTorch -> FILE
//                                                          (default DIR/outputs.json; atomic)
//   eps_torch_files check DIR [--outputs FILE] [--tol X]   recomputes them and compares with FILE: the largest
//                                                          difference for every file, exit 1 above X (1e-4)
//
// DIR holds any of: eps model files (*.model.pt: a shipped models/ tree is read as <name>/model.pt), a classifier
// (classifier.pt), a training checkpoint (checkpoint.pt: its EMA weights as a model, and its step), an
// evaluation part (part.pt: its samples) and TorchScript modules with their contracts (*.ts.pt + .json). Inputs
// are deterministic (sines of the index; no random generator, whose streams differ between versions).
#include <ATen/ATen.h>
#include <torch/serialize/input-archive.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "eps/file.hpp"
#include "eps/networks/archive.hpp"
#include "eps/networks/model.hpp"
#include "eps/networks/model_file.hpp"
#include "eps/training/classifier.hpp"
#include "eps/networks/torch_compat.hpp"
#include "image_common.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// [b, c, 28, 28] of amplitude `amp`: sin(0.37 k + phase) over the flat index k.
at::Tensor wave(std::int64_t b, std::int64_t c, double phase, double amp) {
  const at::Tensor k = at::arange(b * c * 28 * 28, at::kDouble);
  return (amp * at::sin(0.37 * k + phase)).reshape({b, c, 28, 28}).to(at::kFloat);
}

/// The values of t, rounded to 8 significant digits (float32 holds 7 to 8; the JSON stays short).
std::vector<double> values(const at::Tensor& t) {
  const at::Tensor d = t.detach().to(at::kCPU, at::kDouble).contiguous().flatten();
  std::vector<double> v(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  char buf[32];
  for (double& x : v) {
    std::snprintf(buf, sizeof buf, "%.8g", x);
    x = std::strtod(buf, nullptr);
  }
  return v;
}

/// outputs.json: one line per file.
std::string to_text(const json& j) {
  std::string out = "{\"torch\": " + j["torch"].dump() + ", \"files\": {";
  bool first = true;
  for (const auto& [rel, f] : j["files"].items()) {
    out += (first ? "\n " : ",\n ") + json(rel).dump() + ": " + f.dump();
    first = false;
  }
  return out + "\n}}\n";
}

/// x̂0 of a model at two noise ratios on fixed inputs (with a fixed observation image for conditional models).
std::vector<double> model_outputs(const eps::networks::Model& m) {
  const auto& c = m.contract();
  at::Tensor obs;
  if (m.conditional()) {
    std::int64_t obs_channels = c.channels;
    if (c.source == "eps.model")
      obs_channels = eps::networks::unet_config_from_json(m.config().at("network")).in_channels - c.channels;
    obs = wave(2, obs_channels, 1.3, 0.6).slice(2, 0, c.height).slice(3, 0, c.width);
  }
  std::vector<double> out;
  at::NoGradGuard ng;
  for (const double ratio : {0.3, 4.0}) {
    const at::Tensor x = wave(2, c.channels, 0.2, 0.9).slice(2, 0, c.height).slice(3, 0, c.width);
    const std::vector<double> v = values(m.x0(x, ratio, obs));
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

json outputs_of(const fs::path& dir) {
  json j;
  j["torch"] = eps::networks::compat::torch_version;
  json files = json::object();
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".pt") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    const std::string rel = fs::relative(p, dir).generic_string(), name = p.filename().string();
    json f;
    if (name == "classifier.pt") {
      auto net = eps::training::read_classifier(p, at::kCPU);
      at::NoGradGuard ng;
      f["features"] = values(net->features(wave(4, 1, 0.5, 0.9)));
    } else if (name == "checkpoint.pt") {
      torch::serialize::InputArchive ar;
      eps::networks::load_archive(p, ar, at::kCPU, "training checkpoint");
      c10::IValue step;
      ar.read("step", step);
      f["step"] = step.toInt();
      at::Tensor perm, rng;  // the data order and the generator's state: what a resumed run continues from
      ar.read("perm", perm);
      ar.read("rng_cpu", rng);
      f["perm"] = values(perm);
      f["rng_cpu"] = values(rng);
    } else if (name == "part.pt") {
      torch::serialize::InputArchive ar;
      eps::networks::load_archive(p, ar, at::kCPU, "eps evaluation part");
      at::Tensor s;
      ar.read("samples", s);
      // and through the evaluation's own reader, which checks its shape and fields
      std::ostringstream warn;
      const auto part = eps::cli::read_eval_part(p, "", s.size(0), warn);
      EPS_CHECK(part.has_value(), eps::io_error, "'", p.string(), "': the evaluation does not reuse it: ", warn.str());
      f["samples"] = values(part->samples);
    } else if (name == "model.pt" || rel.ends_with(".model.pt") || rel.ends_with(".ts.pt")) {
      f["x0"] = model_outputs(eps::networks::Model::load(p, at::kCPU));
    } else {
      continue;
    }
    files[rel] = f;
  }
  j["files"] = files;
  return j;
}

/// The largest |a − b| over two arrays of numbers (infinite if their lengths differ).
double largest_difference(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return std::abs(a.get<double>() - b.get<double>());
  if (!a.is_array() || !b.is_array() || a.size() != b.size()) return INFINITY;
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i].get<double>() - b[i].get<double>()));
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const std::string usage = "usage: eps_torch_files write|check DIR [--outputs FILE] [--tol X]";
  if (argc < 3 || (std::string(argv[1]) != "write" && std::string(argv[1]) != "check")) {
    std::cerr << usage << "\n";
    return 2;
  }
  const std::string mode = argv[1];
  const fs::path dir = argv[2];
  fs::path outputs = dir / "outputs.json";
  double tol = 1e-4;
  for (int i = 3; i < argc; i += 2) {
    const std::string a = argv[i];
    if (i + 1 >= argc || (a != "--outputs" && a != "--tol")) {
      std::cerr << "eps_torch_files: bad argument '" << a << "'; " << usage << "\n";
      return 2;
    }
    if (a == "--outputs") outputs = argv[i + 1];
    if (a == "--tol") {
      char* end = nullptr;
      tol = std::strtod(argv[i + 1], &end);
      if (*end != '\0' || !(tol >= 0)) {
        std::cerr << "eps_torch_files: --tol '" << argv[i + 1] << "': expected a number >= 0\n";
        return 2;
      }
    }
  }
  try {
    if (!fs::is_directory(dir)) {
      std::cerr << "eps_torch_files: '" << dir.string() << "' is not a folder\n";
      return 2;
    }
    const json now = outputs_of(dir);
    if (mode == "write") {
      eps::write_file_atomic(outputs, to_text(now));
      std::cout << "wrote " << outputs.string() << ": " << now["files"].size() << " files under LibTorch "
                << now["torch"].get<std::string>() << "\n";
      return 0;
    }
    const json then = json::parse(eps::read_file(outputs));
    std::cout << "files written under LibTorch " << then.at("torch").get<std::string>() << ", read under "
              << now["torch"].get<std::string>() << " (tolerance " << tol << "):\n";
    bool ok = true;
    for (const auto& [rel, f] : then.at("files").items()) {
      if (!now["files"].contains(rel)) {
        std::cout << "  " << rel << ": MISSING  FAIL\n";
        ok = false;
        continue;
      }
      for (const auto& [key, v] : f.items()) {
        const double d = largest_difference(v, now["files"][rel].value(key, json()));
        const bool pass = d <= tol;
        ok = ok && pass;
        std::cout << "  " << rel << " " << key << " (" << (v.is_array() ? v.size() : 1)
                  << " numbers): largest difference " << d << (pass ? "" : "  FAIL") << "\n";
      }
    }
    if (now["files"].size() != then["files"].size()) {
      std::cout << "  " << now["files"].size() << " files here, " << then["files"].size() << " in " << outputs.string()
                << "  FAIL\n";
      ok = false;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "eps_torch_files: " << e.what() << "\n";
    return 1;
  }
}
