// cache_sim: replays cache traces through every surge policy at a list of
// cache sizes and prints the hit ratios beside Bélády's optimum (OPT, the
// offline ceiling); writes the same table as CSV and JSON and one SVG chart
// per trace (hit ratio vs size, one line per policy, OPT dashed).
//
//   surge_example_cache_sim [options] [TRACE...]
//     --sizes N,N,...   cache sizes (entries, 1 to 2^30 - 1 and at most each
//                       trace's distinct keys: a larger one is a bad option,
//                       refused once its trace is read; a repeated size
//                       runs once); default: the sizes the reference file
//                       lists for the trace, else up to 8 sizes from 1 % to
//                       75 % of the trace's distinct keys
//     --sizes auto      the automatic sizes above, even with a reference file
//                       (not with --sizes N,N,...)
//     --reference FILE  a markdown table "| trace @ size | LRU | best (who) | OPT |"
//                       (e.g. a trace folder's README.md): adds its columns
//                       and the differences to the table; a row whose size
//                       is not one size --sizes takes, or whose LRU, best or
//                       OPT is not a number from 0 to 100, is an error
//                       (status 1), and so is a FILE that cannot be read
//                       (missing, a folder) or a row replayed at a size
//                       above its trace's distinct keys
//     --reference-policies  also replays libCacheSim's versions of the
//                       policies surge does not ship (FIFO, Clock, 2Q, ARC,
//                       LIRS, W-TinyLFU with a static 1 % window; see
//                       cache_sim_reference.hpp) and prints every policy's mean
//     --csv FILE  --json FILE  --svg-dir DIR  (an empty value, like an
//                       unset shell variable, is a bad option, and so is
//                       any of these or --reference given twice)
//     -h, --help        prints the options
//
// A trace is text (an unsigned decimal key at the start of each line, other
// fields after it ignored; lines that do not start with a number are
// skipped) or libCacheSim's oracleGeneral binary (name containing
// "oracleGeneral" or ending ".bin"), either optionally gzipped (".gz", read
// through `gzip -dc`). Every object has size 1 (an object-count cache).
// A trace is named by its file name without its extensions (.gz, .txt,
// .trace, .bin, .oracleGeneral); its rows, its chart and its reference rows go
// by that name, so two traces of one name are a bad option. Without a trace it replays a small built-in synthetic one
// (an empty TRACE argument is a bad option, not that trace). Progress goes
// to stderr; the replay speed of each policy is printed at the end. A trace
// that cannot be read (missing, a corrupt .gz or one without gzip to read
// it, a gzip, zstd or xz file not named .gz, an oracleGeneral file cut
// mid-record, a text key above 2^64 - 1, signed or not decimal, no requests) or an
// output file that cannot be written is an error: a message on stderr and
// exit status 1; bad options exit with status 2.
#include <fmt/core.h>
#include <fmt/format.h>
#include <surge/cache/cache.hpp>
#include <surge/cache/lfu.hpp>
#include <surge/cache/lru.hpp>
#include <surge/cache/s3fifo.hpp>
#include <surge/cache/sieve.hpp>
#include <surge/cache/wtinylfu.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "cache_sim.hpp"
#include "cache_sim_reference.hpp"

