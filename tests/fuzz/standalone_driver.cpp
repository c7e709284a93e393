// SPDX-License-Identifier: MIT
// A mutation driver for the fuzz targets (LLVMFuzzerTestOneInput) where libFuzzer is not available: the LibTorch
// readers (clang cannot compile LibTorch 1.13's headers in C++20 mode, so they are built by g++, under ASan and
// UBSan in the dev preset), and every target on a machine without clang. No coverage guidance: it mutates the
// seed corpus at random — bit flips, byte values, truncations, and, for zip archives, edits inside one entry
// with its CRC-32 repaired, so that inputs pass the zip check and reach LibTorch's reader and the fields eps reads.
//   driver [-runs=N] [-max_total_time=S] [-timeout=S] [-seed=K] [-detect_leaks=1] CORPUS_DIR_OR_FILE...
// Exit 0 after the runs; a crash, a sanitizer report or an escaping exception ends the process, and the input
// is written to crash-input in the working directory (a regression case for tests/fuzz/regressions/).
// LeakSanitizer checks at exit; -detect_leaks=1 (ASan builds) also checks after every input that left more
// heap allocated than before it (libFuzzer's rule: a heap scan only then), which names the input that leaked
// (leak-input).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "eps/networks/zip_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

#if defined(__SANITIZE_ADDRESS__)
extern "C" void __sanitizer_set_death_callback(void (*)(void));
extern "C" int __lsan_do_recoverable_leak_check();
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

namespace fs = std::filesystem;

