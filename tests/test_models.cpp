// SPDX-License-Identifier: MIT
// Models from outside (eps/networks/model.hpp, docs/own-model.md): TorchScript modules exported by Debian's
// PyTorch (tests/python/export_models.py, the ctest fixture `torchscript_models`) — one underlying x0-predictor
// in six parametrizations (x0, ε, v, flow velocity), five schedules (VE, VP-linear, VP-cosine, linear, a DDPM
// table), four time inputs (σ, t, an index, EDM's c_noise), two data ranges and two ways of declaring the
// contract, traced and scripted — must give the same denoiser to float32 round-off after eps's conversion, and
// the same EPS-less posterior samples (the zero-shot pivot and DPS, VJPs by autograd) from the same noise.
// Bad contracts and bad modules are named errors.
#include "torch_common.hpp"  // first: see there

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "eps/backends/torch_autograd.hpp"
#include "eps/baselines.hpp"
#include "eps/networks/model.hpp"
#include "eps/networks/zip_check.hpp"
#include "eps/samplers.hpp"

using namespace eps;
using namespace eps::test;
namespace fs = std::filesystem;

namespace {

/// Where the fixture wrote the modules (EPS_TORCHSCRIPT_DIR), or empty where it could not (no torch for
/// /usr/bin/python3): the cases then say so and check nothing.
std::string models_dir() {
  const char* d = std::getenv("EPS_TORCHSCRIPT_DIR");
  if (!d || !fs::exists(fs::path(d) / "ve_x0_traced.pt")) return {};
  return d;
}

/// Damage done to a zip archive's entries where LibTorch's reader throws after reading the zip directory (and
/// leaks its zip state): `version` rewrites the data of the "…/version" entry (same length, CRC-32 repaired in
/// the local header and the central directory); `encrypt` sets its "encrypted" flag; `nul_folder` puts a NUL
/// byte in the folder part of every name; `upper_version` renames it "…/VERSION" (which LibTorch still finds:
/// its lookups ignore case). False if the archive has no version entry.
bool damage(std::string& b, const std::string& how, const std::string& version = {}) {
  const auto le = [&](std::size_t at, int n) {
    std::size_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | static_cast<unsigned char>(b[at + std::size_t(i)]);
    return x;
  };
  const auto put32 = [&](std::size_t at, std::uint32_t x) {
    for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = static_cast<char>((x >> (8 * i)) & 0xFF);
  };
  const std::size_t eocd = b.rfind(std::string("PK\x05\x06", 4));
  if (eocd == std::string::npos) return false;
  bool found = false;
  std::size_t c = le(eocd + 16, 4);
  for (std::size_t e = 0, n = le(eocd + 10, 2); e < n; ++e) {
    const std::size_t nlen = le(c + 28, 2), size = le(c + 20, 4), local = le(c + 42, 4);
    const std::string name = b.substr(c + 46, nlen);
    if (how == "nul_folder") {
      b[c + 46 + 1] = b[local + 30 + 1] = '\0';
      found = true;
    }
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "/version") == 0) {
      found = true;
      if (how == "encrypt") b[c + 8] = static_cast<char>(b[c + 8] | 1);
      if (how == "upper_version")
        for (std::size_t at : {c + 46, local + 30}) b.replace(at + nlen - 7, 7, "VERSION");
      if (how == "version") {
        if (size < version.size()) return false;
        const std::size_t data = local + 30 + le(local + 26, 2) + le(local + 28, 2);
        b.replace(data, size, version + std::string(size - version.size(), '\n'));
        const std::uint32_t crc = networks::crc32(reinterpret_cast<const unsigned char*>(b.data()) + data, size);
        put32(local + 14, crc);
        put32(c + 16, crc);
      }
    }
    c += 46 + nlen + le(c + 30, 2) + le(c + 32, 2);
  }
  return found;
}