namespace {

using key = std::uint64_t;
using value = std::uint32_t;

struct policy {
  const char* name;
  const char* colour;
  std::size_t (*run)(const std::vector<key>&, std::size_t);
  bool reference = false;  // a reference implementation, run with --reference-policies
};

template <class Cache>
std::size_t run_policy(const std::vector<key>& keys, std::size_t size) {
  Cache c(size);
  return cache_sim::replay(c, keys);
}

template <class Policy>
std::size_t run_reference(const std::vector<key>& keys, std::size_t size) {
  Policy p(size);
  return cache_sim::reference::replay(p, keys);
}

namespace ref = cache_sim::reference;
const std::array<policy, 11> policies{{
    {"LRU", "#1f77b4", run_policy<surge::lru_cache<key, value>>},
    {"LFU", "#8c564b", run_policy<surge::lfu_cache<key, value>>},
    {"SIEVE", "#2ca02c", run_policy<surge::sieve_cache<key, value>>},
    {"S3-FIFO", "#ff7f0e", run_policy<surge::s3fifo_cache<key, value>>},
    {"W-TinyLFU", "#d62728", run_policy<surge::wtinylfu_cache<key, value>>},
    {"FIFO", "#7f7f7f", run_reference<ref::fifo>, true},
    {"Clock", "#bcbd22", run_reference<ref::clock>, true},
    {"2Q", "#17becf", run_reference<ref::two_q>, true},
    {"ARC", "#9467bd", run_reference<ref::arc>, true},
    {"LIRS", "#e377c2", run_reference<ref::lirs>, true},
    {"WTLFU-1%", "#ff9896", run_reference<ref::wtinylfu_static>, true},
}};
std::vector<std::size_t> active;  // indices into policies of the policies replayed
// the largest size every surge policy takes (--sizes above it is refused)
constexpr std::size_t max_size =
    std::min({surge::lru_cache<key, value>::max_capacity, surge::lfu_cache<key, value>::max_capacity,
              surge::sieve_cache<key, value>::max_capacity, surge::s3fifo_cache<key, value>::max_capacity,
              surge::wtinylfu_cache<key, value>::max_capacity});
constexpr std::size_t default_policy = 4;  // surge::cache
static_assert(std::is_same_v<surge::cache<key, value>, surge::wtinylfu_cache<key, value>>,
              "update default_policy to surge::cache's policy");

struct reference {
  double lru = NAN, best = NAN, opt = NAN;
  std::string who;
};

struct row {
  std::string trace;
  std::size_t size = 0, requests = 0, unique = 0;
  std::array<double, policies.size()> ratio{};
  double opt = 0;
  reference ref;
};

std::string trace_name(const std::string& path) {
  std::string n = path.substr(path.find_last_of('/') + 1);
  for (const char* ext : {".gz", ".txt", ".trace", ".bin", ".oracleGeneral"}) {
    if (cache_sim::ends_with(n, ext)) n.erase(n.size() - std::strlen(ext));
  }
  return n;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, sep);) out.push_back(part);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

/// A table cell's hit ratio: the whole cell but blanks, a number from 0 to
/// 100; NaN when it is not one.
double hit_ratio_cell(const std::string& cell) {
  const std::string text = trim(cell);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0' && v >= 0 && v <= 100 ? v : NAN;
}

/// Parses the rows "| trace @ size | LRU | best (who) | OPT |" of a markdown file
/// (a row whose three ratios are none of them numbers, such as the header, is
/// skipped). A row whose size is not one size --sizes takes, or one of whose
/// ratios is not a number from 0 to 100, is an error naming the line; a file
/// that cannot be opened or read (missing, a folder) is an error naming
/// --reference.
std::map<std::pair<std::string, std::size_t>, reference> read_reference(const std::string& path) {
  std::map<std::pair<std::string, std::size_t>, reference> out;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--reference " + path + ": cannot open: " + std::strerror(errno));
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    const auto cells = split(line, '|');  // "", " gli @ 500 ", " 0.95 ", ...
    if (cells.size() < 5 || cells[1].find('@') == std::string::npos) continue;
    const auto at = cells[1].find('@');
    reference r;
    r.lru = hit_ratio_cell(cells[2]);
    r.best = hit_ratio_cell(cells[3].substr(0, cells[3].find('(')));
    r.opt = hit_ratio_cell(cells[4]);
    if (std::isnan(r.lru) && std::isnan(r.best) && std::isnan(r.opt)) continue;  // the header
    if (std::isnan(r.lru) || std::isnan(r.best) || std::isnan(r.opt)) {
      throw std::runtime_error(path + ":" + std::to_string(line_number) + ": bad hit ratio in \"" + trim(line) +
                               "\": LRU, best and OPT are numbers from 0 to 100");
    }
    const auto open = cells[3].find('('), close = cells[3].find(')');
    if (open != std::string::npos && close != std::string::npos) r.who = cells[3].substr(open + 1, close - open - 1);
    const std::string size = cells[1].substr(at + 1);
    std::size_t n = 0;
    try {
      if (size.find(',') != std::string::npos)
        throw std::invalid_argument("one size per row, not \"" + trim(size) + "\"");
      n = cache_sim::parse_sizes(size, max_size).front();
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(path + ":" + std::to_string(line_number) + ": " + e.what());
    }
    out[{trim(cells[1].substr(0, at)), n}] = r;
  }
  if (in.bad()) throw std::runtime_error("--reference " + path + ": cannot read: " + std::strerror(errno));
  return out;
}

