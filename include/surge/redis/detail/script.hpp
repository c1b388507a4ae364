/// @file surge/redis/detail/script.hpp
/// Internals of surge::redis::token_bucket: the Lua script (GCRA in integer
/// microseconds on the server's clock), its SHA-1 for EVALSHA, the exact
/// rational form of a rate, and Redis Cluster's CRC16 key slot.
#ifndef SURGE_REDIS_DETAIL_SCRIPT_HPP
#define SURGE_REDIS_DETAIL_SCRIPT_HPP

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>

namespace surge::redis::detail {

/// The limiter, run atomically by Redis for one key (KEYS[1]).
/// ARGV: mode, a (units per microsecond), cap (burst * b, where b is units
/// per token), x, and per mode: 'a' take x units if all are there; 'p' the
/// same, writing nothing; 'l' (a lease) take up to x tokens, ARGV[5] = b;
/// 'g' give back up to x units of a lease whose TAT was ARGV[5] microseconds
/// and ARGV[6] units. Every number in ARGV is in hexadecimal (lowercase, no
/// prefix; hex_arg): Lua 5.1 reads base 16 with strtoul, base 10 with strtod,
/// which costs the server several times as much on a long number.
/// The state is the theoretical arrival time TAT (when the bucket is full
/// again) as "microseconds:remainder", TAT = us + remainder / a; "debt" below
/// is TAT - now in units (1/a microsecond), so tokens(now) = burst - debt / b.
/// Every number stays an integer below 2^53 (the client checks cap and a), so
/// the double arithmetic of Lua 5.1 is exact.
/// Reply: {now, d} (mode 'l': {now, d, granted}), now the server's TIME in
/// microseconds; d >= 0: allowed, the debt after the call; d < 0: refused,
/// the debt is -1 - d. The client derives remaining, retry_after and
/// reset_after from the debt (exact integer arithmetic). The script is kept
/// lean on purpose (no closures, the fewest conversions, and the TTL given to
/// SET as a formatted integer: a Lua number argument would be printed with
/// %.17g): Redis spends its time per call on it.
inline constexpr std::string_view gcra_script = R"lua(-- surge::redis::token_bucket v3
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local key = KEYS[1]
local s = redis.call('GET', key)
local a = tonumber(ARGV[2], 16)
local d = 0
if s then
  local us, fr = string.match(s, '^(%-?%d+):(%d+)$')
  if not us then
    return redis.error_reply('surge: key ' .. key .. ' does not hold a surge token bucket state')
  end
  us = tonumber(us)
  if us >= now then d = (us - now) * a + tonumber(fr) end
end
local mode = ARGV[1]
local cap = tonumber(ARGV[3], 16)
local x = tonumber(ARGV[4], 16)
local m = 0
if mode == 'l' then
  local b = tonumber(ARGV[5], 16)
  local f = cap - d
  m = math.floor(f / b)
  local e = f - m * b
  if e < 0 then m = m - 1 elseif e >= b then m = m + 1 end
  if x < m then m = x end
  if m <= 0 then return {now, -1 - d, 0} end
  x = m * b
elseif mode == 'g' then
  local le = tonumber(ARGV[5], 16)
  if le < now then return {now, d} end
  local back = (le - now) * a + tonumber(ARGV[6], 16)
  if back > x then back = x end
  if back > d then back = d end
  if back <= 0 then return {now, d} end
  x = -back
end
local nd = d + x
if nd > cap then return {now, -1 - d} end
if mode == 'p' or x == 0 then return {now, nd} end
if nd <= 0 then
  redis.call('DEL', key)
  return {now, 0}
end
local q = math.floor(nd / a)
local r = nd - q * a
if r < 0 then q = q - 1; r = r + a elseif r >= a then q = q + 1; r = r - a end
local u = q
if r > 0 then u = q + 1 end
local ms = math.floor(u / 1000)
local e = u - ms * 1000
if e < 0 then ms = ms - 1; e = e + 1000 elseif e >= 1000 then ms = ms + 1; e = e - 1000 end
if e > 0 then ms = ms + 1 end
redis.call('SET', key, string.format('%d:%d', now + q, r), 'PX', string.format('%d', ms))
if mode == 'l' then return {now, nd, m} end
return {now, nd}
)lua";

