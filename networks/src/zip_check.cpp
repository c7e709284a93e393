// SPDX-License-Identifier: MIT
#include "eps/networks/zip_check.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <set>
#include <string_view>
#include <vector>

namespace eps::networks {

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

namespace {

std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
/// ASCII lower case, as miniz compares entry names (LibTorch's lookups are case-insensitive).
std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// Consumes `word` at `p` of `s`.
bool eat(std::string_view s, std::size_t& p, std::string_view word) {
  if (s.substr(p, word.size()) != word) return false;
  p += word.size();
  return true;
}

/// A type of the declarative module code LibTorch writes for eps's archives: Tensor, int, float, str, bool,
/// Tuple[...] of those, or a submodule __torch__.___torch_mangle_N.Module (or __torch__.Module).
bool type_at(std::string_view s, std::size_t& p, bool nested = false) {
  for (std::string_view simple : {"Tensor", "int", "float", "str", "bool"})
    if (eat(s, p, simple)) return true;
  if (!nested && eat(s, p, "Tuple[")) {
    do {
      if (!type_at(s, p, true)) return false;
    } while (eat(s, p, ", "));
    return eat(s, p, "]");
  }
  if (!nested && eat(s, p, "__torch__.")) {
    if (eat(s, p, "___torch_mangle_")) {
      const std::size_t d = p;
      while (p < s.size() && is_digit(s[p])) ++p;
      if (p == d || !eat(s, p, ".")) return false;
    }
    return eat(s, p, "Module");
  }
  return false;
}

/// A quoted name: "…" of letters, digits, '_', '.', '/'.
bool quoted_at(std::string_view s, std::size_t& p) {
  if (!eat(s, p, "\"")) return false;
  const std::size_t b = p;
  while (p < s.size() && (is_ident_char(s[p]) || s[p] == '.' || s[p] == '/')) ++p;
  return p > b && eat(s, p, "\"");
}

/// One line of the declarative module code (class header, __parameters__/__buffers__/__annotations__
/// lists, attribute annotations), nothing else.
bool code_line_ok(std::string_view s) {
  std::size_t p = 0;
  if (s.empty() || s == "class Module(Module):" || s == "  __annotations__ = []") return true;
  if (eat(s, p, "  __parameters__ = [") || eat(s, p, "  __buffers__ = [")) {
    while (quoted_at(s, p))
      if (!eat(s, p, ", ")) return false;
    return eat(s, p, "]") && p == s.size();
  }
  if (eat(s, p, "  __annotations__[")) return quoted_at(s, p) && eat(s, p, "] = ") && type_at(s, p) && p == s.size();
  if (!eat(s, p, "  ") || p >= s.size() || is_digit(s[p])) return false;
  const std::size_t b = p;
  while (p < s.size() && is_ident_char(s[p])) ++p;
  return p > b && eat(s, p, " : ") && type_at(s, p) && p == s.size();
}

/// The first problem of a pickle (the protocol-2 opcodes LibTorch writes for data.pkl and constants.pkl): an
/// unknown opcode, an argument that runs past the end, a memo index beyond the opcodes read so far (LibTorch's
/// unpickler sizes its memo table by the index it reads: one changed byte asked for 3.6 GB and half a minute,
/// tests/fuzz/regressions/part), or bytes after STOP. Nothing for a well-formed pickle.
std::optional<std::string> pickle_problem(std::string_view p) {
  std::size_t at = 0, ops = 0, depth = 0;  // depth: objects on the unpickler's stack
  std::vector<std::size_t> marks;          // the depth at each open MARK
  const auto le = [&](std::size_t from, int n) {
    std::uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | static_cast<unsigned char>(p[from + std::size_t(i)]);
    return x;
  };
  const auto where = [&](const std::string& what) { return what + " at byte " + std::to_string(at); };
  // Objects above the innermost MARK (LibTorch's unpickler pops from an empty stack without a check: a
  // NEWOBJ with nothing before it crashed it, tests/fuzz/regressions/part).
  const auto above_mark = [&] { return depth - (marks.empty() ? 0 : marks.back()); };
  while (at < p.size()) {
    const auto op = static_cast<unsigned char>(p[at]);
    const std::size_t rest = p.size() - at - 1;
    std::uint64_t arg = 0;  // bytes of argument after the opcode
    std::size_t pop = 0, push = 0;
    bool to_mark = false;
    switch (op) {
      case '.':  // STOP
        if (depth != 1 || !marks.empty()) return where("STOP with " + std::to_string(depth) + " objects");
        return at + 1 == p.size() ? std::nullopt : std::optional<std::string>(where("bytes after STOP"));
      case ')':
      case '}':
      case ']':
      case 'N':
      case 0x88:
      case 0x89:
        push = 1;
        break;
      case '(':
        marks.push_back(depth);
        break;
      case 't':
        to_mark = true;
        push = 1;
        break;  // TUPLE
      case 'u':
      case 'e':
        to_mark = true;
        pop = 1;
        push = 1;
        break;  // SETITEMS, APPENDS: onto the dict or list
      case 0x85:
        pop = 1;
        push = 1;
        break;  // TUPLE1
      case 0x86:
        pop = 2;
        push = 1;
        break;  // TUPLE2
      case 0x87:
      case 's':
        pop = 3;
        push = 1;
        break;  // TUPLE3; SETITEM (dict, key, value)
      case 'R':
      case 0x81:
      case 'b':
      case 'a':
        pop = 2;
        push = 1;
        break;  // REDUCE, NEWOBJ, BUILD, APPEND
      case 'Q':
      case 0x94:
        pop = 1;
        push = 1;
        break;  // BINPERSID, MEMOIZE
      case 0x80:
        arg = 1;
        break;
      case 'K':
        arg = 1;
        push = 1;
        break;
      case 'M':
        arg = 2;
        push = 1;
        break;
      case 'J':
        arg = 4;
        push = 1;
        break;
      case 'G':
        arg = 8;
        push = 1;
        break;
      case 0x95:
        arg = 8;
        break;
      case 'q':
      case 'h':
      case 'r':
      case 'j': {  // BINPUT, BINGET (1-byte index); LONG_BINPUT, LONG_BINGET (4)
        arg = (op == 'q' || op == 'h') ? 1 : 4;
        if (rest < arg) return where("a memo index past the end");
        if (le(at + 1, int(arg)) > ops) return where("a memo index beyond the opcodes read");
        if (op == 'q' || op == 'r')
          pop = push = 1;
        else
          push = 1;
        break;
      }
      case 'X':
      case 'T':
      case 'B':  // BINUNICODE, BINSTRING, BINBYTES: 4-byte length
        if (rest < 4) return where("a length past the end");
        arg = 4 + le(at + 1, 4);
        push = 1;
        break;
      case 'U':
      case 'C':
      case 0x8c:
      case 0x8a:  // 1-byte length: SHORT_BINSTRING/BYTES/UNICODE, LONG1
        if (rest < 1) return where("a length past the end");
        arg = 1 + le(at + 1, 1);
        push = 1;
        break;
      case 'c': {  // GLOBAL: module\nname\n
        const std::size_t a = p.find('\n', at + 1);
        const std::size_t b = a == std::string_view::npos ? a : p.find('\n', a + 1);
        if (b == std::string_view::npos) return where("an unterminated GLOBAL");
        arg = b - at;
        push = 1;
        break;
      }
      default:
        return where("opcode " + std::to_string(op) + " not written by LibTorch");
    }
    if (arg > rest) return where("an argument past the end");
    if (to_mark) {  // pops everything above the innermost MARK, then `pop` more below it
      if (marks.empty()) return where("a MARK-delimited opcode without a MARK");
      depth = marks.back();
      marks.pop_back();
    }
    if (above_mark() < pop) return where("an opcode that pops an empty stack");
    depth = depth - pop + push;
    at += 1 + static_cast<std::size_t>(arg);
    ++ops;
  }
  return "no STOP (truncated)";
}

/// The first line of `code` that is not declarative module code, or nothing.
std::optional<std::string> code_problem(std::string_view code) {
  std::size_t line = 1;
  for (std::size_t b = 0; b <= code.size(); ++line) {
    const std::size_t e = std::min(code.find('\n', b), code.size());
    if (!code_line_ok(code.substr(b, e - b))) return "line " + std::to_string(line);
    b = e + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> zip_problem(const std::string& b, bool declarative_code) {
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
  std::string folder, version_name, data_version_name;  // the last two in lower case, set by the first entry
  std::optional<std::string> version, data_version;
  std::set<std::string> names;  // lower case: miniz finds an entry by its name in any case
  if (entries == 0) return "corrupt file (the zip archive has no entries)";
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
    const std::string name = b.substr(at + 46, nlen), lname = lower(name);
    // LibTorch looks entries up by C string, in any case (miniz): a NUL in a name cuts its lookups short, and two
    // names equal but for case leave which one it reads to miniz's search. eps writes neither.
    if (name.find('\0') != std::string::npos)
      return "corrupt file (the name of central directory entry " + std::to_string(e) + " holds a NUL byte)";
    if (!names.insert(lname).second) return "corrupt file (two entries are named '" + name + "')";
    // Encrypted, patch or masked entries: miniz refuses to read them (eps's writers never set these flags).
    if (const std::uint64_t flags = le(b, at + 8, 2); flags & 0x2061u) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04x", static_cast<unsigned>(flags));
      return "entry '" + name + "' is encrypted or patch data (zip flags 0x" + hex + "; eps reads plain entries)";
    }
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
    std::string inflated;
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
      inflated.assign(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(usize));
    }
    if (got != crc)
      return "corrupt file (entry '" + name + "' fails its CRC-32 check: its bytes changed after it was written)";
    // What LibTorch's reader checks once the zip directory is read (a throw there leaks its zip state): the
    // first entry names the archive's folder, which holds the file format version.
    const std::string_view content =
        method == 0 ? std::string_view(b).substr(data, static_cast<std::size_t>(csize)) : std::string_view(inflated);
    if (e == 0) {
      const std::size_t slash = name.find('/');
      if (slash == std::string::npos)
        return "corrupt file (its first entry '" + name + "' is not in the archive's folder)";
      folder = name.substr(0, slash);
      version_name = lower(folder) + "/version";
      data_version_name = lower(folder) + "/.data/version";
    }
    if (lname == version_name)
      version = std::string(content);
    else if (lname == data_version_name)
      data_version = std::string(content);
    // eps's own archives: the module code must be declarations and the pickles LibTorch's opcodes.
    const auto ends_with = [&](std::string_view tail) {
      return name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    const bool code = name.find("/code/") != std::string::npos && ends_with(".py");
    const bool pickle = ends_with(".pkl");
    if (declarative_code && (code || pickle)) {
      if (const auto where = code ? code_problem(content) : pickle_problem(content))
        return "corrupt file (entry '" + name + "', " + *where +
               (code ? ": not the module declarations eps writes; a file eps wrote was altered)"
                     : ": not a pickle eps writes; a file eps wrote was altered)");
    }
    at += 46 + nlen + xlen + clen;
  }
  // LibTorch reads .data/version where it exists, else version: a decimal number in [1, kMaxTorchFileFormat].
  const std::optional<std::string>& v = data_version ? data_version : version;
  if (!v) return "corrupt file (no file format version: '" + folder + "/version' is missing)";
  std::size_t i = v->find_first_not_of(" \t\n\r");
  std::uint64_t n = 0;
  bool digits = false;
  for (; i < v->size() && (*v)[i] >= '0' && (*v)[i] <= '9' && n <= 1000; ++i, digits = true)
    n = n * 10 + static_cast<std::uint64_t>((*v)[i] - '0');
  if (!digits) return "corrupt file (its file format version is not a number)";
  if (n > kMaxTorchFileFormat)
    return "it was saved by a PyTorch newer than this LibTorch reads (file format version " +
           (n > 1000 ? std::string("over 1000") : std::to_string(n)) + "; LibTorch 1.13 and 2.6 read up to " +
           std::to_string(kMaxTorchFileFormat) + "): export it with the torch of your LibTorch";
  if (n < 1) return "corrupt file (file format version 0)";
  return std::nullopt;
}

}  // namespace eps::networks