const std::vector<std::string> kNames{"ve_x0_traced",  "ve_x0_scripted", "vp_linear_eps",      "vp_cosine_v_01",
                                      "flow_velocity", "table_eps",      "ve_cnoise_attribute"};

}  // namespace

TEST_CASE("models: one x0-predictor exported in every parametrization is one denoiser after the conversion") {
  const std::string dir = models_dir();
  if (dir.empty()) {
    MESSAGE("EPS_TORCHSCRIPT_DIR has no exported modules (python3-torch missing?): skipped");
    return;
  }
  const at::Device cpu(at::kCPU);
  std::vector<networks::Model> ms;
  for (const std::string& n : kNames) ms.push_back(networks::Model::load(fs::path(dir) / (n + ".pt"), cpu));
  CHECK(ms[3].contract().data_min == 0.0);
  CHECK(ms[3].sigma_data() == doctest::Approx(0.5));  // 0.25 in [0, 1] is 0.5 in eps's [−1, 1]
  CHECK(ms[6].contract().time == networks::TimeInput::c_noise);
  at::manual_seed(3);
  const at::Tensor xbar = at::randn({3, 1, 28, 28});
  // Ratios from EDM's σ_min to σ_max, inside every schedule's range (the flow's σ/α is unbounded; VP-linear reaches
  // ~151, the table ~157, VP-cosine ~636 in eps's data units after the [0, 1] map halves it).
  for (double ratio : {0.002, 0.01, 0.1, 0.7, 3.0, 40.0, 80.0}) {
    CAPTURE(ratio);
    const at::Tensor ref = ms[0].x0(xbar, ratio);
    for (std::size_t i = 1; i < ms.size(); ++i) {
      CAPTURE(kNames[i]);
      // DDPM's table starts at ᾱ_0 = 1 − 1e-4, σ/α ≈ 0.01: below that the model is evaluated at its first entry.
      if (kNames[i] == "table_eps" && ratio < 0.01) continue;
      const at::Tensor got = ms[i].x0(xbar, ratio);
      // float32 through different arithmetic (α, σ recomputed in the module, ε and v round trips): relative to
      // the output's scale, with room for the 1/σ of ε and v at small ratios.
      const double tol = ratio < 0.05 ? 2e-3 : 2e-4;
      CHECK(max_abs(got - ref) <= tol * std::max(1.0, max_abs(ref)));
    }
  }
}

TEST_CASE("models: the same zero-shot and DPS samples from the same noise on every export") {
  const std::string dir = models_dir();
  if (dir.empty()) {
    MESSAGE("no exported modules: skipped");
    return;
  }
  const at::Device cpu(at::kCPU);
  const ImageShape g{1, 28, 28};
  at::manual_seed(5);
  const at::Tensor x0 = at::rand({2, 1, 28, 28}) * 2 - 1;
  const Mask<at::Tensor> A((at::rand({2, 1, 28, 28}) > 0.6).to(at::kFloat), g.shape());
  const at::Tensor y = A.apply(x0) + 0.05 * at::randn({2, 1, 28, 28});
  const VeEdm s;  // eps samples on its own schedule, whatever the model's
  EdmOptions o;
  o.steps = 8;
  const at::Tensor xT = 80 * at::randn({2, 1, 28, 28});
  at::Tensor ref_zs, ref_dps;
  for (const std::string& n :
       {std::string("ve_x0_traced"), std::string("vp_linear_eps"), std::string("vp_cosine_v_01")}) {
    CAPTURE(n);
    const networks::Model m = networks::Model::load(fs::path(dir) / (n + ".pt"), cpu);
    const auto D = [&](const at::Tensor& x, double t) { return m.denoise(s, x, t); };
    const at::Tensor zs = edm_sample(zero_shot_denoiser(D, s, A, y, 0.05), s, xT, o).x;
    const auto r = dps_sample(libtorch::autograd_denoiser(D), s, A, y, xT, o, DpsOptions{0.5});
    CHECK(r.vjp == 8);
    if (!ref_zs.defined()) {
      ref_zs = zs;
      ref_dps = r.x;
      continue;
    }
    CHECK(max_abs(zs - ref_zs) <= 2e-3);
    CHECK(max_abs(r.x - ref_dps) <= 2e-3);
  }
}