/// A script argument: `v` (>= 0) in lowercase hexadecimal, as the script reads
/// its numbers.
inline std::string hex_arg(std::int64_t v) {
  char buf[16];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

/// SHA-1 of `data` as 40 lowercase hex digits (what EVALSHA names a script by).
inline std::string sha1_hex(std::string_view data) {
  std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  std::string msg(data);
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8u;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (8 * i)) & 0xffu));
  const auto rol = [](std::uint32_t x, int c) { return (x << c) | (x >> (32 - c)); };
  for (std::size_t off = 0; off < msg.size(); off += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = 0;
      for (int j = 0; j < 4; ++j)
        w[i] = (w[i] << 8) | static_cast<unsigned char>(msg[off + static_cast<std::size_t>(4 * i + j)]);
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f = 0, k = 0;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      const std::uint32_t tmp = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::uint32_t v : h)
    for (int i = 28; i >= 0; i -= 4) out.push_back(hex[(v >> i) & 0xfu]);
  return out;
}

/// Redis Cluster's key slot: CRC16-CCITT (XModem) of the key, or of the text
/// between the first '{' and the next '}' when that is non-empty, mod 16384.
inline std::uint16_t cluster_slot(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) key = key.substr(open + 1, close - open - 1);
  }
  std::uint16_t crc = 0;
  for (const char ch : key) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<unsigned char>(ch) << 8));
    for (int i = 0; i < 8; ++i) crc = static_cast<std::uint16_t>((crc & 0x8000u) ? (crc << 1) ^ 0x1021u : crc << 1);
  }
  return static_cast<std::uint16_t>(crc & 16383u);
}

/// A rate as a fraction of tokens per microsecond: a / b in lowest terms.
struct rational_rate {
  std::int64_t a = 0;  ///< units per microsecond
  std::int64_t b = 0;  ///< units per token
};

/// Every number the script computes stays below this (exact in a double).
inline constexpr std::int64_t script_limit = std::int64_t{1} << 52;

/// The fraction a / b = rate / 1e6 that the script uses: the continued-fraction
/// convergent p / q of `rate` (per second) that equals the double exactly,
/// e.g. 0.1 -> 1/10, 1.0/3 -> 1/3 (so decimal and simple fractional rates are
/// exact), or, when that would need numbers past script_limit, the closest
/// convergent below the rate that fits (never a faster rate). b * (burst + 1)
/// must stay within script_limit. Returns {0, 0} when no fraction fits.
inline rational_rate make_rational_rate(double rate, std::uint64_t burst) noexcept {
  constexpr std::int64_t million = 1'000'000;
  rational_rate best{};
  const auto fits = [&](std::int64_t p, std::int64_t q, rational_rate& out) {
    if (p <= 0 || q <= 0) return false;
    const std::int64_t g = std::gcd(p, million);
    const std::int64_t a = p / g, m = million / g;
    if (q > script_limit / m) return false;
    const std::int64_t b = q * m;
    if (a > script_limit || b > script_limit / static_cast<std::int64_t>(burst + 1)) return false;
    out = {a, b};
    return true;
  };
  // convergents h/k of the continued fraction of rate
  double x = rate;
  std::int64_t h0 = 1, h1 = 0, k0 = 0, k1 = 1;  // h_{-1}, h_{-2}, k_{-1}, k_{-2}
  for (int i = 0; i < 64; ++i) {
    const double fl = std::floor(x);
    if (fl > 9e15) break;
    const auto ai = static_cast<std::int64_t>(fl);
    if (ai != 0 && (h0 > (std::int64_t{1} << 62) / ai || k0 > (std::int64_t{1} << 62) / ai)) break;
    const std::int64_t h = ai * h0 + h1, k = ai * k0 + k1;
    h1 = h0;
    h0 = h;
    k1 = k0;
    k0 = k;
    rational_rate cand{};
    const bool exact = static_cast<double>(h) / static_cast<double>(k) == rate;
    if (h != 0 && !fits(h, k, cand)) break;
    // keep a convergent only if it does not exceed the rate
    if (h != 0 && (exact || static_cast<double>(h) / static_cast<double>(k) < rate)) best = cand;
    if (exact) break;
    const double frac = x - fl;
    if (frac <= 0) break;
    x = 1.0 / frac;
  }
  return best;
}

}  // namespace surge::redis::detail

#endif  // SURGE_REDIS_DETAIL_SCRIPT_HPP