std::vector<key> synthetic_trace() {
  std::vector<key> keys;
  for (key round = 0; round < 50; ++round) {
    for (key i = 0; i < 300; ++i) {
      keys.push_back(1000 + i);                                // a scan of 300 keys, over and over
      keys.push_back(i % 40);                                  // a hot set of 40 keys
      if (i % 3 == 0) keys.push_back(5000 + round * 300 + i);  // one-hit wonders
    }
  }
  return keys;
}

std::vector<std::size_t> auto_sizes(std::size_t unique) {
  std::vector<std::size_t> out;
  for (double f : {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75}) {
    const auto s = static_cast<std::size_t>(std::lround(f * static_cast<double>(unique)));
    if (s >= 1 && (out.empty() || out.back() != s)) out.push_back(s);
  }
  return out;
}

/// Hit ratio chart: x = cache size (log scale when the sizes span 10x or
/// more), y = hit ratio in %, one polyline per policy, OPT dashed.
void write_svg(const std::string& path, const std::string& trace, const std::vector<row>& rows) {
  const double w = 720, h = 440, left = 60, right = 150, top = 40, bottom = 50;
  const double pw = w - left - right, ph = h - top - bottom;
  const double xmin = static_cast<double>(rows.front().size), xmax = static_cast<double>(rows.back().size);
  const bool logx = xmax >= 10 * xmin;
  double ymax = 0;
  for (const row& r : rows) ymax = std::max(ymax, r.opt);
  ymax = std::min(100.0, std::ceil((ymax + 1) / 10) * 10);
  auto x_of = [&](double s) {
    if (xmax == xmin) return left + pw / 2;
    const double t = logx ? std::log(s / xmin) / std::log(xmax / xmin) : (s - xmin) / (xmax - xmin);
    return left + t * pw;
  };
  auto y_of = [&](double r) { return top + ph * (1 - r / ymax); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\">{3}: hit ratio vs cache size ({4} requests, {5} keys)</text>\n",
      w, h, left, cache_sim::xml_text(trace), rows.front().requests, rows.front().unique);
  for (int g = 0; g <= 5; ++g) {  // horizontal grid and y labels
    const double v = ymax * g / 5, y = y_of(v);
    svg +=
        fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left, y, left + pw, y);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.0f}%</text>\n", left - 6, y + 4, v);
  }
  for (const row& r : rows) {  // x ticks at the simulated sizes
    const double x = x_of(static_cast<double>(r.size));
    svg +=
        fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/>\n", x, top, top + ph);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, top + ph + 16, r.size);
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top,
                     pw, ph);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cache size (entries{})</text>\n", left + pw / 2,
                     h - 12, logx ? ", log scale" : "");
  auto line = [&](const char* name, const char* colour, auto&& ratio_of, bool dashed, int index) {
    std::string pts;
    for (const row& r : rows)
      pts += fmt::format("{:.1f},{:.1f} ", x_of(static_cast<double>(r.size)), y_of(ratio_of(r)));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>\n", colour,
                       dashed ? " stroke-dasharray=\"6,4\"" : "", pts);
    for (const row& r : rows)
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n",
                         x_of(static_cast<double>(r.size)), y_of(ratio_of(r)), colour);
    const double ly = top + 10 + 20 * index;
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"{4}/>"
        "<text x=\"{5}\" y=\"{6}\">{7}</text>\n",
        left + pw + 12, ly, left + pw + 40, colour, dashed ? " stroke-dasharray=\"6,4\"" : "", left + pw + 46, ly + 4,
        name);
  };
  line(
      "OPT (Bélády)", "#000", [](const row& r) { return r.opt; }, true, 0);
  int index = 0;
  for (const std::size_t p : active) {
    const std::string label = std::string(policies[p].name) + (p == default_policy ? " (cache)" : "");
    line(
        label.c_str(), policies[p].colour, [p](const row& r) { return r.ratio[p]; }, false, ++index);
  }
  svg += "</svg>\n";
  cache_sim::write_file(path, svg);
}

