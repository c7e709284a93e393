// SPDX-License-Identifier: MIT
#include "eps/networks/model_file.hpp"

#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <vector>

#include <zlib.h>
#include <iterator>
#include <sstream>

namespace eps::networks {

namespace {

/// CRC-32 (IEEE 802.3, the zip format's), table-driven.
std::uint32_t crc32(const unsigned char* p, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::optional<std::string> zip_problem(const std::string& b) {
  const auto sig = [&](std::size_t at, std::uint32_t s) { return at + 4 <= b.size() && le(b, at, 4) == s; };
  if (!sig(0, 0x04034b50u)) return "corrupt or foreign file (not a zip archive)";
  // The end of central directory record: the last signature within the final 22 + 65535 bytes.
  std::size_t eocd = std::string::npos;
  for (std::size_t i = b.size() >= 22 ? b.size() - 22 : 0;; --i) {
    if (sig(i, 0x06054b50u)) {
      eocd = i;
      break;
    }
    if (i == 0 || b.size() - i > 22 + 65535) break;
  }
  if (eocd == std::string::npos || eocd + 22 > b.size())
    return "corrupt file (truncated: the zip archive has no central directory at its end)";
  std::uint64_t entries = le(b, eocd + 10, 2), cd_size = le(b, eocd + 12, 4), cd_off = le(b, eocd + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {  // zip64: its locator precedes the EOCD
    if (eocd < 20 || !sig(eocd - 20, 0x07064b50u)) return "corrupt file (a zip64 archive without its locator)";
    const std::uint64_t z = le(b, eocd - 20 + 8, 8);
    if (z > b.size() || z + 56 > b.size() || !sig(static_cast<std::size_t>(z), 0x06064b50u))
      return "corrupt file (the zip64 end record is missing)";
    entries = le(b, static_cast<std::size_t>(z) + 32, 8);
    cd_size = le(b, static_cast<std::size_t>(z) + 40, 8);
    cd_off = le(b, static_cast<std::size_t>(z) + 48, 8);
  }
  if (cd_off > b.size() || cd_size > b.size() - cd_off) return "corrupt file (the central directory lies outside it)";
  std::size_t at = static_cast<std::size_t>(cd_off);
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > b.size() || !sig(at, 0x02014b50u))
      return "corrupt file (central directory entry " + std::to_string(e) + " is damaged)";
    const std::uint64_t method = le(b, at + 10, 2), crc = le(b, at + 16, 4);
    std::uint64_t csize = le(b, at + 20, 4), usize = le(b, at + 24, 4), local = le(b, at + 42, 4);
    const std::size_t nlen = static_cast<std::size_t>(le(b, at + 28, 2)),
                      xlen = static_cast<std::size_t>(le(b, at + 30, 2)),
                      clen = static_cast<std::size_t>(le(b, at + 32, 2));
    if (at + 46 + nlen + xlen + clen > b.size())
      return "corrupt file (central directory entry " + std::to_string(e) + " is cut)";
    const std::string name = b.substr(at + 46, nlen);
    // Zip64 sizes and offset live in the extra field (id 1), in this order, for the fields set to all ones.
    for (std::size_t x = at + 46 + nlen; x + 4 <= at + 46 + nlen + xlen;) {
      const std::uint64_t id = le(b, x, 2), len = le(b, x + 2, 2);
      if (x + 4 + len > at + 46 + nlen + xlen) return "corrupt file (entry '" + name + "' has a damaged extra field)";
      if (id == 1) {
        std::size_t f = x + 4;
        const auto take = [&](std::uint64_t& v) {
          if (v == 0xFFFFFFFF && f + 8 <= x + 4 + len) {
            v = le(b, f, 8);
            f += 8;
          }
        };
        take(usize);
        take(csize);
        take(local);
      }
      x += 4 + static_cast<std::size_t>(len);
    }
    if (method != 0 && method != 8)
      return "entry '" + name + "' uses zip method " + std::to_string(method) +
             " (eps reads stored and deflated entries)";
    if (method == 0 && csize != usize) return "corrupt file (entry '" + name + "' has inconsistent sizes)";
    if (local > b.size() || local + 30 > b.size() || !sig(static_cast<std::size_t>(local), 0x04034b50u))
      return "corrupt file (the local header of entry '" + name + "' is damaged)";
    const auto lh = static_cast<std::size_t>(local);
    const auto lnlen = static_cast<std::size_t>(le(b, lh + 26, 2)), lxlen = static_cast<std::size_t>(le(b, lh + 28, 2));
    if (lnlen != nlen || lh + 30 + lnlen > b.size() || b.compare(lh + 30, lnlen, name) != 0)
      return "corrupt file (the local header of entry '" + name + "' names another entry)";
    const std::size_t data = lh + 30 + lnlen + lxlen;
    if (data > b.size() || csize > b.size() - data)
      return "corrupt file (entry '" + name + "' runs past the end: truncated)";
    const auto* bytes = reinterpret_cast<const unsigned char*>(b.data()) + data;
    std::uint32_t got = 0;
    if (method == 0) {
      got = crc32(bytes, static_cast<std::size_t>(csize));
    } else {  // deflate (LibTorch compresses the TorchScript code entries): inflated, then checked
      if (usize > (std::uint64_t{1} << 30)) return "corrupt file (entry '" + name + "' claims an implausible size)";
      std::vector<unsigned char> out(static_cast<std::size_t>(usize) + 1);
      z_stream zs{};
      if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return "cannot inflate entry '" + name + "'";
      zs.next_in = const_cast<unsigned char*>(bytes);
      zs.avail_in = static_cast<uInt>(csize);
      zs.next_out = out.data();
      zs.avail_out = static_cast<uInt>(out.size());
      const int rc = inflate(&zs, Z_FINISH);
      const std::uint64_t produced = zs.total_out;
      inflateEnd(&zs);
      if (rc != Z_STREAM_END || produced != usize)
        return "corrupt file (entry '" + name + "' does not inflate to its recorded size)";
      got = crc32(out.data(), static_cast<std::size_t>(usize));
    }
    if (got != crc)
      return "corrupt file (entry '" + name + "' fails its CRC-32 check: its bytes changed after it was written)";
    at += 46 + nlen + xlen + clen;
  }
  return std::nullopt;
}

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
  if (const auto problem = zip_problem(bytes)) bad(*problem);
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
