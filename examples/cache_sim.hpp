// The pieces of the cache_sim example that its tests reuse: reading a trace
// (text, gzipped text, libCacheSim oracleGeneral binary), Bélády's offline
// optimum, replaying a trace through a cache, and writing the CSV, JSON and
// SVG outputs (quoting names, checking the writes). The standard library
// and POSIX (popen, getline, the exit status of gzip) only.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cache_sim {

/// True when `s` ends with `suffix`.
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// `s` as one CSV field (RFC 4180): in quotes, its quotes doubled, when it
/// holds a comma, a quote or a line break; as it is otherwise.
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

/// `s` as a JSON string, quotes included: `"` and `\` escaped, control
/// characters as \u00XX (other bytes, UTF-8 included, as they are).
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + '"';
}

/// `s` as XML character data (an SVG text element or attribute value): `&`,
/// `<`, `>` and `"` as entities.
inline std::string xml_text(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// Writes `text` to the file `path`, replacing it. Throws std::runtime_error,
/// naming the file, when it cannot be created or written (a missing folder,
/// a full disk).
inline void write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !written)
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(written ? errno : write_errno));
}

/// The cache sizes of a list "N,N,...": each a decimal integer from 1 to
/// `max` (blanks around it allowed); returned sorted, each once. Throws
/// std::invalid_argument naming the first bad item (empty, zero, signed, not
/// a number, above `max`).
inline std::vector<std::size_t> parse_sizes(const std::string& list, std::size_t max) {
  std::vector<std::size_t> sizes;
  for (std::size_t begin = 0;;) {
    const std::size_t comma = std::min(list.find(',', begin), list.size());
    const std::string item = list.substr(begin, comma - begin);
    const std::size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    const std::string digits = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    errno = 0;
    const unsigned long long n = std::strtoull(digits.c_str(), nullptr, 10);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || errno == ERANGE || n == 0 ||
        n > max)
      throw std::invalid_argument("bad size \"" + item + "\": sizes are integers from 1 to " + std::to_string(max));
    sizes.push_back(static_cast<std::size_t>(n));
    if (comma == list.size()) break;
    begin = comma + 1;
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

/// A trace in libCacheSim's oracleGeneral layout: 24-byte little-endian
/// records {u32 timestamp; u64 id; u32 size; i64 next access}. Recognised by
/// the file's name, not its folders': it contains "oracleGeneral" or ends
/// ".bin" (or ".bin.gz").
inline bool is_oracle_general(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  return name.find("oracleGeneral") != std::string::npos || ends_with(name, ".bin") || ends_with(name, ".bin.gz");
}

/// Reads the keys of a trace: text (one unsigned decimal key per line, at
/// its start after any blanks; what follows the key after a blank, ',' or
/// ';' is ignored, and lines that do not start with a number, such as
/// comments or a header, are skipped) or oracleGeneral binary, either
/// optionally gzipped (".gz": read through `gzip -dc`, so no zlib is needed).
/// Throws std::runtime_error, naming the file, when it cannot be opened or
/// read, when a file not named .gz is compressed (gzip, zstd or xz: its
/// bytes would be read as keys), when gzip cannot be run (not installed),
/// when `gzip -dc` fails (a corrupt or truncated .gz), when an
/// oracleGeneral trace ends in a partial record (its size is not a multiple
/// of 24 bytes), when a text key does not fit 64 bits or is not decimal (it
/// has a sign, or runs on into letters or a point: hexadecimal, a float;
/// naming the line),
/// and when the trace holds no requests.
inline std::vector<std::uint64_t> read_trace(const std::string& path) {
  const bool gz = ends_with(path, ".gz");
  // Open the file itself first, also for a .gz, so that a missing or
  // unreadable file gets the same plain message either way.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (gz) {
    std::fclose(f);
    if (path.find('\'') != std::string::npos) throw std::runtime_error("trace name must not contain a quote: " + path);
    f = popen(("gzip -dc '" + path + "'").c_str(), "r");
    if (f == nullptr) throw std::runtime_error("cannot run gzip -dc on " + path);
  } else {
    // A compressed file read as it is gives garbage keys (or a misleading
    // error): recognise the usual compressors by their whole magic numbers
    // (no text starts so; an oracleGeneral timestamp and key would have to
    // spell one out).
    static constexpr struct {
      const char* name;
      unsigned char bytes[6];
      std::size_t size;
    } compressed[] = {{"gzip", {0x1f, 0x8b, 0x08}, 3},
                      {"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4},
                      {"xz", {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6}};
    unsigned char magic[6] = {};
    const std::size_t got = std::fread(magic, 1, sizeof magic, f);
    std::rewind(f);
    for (const auto& c : compressed) {
      if (got >= c.size && std::memcmp(magic, c.bytes, c.size) == 0) {
        std::fclose(f);
        throw std::runtime_error(path + ": compressed with " + c.name +
                                 ": decompress it first (only a name ending .gz is read through gzip -dc)");
      }
    }
  }
  std::vector<std::uint64_t> keys;
  std::size_t partial = 0;   // bytes of an incomplete trailing oracleGeneral record
  std::size_t bad_line = 0;  // the first text line whose key is too large or not decimal
  std::string bad_key;       // what is wrong with it
  if (is_oracle_general(path)) {
    unsigned char rec[24];
    for (;;) {
      const std::size_t got = std::fread(rec, 1, sizeof rec, f);
      if (got != sizeof rec) {
        partial = got;
        break;
      }
      std::uint64_t id = 0;
      for (int b = 7; b >= 0; --b) id = (id << 8) | rec[4 + b];  // little-endian, whatever the host
      keys.push_back(id);
    }
  } else {
    char* line = nullptr;  // each whole line, however long (POSIX getline grows it)
    std::size_t line_capacity = 0;
    std::size_t line_number = 0;
    while (getline(&line, &line_capacity, f) != -1) {
      ++line_number;
      char* end = nullptr;
      errno = 0;
      const unsigned long long k = std::strtoull(line, &end, 10);
      if (end != line) {
        const char* token = line + std::strspn(line, " \t\v\f");
        const bool separated =
            *end == '\0' || *end == ',' || *end == ';' || std::isspace(static_cast<unsigned char>(*end));
        const bool signed_key = *token == '-' || *token == '+';  // strtoull wraps -1 to 2^64 - 1
        if (bad_line == 0 && (errno == ERANGE || !separated || signed_key)) {
          bad_line = line_number;
          bad_key = errno == ERANGE ? "key above 18446744073709551615 (2^64 - 1, the largest key)"
                                    : "not a decimal key: " + std::string(token, std::strcspn(token, " \t\r\n,;"));
        }
        keys.push_back(k);
      }
    }
    std::free(line);
  }
  const bool read_error = std::ferror(f) != 0;
  const int read_errno = errno;
  const int rc = gz ? pclose(f) : std::fclose(f);
  if (gz && WIFEXITED(rc) && (WEXITSTATUS(rc) == 126 || WEXITSTATUS(rc) == 127))  // the shell's "cannot run it"
    throw std::runtime_error("cannot run gzip to read " + path + ": is gzip installed and on the PATH?");
  if (gz && rc != 0) throw std::runtime_error("gzip -dc failed on " + path + " (corrupt or truncated .gz?)");
  if (read_error) throw std::runtime_error("cannot read " + path + ": " + std::strerror(read_errno));
  if (partial != 0) {
    throw std::runtime_error(path + ": truncated oracleGeneral trace: " + std::to_string(partial) +
                             " bytes after the last whole 24-byte record");
  }
  if (bad_line != 0) throw std::runtime_error(path + ":" + std::to_string(bad_line) + ": " + bad_key);
  if (keys.empty()) throw std::runtime_error(path + ": no requests in the trace");
  return keys;
}

/// For each request, the position of the next request of the same key
/// (keys.size() when there is none). O(n) expected.
inline std::vector<std::size_t> next_uses(const std::vector<std::uint64_t>& keys) {
  std::vector<std::size_t> next(keys.size());
  std::unordered_map<std::uint64_t, std::size_t> seen;
  seen.reserve(keys.size() / 4 + 16);
  for (std::size_t i = keys.size(); i-- > 0;) {
    auto [it, fresh] = seen.try_emplace(keys[i], keys.size());
    next[i] = it->second;
    it->second = i;
  }
  return next;
}

/// Bélády's optimum (MIN) for an object-count cache of `size` entries: the
/// most hits any policy can get, knowing the future. On a miss the requested
/// key is cached unless it is reused later than every cached key (bypass);
/// when full, the cached key reused furthest in the future is evicted (one
/// never reused first). O(n log n) expected: the heap keeps stale entries until
/// they reach its top, up to one per request.
inline std::size_t belady_hits(const std::vector<std::uint64_t>& keys, std::size_t size) {
  if (size == 0) return 0;
  const std::vector<std::size_t> next = next_uses(keys);
  const std::size_t never = keys.size();
  // Max-heap of (next use, key) with lazy deletion: an entry is current when
  // the key's recorded next use equals it.
  std::priority_queue<std::pair<std::size_t, std::uint64_t>> heap;
  std::unordered_map<std::uint64_t, std::size_t> cached;  // key -> next use
  cached.reserve(size * 2);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t k = keys[i];
    auto it = cached.find(k);
    if (it != cached.end()) {
      ++hits;
      if (next[i] == never) {
        cached.erase(it);  // never needed again: free its place now
      } else {
        it->second = next[i];
        heap.emplace(next[i], k);
      }
      continue;
    }
    if (next[i] == never) continue;  // bypass: it brings no hit
    if (cached.size() == size) {
      for (;;) {  // drop stale heap entries
        const auto c = cached.find(heap.top().second);
        if (c != cached.end() && c->second == heap.top().first) break;
        heap.pop();
      }
      if (heap.top().first <= next[i]) continue;  // every cached key is needed sooner: bypass
      cached.erase(heap.top().second);
      heap.pop();
    }
    cached.emplace(k, next[i]);
    heap.emplace(next[i], k);
  }
  return hits;
}

/// Replays `keys` through `cache` the way an application uses a cache: `get`,
/// and on a miss `put`. Returns the hits.
template <class Cache>
std::size_t replay(Cache& cache, const std::vector<std::uint64_t>& keys) {
  std::size_t hits = 0;
  for (const std::uint64_t k : keys) {
    if (cache.get(k) != nullptr) {
      ++hits;
    } else {
      cache.put(k, static_cast<typename Cache::mapped_type>(k));
    }
  }
  return hits;
}

}  // namespace cache_sim