void write_csv(const std::string& path, const std::vector<row>& rows) {
  std::string out = "trace,size,requests,unique";
  for (const std::size_t p : active) out += fmt::format(",{}", policies[p].name);
  out += ",OPT,ref_LRU,ref_best,ref_best_policy,ref_OPT\n";
  for (const row& r : rows) {
    out += fmt::format("{},{},{},{}", cache_sim::csv_field(r.trace), r.size, r.requests, r.unique);
    for (const std::size_t p : active) out += fmt::format(",{:.4f}", r.ratio[p]);
    out += fmt::format(",{:.4f}", r.opt);
    if (std::isnan(r.ref.lru)) {
      out += ",,,,\n";
    } else {
      out +=
          fmt::format(",{:.2f},{:.2f},{},{:.2f}\n", r.ref.lru, r.ref.best, cache_sim::csv_field(r.ref.who), r.ref.opt);
    }
  }
  cache_sim::write_file(path, out);
}

void write_json(const std::string& path, const std::vector<row>& rows) {
  std::string out = "[\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    out += fmt::format("  {{\"trace\": {}, \"size\": {}, \"requests\": {}, \"unique\": {}, \"hit_ratio\": {{",
                       cache_sim::json_string(r.trace), r.size, r.requests, r.unique);
    for (const std::size_t p : active)
      out += fmt::format("{}\"{}\": {:.4f}", p ? ", " : "", policies[p].name, r.ratio[p]);
    out += fmt::format(", \"OPT\": {:.4f}}}", r.opt);
    if (!std::isnan(r.ref.lru))
      out += fmt::format(", \"reference\": {{\"LRU\": {:.2f}, \"best\": {:.2f}, \"best_policy\": {}, \"OPT\": {:.2f}}}",
                         r.ref.lru, r.ref.best, cache_sim::json_string(r.ref.who), r.ref.opt);
    out += (i + 1 < rows.size() ? "},\n" : "}\n");
  }
  out += "]\n";
  cache_sim::write_file(path, out);
}

constexpr const char* usage_text =
    "usage: cache_sim [--sizes N,N,..|auto] [--reference FILE] [--reference-policies] [--csv FILE] "
    "[--json FILE] [--svg-dir DIR] [TRACE...]\n";

[[noreturn]] void usage(const char* why) {
  fmt::print(stderr, "cache_sim: {}\n{}", why, usage_text);
  std::exit(2);
}