/// The input being run, written to crash-input when the process dies on it (a sanitizer report, an escaping
/// exception), so that a finding becomes a regression input.
const std::string* current = nullptr;
#if !defined(__SANITIZE_ADDRESS__)
/// On a fatal signal (an unsanitized build): the input to crash-input with async-signal-safe calls, then die.
void on_signal(int sig) {
  if (current) {
    const int fd = ::open("crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!::write(fd, current->data(), current->size());
      ::close(fd);
    }
    static const char msg[] = "driver: fatal signal; the input is in crash-input\n";
    (void)!::write(2, msg, sizeof msg - 1);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
#endif
void keep_current() {
  if (!current) return;
  std::ofstream keep("crash-input", std::ios::binary);
  keep.write(current->data(), static_cast<std::streamsize>(current->size()));
  std::cerr << "driver: the input is in crash-input (" << current->size() << " bytes)\n";
}

std::uint64_t le(const std::string& b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}
void put32(std::string& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

/// A stored entry of a zip archive: where its data is, and where its two CRC fields are.
struct Entry {
  std::size_t data = 0, size = 0, local_crc = 0, central_crc = 0;
};

/// The stored entries of a well-formed archive (empty if it is not one).
std::vector<Entry> stored_entries(const std::string& b) {
  std::vector<Entry> out;
  if (b.size() < 22) return out;
  const std::size_t eocd = b.rfind(std::string("PK\x05\x06", 4));
  if (eocd == std::string::npos || eocd + 22 > b.size()) return out;
  std::size_t at = le(b, eocd + 16, 4);
  const std::uint64_t n = le(b, eocd + 10, 2);
  for (std::uint64_t e = 0; e < n && at + 46 <= b.size() && le(b, at, 4) == 0x02014b50u; ++e) {
    const std::size_t nlen = le(b, at + 28, 2), xlen = le(b, at + 30, 2), clen = le(b, at + 32, 2);
    const std::size_t local = le(b, at + 42, 4), size = le(b, at + 20, 4);
    if (le(b, at + 10, 2) == 0 && local + 30 <= b.size()) {
      const std::size_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
      if (data + size <= b.size()) out.push_back({data, size, local + 14, at + 16});
    }
    at += 46 + nlen + xlen + clen;
  }
  return out;
}

std::string mutate(std::string b, std::mt19937_64& g) {
  std::uniform_int_distribution<int> pick(0, 99);
  const int what = pick(g);
  const auto pos = [&](std::size_t lo, std::size_t n) {
    return lo + std::uniform_int_distribution<std::size_t>(0, n ? n - 1 : 0)(g);
  };
  static const unsigned char specials[] = {0, 1, 0x7F, 0x80, 0xFF, 'X', '[', '{', 0x4B};
  const std::vector<Entry> es = what < 70 ? stored_entries(b) : std::vector<Entry>{};
  if (!es.empty()) {  // inside one entry, CRC repaired
    const Entry& e = es[pos(0, es.size())];
    if (e.size == 0) return b;
    const int edits = 1 + static_cast<int>(pos(0, 4));
    for (int k = 0; k < edits; ++k) {
      const std::size_t i = pos(e.data, e.size);
      b[i] = pick(g) < 50 ? static_cast<char>(b[i] ^ (1 << pos(0, 8))) : static_cast<char>(specials[pos(0, 9)]);
    }
    const std::uint32_t c = eps::networks::crc32(reinterpret_cast<const unsigned char*>(b.data()) + e.data, e.size);
    put32(b, e.local_crc, c);
    put32(b, e.central_crc, c);
    return b;
  }
  if (b.empty()) return std::string(1, static_cast<char>(pos(0, 256)));
  if (what < 85) {  // raw bytes
    const int edits = 1 + static_cast<int>(pos(0, 8));
    for (int k = 0; k < edits; ++k) {
      const std::size_t i = pos(0, b.size());
      b[i] = pick(g) < 50 ? static_cast<char>(b[i] ^ (1 << pos(0, 8))) : static_cast<char>(specials[pos(0, 9)]);
    }
    return b;
  }
  if (what < 95) {  // truncate
    b.resize(pos(0, b.size()));
    return b;
  }
  const std::size_t i = pos(0, b.size() + 1);  // insert a few bytes
  b.insert(i, std::string(1 + pos(0, 8), static_cast<char>(specials[pos(0, 9)])));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = -1;
  double max_time = 10, timeout = 1200, slowest = 0;  // seconds; libFuzzer's defaults for -timeout
  std::uint64_t seed = 1;
  bool leaks_per_input = false;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0)
      runs = std::stol(a.substr(6));
    else if (a.rfind("-max_total_time=", 0) == 0)
      max_time = std::stod(a.substr(16));
    else if (a.rfind("-timeout=", 0) == 0)
      timeout = std::stod(a.substr(9));
    else if (a.rfind("-seed=", 0) == 0)
      seed = std::stoull(a.substr(6));
    else if (a.rfind("-detect_leaks=", 0) == 0)
      leaks_per_input = a.substr(14) == "1";
    else if (fs::is_directory(a))
      for (const auto& f : fs::directory_iterator(a)) corpus.push_back(f.path().string());
    else if (fs::exists(a))
      corpus.push_back(a);
    else {
      std::cerr << "driver: no such corpus '" << a << "'\n";
      return 2;
    }
  }
  std::sort(corpus.begin(), corpus.end());
  std::vector<std::string> seeds;
  for (const auto& f : corpus) {
    std::ifstream in(f, std::ios::binary);
    seeds.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) seeds.emplace_back();
  // Every seed once as it is, then mutants until the runs or the time are spent.
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(keep_current);
#else
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_signal);
#endif
  std::set_terminate([] {
    if (const std::exception_ptr e = std::current_exception()) try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::cerr << "driver: an exception escaped the target: " << x.what() << "\n";
      } catch (...) {
        std::cerr << "driver: an exception of unknown type escaped the target\n";
      }
    keep_current();
    std::abort();
  });
  // One input through the target; with -detect_leaks=1, a leak check after it if the heap grew (the leaking
  // input kept).
  const auto run = [&](const std::string& in) {
    current = &in;
#if defined(__SANITIZE_ADDRESS__)
    const std::size_t before = __sanitizer_get_current_allocated_bytes();
#endif
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
#if defined(__SANITIZE_ADDRESS__)
    if (leaks_per_input && __sanitizer_get_current_allocated_bytes() > before &&
        __lsan_do_recoverable_leak_check() != 0) {
      std::ofstream("leak-input", std::ios::binary).write(in.data(), static_cast<std::streamsize>(in.size()));
      std::cerr << "driver: the input above leaked; it is in leak-input (" << in.size() << " bytes)\n";
      std::_Exit(1);  // not exit: LeakSanitizer's own check at exit would report the same leak again
    }
#else
    if (leaks_per_input) {
      std::cerr << "driver: -detect_leaks=1 needs a build with AddressSanitizer\n";
      std::exit(2);
    }
#endif
  };
  for (const auto& s : seeds) run(s);
  std::mt19937_64 g(seed);
  const auto t0 = std::chrono::steady_clock::now();
  long n = 0;
  for (;; ++n) {
    if (runs >= 0 && n >= runs) break;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (runs < 0 && el >= max_time) break;
    std::string in = mutate(seeds[std::uniform_int_distribution<std::size_t>(0, seeds.size() - 1)(g)], g);
    if (std::uniform_int_distribution<int>(0, 3)(g) == 0) in = mutate(std::move(in), g);
    const auto t1 = std::chrono::steady_clock::now();
    run(in);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    if (dt > slowest) {
      slowest = dt;
      if (dt > timeout) {  // libFuzzer's -timeout, checked after the input returns
        std::ofstream("slow-input", std::ios::binary).write(in.data(), static_cast<std::streamsize>(in.size()));
        std::cerr << "driver: one input took " << dt << " s (over -timeout=" << timeout << "), kept as ./slow-input\n";
        return 1;
      }
    }
  }
  current = nullptr;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "driver: " << n << " mutated inputs (+" << seeds.size() << " seeds) in " << el << " s, "
            << (el > 0 ? double(n) / el : 0.0) << "/s, slowest " << slowest << " s, no crash\n";
  return 0;
}