TEST_CASE("models: bad contracts and bad modules are named errors") {
  const std::string dir = models_dir();
  if (dir.empty()) {
    MESSAGE("no exported modules: skipped");
    return;
  }
  const at::Device cpu(at::kCPU);
  const fs::path work = fs::temp_directory_path() / "eps_test_models";
  fs::create_directories(work);
  const auto with_contract = [&](const std::string& contract) {
    const fs::path p = work / "m.pt";
    fs::copy_file(fs::path(dir) / "ve_x0_traced.pt", p, fs::copy_options::overwrite_existing);
    std::ofstream(p.string() + ".json") << contract;
    return p;
  };
  const auto message = [&](const fs::path& p) -> std::string {
    try {
      (void)networks::Model::load(p, cpu);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(loaded)";
  };
  const std::string shape = R"("shape": [1, 28, 28])";
  CHECK(message(with_contract(R"({"schedule": "ve_edm", "time": "sigma", )" + shape + "}"))
            .find("missing \"predicts\"") != std::string::npos);
  CHECK(message(with_contract(R"({"predicts": "score", "schedule": "ve_edm", "time": "sigma", )" + shape + "}"))
            .find("\"score\" is not one of x0, epsilon, v, velocity") != std::string::npos);
  CHECK(message(with_contract(R"({"predicts": "x0", "schedule": "cosine", "time": "sigma", )" + shape + "}"))
            .find("unknown schedule 'cosine'") != std::string::npos);
  CHECK(message(with_contract(R"({"predicts": "x0", "schedule": "ve_edm", "time": "sigma"})"))
            .find("missing \"shape\"") != std::string::npos);
  CHECK(message(with_contract(R"({"predicts": "x0", "schedule": "ve_edm", "time": "sigma", "shape": [3, 28, 28]})"))
            .find("probe call on zeros of [1, 3, 28, 28] failed") != std::string::npos);
  CHECK(message(with_contract("{not json")).find("not valid JSON") != std::string::npos);
  // No contract at all.
  fs::remove(work / "m.pt.json");
  CHECK(message(work / "m.pt").find("without a contract") != std::string::npos);
  // A module whose output is not finite.
  CHECK(message(fs::path(dir) / "nan_output.pt").find("non-finite") != std::string::npos);
  // What LibTorch 1.13 refuses after reading the zip directory (where it leaks its zip state), each with a
  // contract beside it: named before LibTorch reads. File format versions (the "…/version" entry rewritten),
  // an encrypted version entry, a NUL byte in the folder's name; a version entry named in upper case loads.
  for (const auto& [how, version, expected] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"version", "99", "newer than this LibTorch reads"},
           {"version", "0", "file format version 0"},
           {"version", "x", "version is not a number"},
           {"encrypt", "", "version' is encrypted or patch data"},
           {"nul_folder", "", "central directory entry 0 holds a NUL byte"},
           {"upper_version", "", "(loaded)"}}) {
    std::ifstream in(fs::path(dir) / "ve_x0_traced.pt", std::ios::binary);
    std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(damage(b, how, version));
    std::ofstream(work / "damaged.pt", std::ios::binary) << b;
    std::ofstream((work / "damaged.pt").string() + ".json")
        << R"({"predicts": "x0", "schedule": "ve_edm", "time": "sigma", )" + shape + "}";
    const std::string msg = message(work / "damaged.pt");
    CAPTURE(how);
    CAPTURE(msg);
    CHECK(msg.find(expected) != std::string::npos);
  }
  fs::remove_all(work);
}