[[noreturn]] void help() {
  fmt::print(
      "{}"
      "Replays each TRACE through every surge cache policy and prints the hit ratios beside\n"
      "Belady's optimum (OPT). Without a TRACE it replays a small built-in synthetic trace.\n"
      "\n"
      "  --sizes N,N,...       cache sizes (entries, 1 to 2^30 - 1 and at most each trace's\n"
      "                        distinct keys; a repeated size runs once);\n"
      "                        default: the sizes the reference file lists for the trace,\n"
      "                        else up to 8 sizes from 1 % to 75 % of the trace's distinct keys\n"
      "  --sizes auto          those automatic sizes, even with a reference file (not with\n"
      "                        --sizes N,N,...)\n"
      "  --reference FILE      a markdown table \"| trace @ size | LRU | best (who) | OPT |\":\n"
      "                        adds its columns and the differences to the table\n"
      "  --reference-policies  also replays reference versions of FIFO, Clock, 2Q, ARC, LIRS\n"
      "                        and W-TinyLFU with a static 1 % window, and ranks every policy\n"
      "  --csv FILE, --json FILE, --svg-dir DIR\n"
      "                        also write the table as CSV / JSON, and one SVG chart per trace\n"
      "  -h, --help            print this help\n"
      "\n"
      "A trace is text (an unsigned decimal key at the start of each line; lines that do not\n"
      "start with a number are skipped; a signed, hexadecimal or float key is an error) or\n"
      "libCacheSim's oracleGeneral binary (name containing \"oracleGeneral\" or ending \".bin\"),\n"
      "either optionally gzipped (\".gz\", read through gzip -dc; another compressed file is an\n"
      "error). A trace goes by its file name without its extensions; two traces of one name\n"
      "are refused.\n",
      usage_text);
  std::exit(0);
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> traces;
  std::vector<std::size_t> sizes;
  bool auto_size = false, with_reference_policies = false;
  std::string size_list, ref_path, csv_path, json_path, svg_dir;  // size_list: every --sizes N,N,... joined
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value_of = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      if (argv[i + 1][0] == '\0') usage(("an empty value after " + a).c_str());
      return argv[++i];
    };
    auto set_once = [&](std::string& option) {  // a second value would replace the first
      if (!option.empty()) usage((a + " given twice: which one?").c_str());
      option = value_of();
    };
    if (a == "-h" || a == "--help") help();
    if (a == "--sizes") {
      const std::string v = value_of();
      if (v == "auto") {
        auto_size = true;
        continue;
      }
      size_list += (size_list.empty() ? "" : ",") + v;
      try {
        sizes = cache_sim::parse_sizes(size_list, max_size);
      } catch (const std::invalid_argument& e) {
        usage(e.what());
      }
    } else if (a == "--reference-policies") {
      with_reference_policies = true;
    } else if (a == "--reference") {
      set_once(ref_path);
    } else if (a == "--csv") {
      set_once(csv_path);
    } else if (a == "--json") {
      set_once(json_path);
    } else if (a == "--svg-dir") {
      set_once(svg_dir);
    } else if (a.size() > 1 && a[0] == '-') {
      usage(("unknown option " + a).c_str());
    } else if (a.empty()) {
      usage("a TRACE is an empty string (with no TRACE at all, the built-in trace runs)");
    } else {
      traces.push_back(a);
    }
  }
  std::map<std::string, std::string> named;  // trace name -> path; the name picks the chart and the reference rows
  for (const std::string& path : traces) {
    if (const auto [it, fresh] = named.try_emplace(trace_name(path), path); !fresh)
      usage(("two traces named " + it->first + ": " + it->second + " and " + path).c_str());
  }
  if (auto_size && !sizes.empty()) usage("--sizes auto and --sizes N,N,... together: which sizes?");
  for (std::size_t p = 0; p < policies.size(); ++p)
    if (with_reference_policies || !policies[p].reference) active.push_back(p);
  const auto refs = ref_path.empty() ? decltype(read_reference("")){} : read_reference(ref_path);
  if (traces.empty()) traces.push_back("");  // the built-in trace

  std::vector<row> rows;
  std::array<double, policies.size()> seconds{};
  std::array<std::size_t, policies.size()> replayed{};
  for (const std::string& path : traces) {
    const std::string name = path.empty() ? "synthetic" : trace_name(path);
    fmt::print(stderr, "{}: reading\n", name);
    const std::vector<key> keys = path.empty() ? synthetic_trace() : cache_sim::read_trace(path);
    const std::size_t unique = std::unordered_set<key>(keys.begin(), keys.end()).size();
    std::vector<std::size_t> trace_sizes = sizes;
    if (trace_sizes.empty() && !auto_size) {
      for (const auto& [k, r] : refs)
        if (k.first == name) trace_sizes.push_back(k.second);
    }
    if (trace_sizes.empty()) trace_sizes = auto_sizes(unique);
    std::sort(trace_sizes.begin(), trace_sizes.end());
    if (!trace_sizes.empty() && trace_sizes.back() > unique) {  // a cache that large only costs memory
      const std::string why = fmt::format("{} @ {} is above the trace's {} distinct keys (a size is at most those)",
                                          name, trace_sizes.back(), unique);
      if (!sizes.empty()) usage(("--sizes: " + why).c_str());
      throw std::runtime_error("--reference " + ref_path + ": " + why);
    }
    // libCacheSim numbers a text trace's keys in order of first appearance; the
    // reference policies see the keys the way it does.
    const std::vector<key> interned =
        with_reference_policies && !cache_sim::is_oracle_general(path) ? cache_sim::reference::intern(keys) : keys;
    std::vector<row> trace_rows;
    for (const std::size_t size : trace_sizes) {
      row r{name, size, keys.size(), unique, {}, 0, {}};
      if (auto it = refs.find({name, size}); it != refs.end()) r.ref = it->second;
      for (const std::size_t p : active) {
        fmt::print(stderr, "\r{}: size {} {:<10}", name, size, policies[p].name);
        std::fflush(stderr);
        const auto t0 = std::chrono::steady_clock::now();
        const std::size_t hits = policies[p].run(policies[p].reference ? interned : keys, size);
        seconds[p] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        replayed[p] += keys.size();
        r.ratio[p] = keys.empty() ? 0 : 100.0 * static_cast<double>(hits) / static_cast<double>(keys.size());
      }
      fmt::print(stderr, "\r{}: size {} {:<10}", name, size, "OPT");
      r.opt = keys.empty()
                  ? 0
                  : 100.0 * static_cast<double>(cache_sim::belady_hits(keys, size)) / static_cast<double>(keys.size());
      trace_rows.push_back(r);
    }
    fmt::print(stderr, "\r{}: done{:30}\n", name, "");
    if (!svg_dir.empty() && !trace_rows.empty()) write_svg(svg_dir + "/" + name + ".svg", name, trace_rows);
    rows.insert(rows.end(), trace_rows.begin(), trace_rows.end());
  }

  // The table.
  const bool with_ref = std::any_of(rows.begin(), rows.end(), [](const row& r) { return !std::isnan(r.ref.lru); });
  fmt::print("hit ratio, % (W-TinyLFU is surge::cache)\n{:<16}", "trace @ size");
  for (const std::size_t p : active) fmt::print(" {:>9}", policies[p].name);
  fmt::print(" {:>9}", "OPT");
  if (with_ref) fmt::print(" | {:>7} {:>7} {:<16} {:>7} {:>7}", "ref LRU", "best", "(policy)", "Δ best", "Δ LRU");
  fmt::print("\n");
  std::array<double, policies.size()> sum{};
  double opt_sum = 0, best_sum = 0, ref_lru_sum = 0;
  std::size_t ref_rows = 0;
  for (const row& r : rows) {
    fmt::print("{:<16}", fmt::format("{} @ {}", r.trace, r.size));
    for (const std::size_t p : active) {
      fmt::print(" {:>9.2f}", r.ratio[p]);
      sum[p] += r.ratio[p];
    }
    fmt::print(" {:>9.2f}", r.opt);
    opt_sum += r.opt;
    if (!std::isnan(r.ref.lru)) {
      const double c = r.ratio[default_policy];
      const bool miss = c < r.ref.best - 2 || c < r.ratio[0] - 1;
      fmt::print(" | {:>7.2f} {:>7.2f} {:<16} {:>+7.2f} {:>+7.2f}{}", r.ref.lru, r.ref.best, "(" + r.ref.who + ")",
                 c - r.ref.best, c - r.ratio[0], miss ? "  <- off goal" : "");
      best_sum += r.ref.best;
      ref_lru_sum += r.ref.lru;
      ++ref_rows;
    }
    fmt::print("\n");
  }
  const double n = rows.empty() ? 1 : static_cast<double>(rows.size());
  fmt::print("{:<16}", "mean");
  for (const std::size_t p : active) fmt::print(" {:>9.2f}", sum[p] / n);
  fmt::print(" {:>9.2f}", opt_sum / n);
  if (ref_rows == rows.size() && ref_rows > 0) fmt::print(" | {:>7.2f} {:>7.2f}", ref_lru_sum / n, best_sum / n);
  if (with_reference_policies && !rows.empty()) {  // rank the policies by their mean
    std::vector<std::size_t> ranked = active;
    std::stable_sort(ranked.begin(), ranked.end(), [&](std::size_t a, std::size_t b) { return sum[a] > sum[b]; });
    fmt::print(
        "\nmean hit ratio over the {} rows, best first (WTLFU-1% is the reference W-TinyLFU, static 1 % window):\n",
        rows.size());
    for (const std::size_t p : ranked)
      fmt::print("  {:<10} {:>6.2f}{}\n", policies[p].name, sum[p] / n,
                 p == default_policy ? "  <- surge::cache"
                                     : fmt::format("  (surge::cache {:+.2f})", (sum[default_policy] - sum[p]) / n));
  }
  fmt::print("\n\nreplay speed (get, and put on a miss), million requests/s:");
  for (const std::size_t p : active)
    fmt::print(" {} {:.1f}", policies[p].name,
               seconds[p] > 0 ? static_cast<double>(replayed[p]) / seconds[p] / 1e6 : 0.0);
  fmt::print("\n");
  if (!csv_path.empty()) write_csv(csv_path, rows);
  if (!json_path.empty()) write_json(json_path, rows);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "cache_sim: {}\n", e.what());
  return 1;
}
