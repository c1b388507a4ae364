#!/usr/bin/env bash
# The gateway demo, one command, everything on loopback:
#
#   examples/gateway/demo.sh [BUILD_DIR] [--duration S] [--quick] [--threads N]
#                            [--connections C] [--wrk-threads N] [--pairs P]
#
# 1. Starts four surge_gateway_backend processes and surge_gateway (cache,
#    per-client limit, adaptive concurrency limit and retries on) on free
#    ports, drives the gateway with wrk for S seconds (default 30), makes one
#    backend fail halfway (POST /control?error_rate=1), and shows what
#    surge_gateway_watch prints meanwhile: one line per second, then its
#    summary (throughput, mean response time, Little's law, hit ratio, balance
#    efficiency).
# 2. The comparison: the same four backends behind surge_gateway (cache and
#    limiter off) and behind nginx (plain proxy_pass to an upstream with
#    keepalive, passive health checks max_fails=1 fail_timeout=10s, as many
#    worker processes as the gateway has threads), the same wrk run against
#    each: requests/s and p99; then the same with one backend answering 500 to
#    everything: the failed (non-2xx) requests each proxy let through.
#
# 3. With --pairs P: P more healthy runs of S seconds per proxy, gateway and
#    nginx alternating (so a disturbance of the shared machine falls on both
#    in turn; the gateway goes first in odd pairs, nginx in even ones, so
#    neither always runs second), each pair's requests/s, p99 and p99 ratio,
#    then the medians, in how many pairs the gateway's p99 was the lower and
#    the higher, a sign test (how likely that many lower pairs would be were
#    the two proxies level), and the goal judged on the median pair: its
#    requests/s ratio at least 0.8 and its p99 ratio at most 1.
#
# Builds nothing: BUILD_DIR (default build/release) must hold the gateway
# targets (cmake --build build/release --target surge_gateway
# surge_gateway_backend surge_gateway_watch). Needs wrk and nginx (Debian:
# apt-get install wrk nginx-light); exits 77 (skipped) without them. --quick
# runs a few seconds per step (CI). Everything it starts is stopped on any exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$repo/build/release"
duration=30
quick=0
threads=2
connections=64
wrk_threads=1
pairs=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --wrk-threads) wrk_threads="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
if [[ $quick -eq 1 ]]; then
  duration=4
fi
[[ "$pairs" =~ ^[0-9]+$ ]] || { echo "demo.sh: --pairs expects a whole number, not '$pairs'" >&2; exit 2; }
for n in "$duration" "$threads" "$connections" "$wrk_threads"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: expected a positive whole number, not '$n'" >&2; exit 2; }
done
(( duration >= 2 )) || { echo "demo.sh: --duration must be at least 2 seconds" >&2; exit 2; }

bin="$build/examples/gateway"
for b in surge_gateway surge_gateway_backend surge_gateway_watch; do
  [[ -x "$bin/$b" ]] || { echo "demo.sh: $bin/$b not found: build the gateway targets first (see the top of this script)" >&2; exit 2; }
done
wrk=$(command -v wrk || true)
nginx=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
if [[ -z "$wrk" || -z "$nginx" ]]; then
  echo "demo.sh: skipped: needs wrk and nginx (apt-get install wrk nginx-light)"
  exit 77
fi

# ---- processes: everything started is remembered and stopped on exit --------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/surge-gateway-demo.XXXXXX")
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background and waits (10 s at most) for
# its first line "listening on <port>"; sets $port.
start() {
  local name="$1"; shift
  : >"$tmp/$name.out"
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  local pid=$! i
  for ((i = 0; i < 200; i++)); do
    if read -r line <"$tmp/$name.out" 2>/dev/null && [[ "$line" =~ ^listening\ on\ ([0-9]+)$ ]]; then
      port="${BASH_REMATCH[1]}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "demo.sh: $name did not start:" >&2
  cat "$tmp/$name.err" >&2
  exit 1
}

# http METHOD PORT TARGET: one request to 127.0.0.1:PORT with bash's /dev/tcp
# (no curl needed); prints the body.
http() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$2"
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$1" "$3" >&3
  reply=$(timeout 5 cat <&3 || true)
  exec 3<&-
  printf '%s\n' "${reply#*$'\r\n\r\n'}"
}

# free_port: a loopback port nothing listens on (for nginx, which cannot
# report an ephemeral one), below the kernel's ephemeral range, so that no
# outgoing connection (the proxies' upstream pools, wrk) can hold it as its
# local port by the time nginx binds it.
free_port() {
  local p lo=32768 hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((lo > 12000)) || lo=60000  # an unusual range: any port below 60000
  for ((;;)); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# wait_port PORT: until something accepts connections there (10 s at most).
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# ---- wrk and its figures -----------------------------------------------------
wrk_cmd=("$wrk" -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency)
# start_wrk NAME URL [wrk options...]: starts wrk in the background, its
# report going to $tmp/NAME.wrk, and sets $wrk_pid; wait_wrk NAME waits for
# it. `timeout` puts wrk in a process group of its own, out of reach of
# Ctrl-C, so the script remembers timeout's pid (killed, timeout stops wrk)
# and waits with `wait`, which a signal interrupts.
start_wrk() {
  local name="$1" url="$2"; shift 2
  timeout $((duration + 30)) "${wrk_cmd[@]}" "$@" "$url" >"$tmp/$name.wrk" 2>&1 &
  wrk_pid=$!
  pids+=("$wrk_pid")
}
wait_wrk() {
  wait "$wrk_pid" || { echo "demo.sh: wrk failed:" >&2; cat "$tmp/$1.wrk" >&2; exit 1; }
}
# run_wrk NAME URL [wrk options...]: start_wrk, then wait_wrk
run_wrk() {
  start_wrk "$@"
  wait_wrk "$1"
}
# wrk_field NAME FIELD: rps | p99_ms | requests | non2xx | errors
wrk_field() {
  local f="$tmp/$1.wrk"
  case "$2" in
    rps) awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$f" ;;
    p99_ms) awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                 m = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
                 printf "%.2f", v * m }' "$f" ;;
    requests) awk '/ requests in / {print $1}' "$f" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ {n = $NF} END {print n + 0}' "$f" ;;
    errors) awk '/Socket errors:/ {gsub(",", ""); n = $4 + $6 + $8 + $10} END {print n + 0}' "$f" ;;
  esac
}

# ---- the four backends -------------------------------------------------------
backend_ports=()
for i in 1 2 3 4; do
  start "backend$i" "$bin/surge_gateway_backend" --latency 1 --jitter 1 --threads 1 --name "backend-$i"
  backend_ports+=("$port")
done
backends=$(printf '127.0.0.1:%s,' "${backend_ports[@]}")
backends=${backends%,}
failing=${backend_ports[3]}
echo "backends (latency 1 ms + up to 1 ms jitter): $backends"
echo "wrk: ${wrk_cmd[*]##*/} (wrk $("$wrk" -v 2>&1 | awk 'NR == 1 {print $2}'))"

# ---- 1. the gateway with everything on, one backend failing halfway ----------
start gateway "$bin/surge_gateway" --backends "$backends" --threads "$threads" --balancer p2c \
  --cache on --cache-ttl-ms 1000 --cache-capacity 10000 \
  --limit on --rate 5000 --burst 500 --client-header X-Client --adaptive on --retries 1
gateway_port=$port
# 20000 distinct paths (the cache holds half), 16 well-behaved clients and one
# greedy one that sends every fourth request (the per-client limit answers 429)
cat >"$tmp/showcase.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  local client = (n % 4 == 0) and "greedy" or ("client-" .. (math.floor(n / 4) % 16))
  return wrk.format("GET", "/item/" .. math.random(0, 19999), { ["X-Client"] = client })
end
EOF
echo
echo "== 1. surge_gateway on :$gateway_port, $threads threads: cache (TTL 1 s), per-client limit (5000/s, burst 500),"
echo "      adaptive concurrency limit, p2c, breakers, 1 retry; 20000 paths, 17 clients (one greedy);"
echo "      backend :$failing answers 500 to everything from t = $((duration / 2)) s"
start_wrk showcase "http://127.0.0.1:$gateway_port/" -s "$tmp/showcase.lua"
"$bin/surge_gateway_watch" --gateway "127.0.0.1:$gateway_port" --duration $((duration - 1)) &
watch_pid=$!
pids+=("$watch_pid")
sleep $((duration / 2))
http POST "$failing" "/control?error_rate=1" >/dev/null
wait "$watch_pid"
wait_wrk showcase
echo "  wrk saw: $(wrk_field showcase requests) requests, $(wrk_field showcase rps) req/s, p99 $(wrk_field showcase p99_ms) ms," \
     "$(wrk_field showcase non2xx) non-2xx (429 from the limit, 500s the retries could not hide), $(wrk_field showcase errors) socket errors"
http POST "$failing" "/control?error_rate=0" >/dev/null

# ---- 2. surge_gateway vs nginx ---------------------------------------------------
start gateway_plain "$bin/surge_gateway" --backends "$backends" --threads "$threads" --balancer p2c \
  --cache off --limit off --adaptive off --retries 1
plain_port=$port
# start_nginx: writes nginx.conf for $nginx_port and starts nginx; false if it
# exits or does not accept connections within 10 s.
start_nginx() {
  mkdir -p "$tmp/nginx"
  {
    echo "worker_processes $threads;"
    [[ $(id -u) -eq 0 ]] && echo "user root;"  # workers run as the current user
    echo "pid $tmp/nginx/nginx.pid;"
    echo "error_log $tmp/nginx/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    echo "  access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $tmp/nginx/$t;"; done
    echo "  keepalive_requests 1000000;"
    echo "  upstream backends {"
    for p in "${backend_ports[@]}"; do echo "    server 127.0.0.1:$p max_fails=1 fail_timeout=10s;"; done
    echo "    keepalive 64;"
    echo "    keepalive_requests 1000000;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$nginx_port;"
    echo "    location / {"
    echo "      proxy_pass http://backends;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\";"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$tmp/nginx/nginx.conf"
  "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' \
    >"$tmp/nginx.out" 2>&1 &
  local pid=$! i
  pids+=("$pid")
  for ((i = 0; i < 200; i++)); do  # 10 s at most; nginx exits when it cannot bind
    (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# Up to three ports: another program may bind the free port first.
for attempt in 1 2 3; do
  nginx_port=$(free_port)
  start_nginx && break
  grep -q "Address already in use" "$tmp/nginx/error.log" "$tmp/nginx.out" 2>/dev/null && ((attempt < 3)) && continue
  echo "demo.sh: nginx did not start:" >&2
  cat "$tmp/nginx.out" "$tmp/nginx/error.log" >&2
  exit 1
done

proxies=(surge_gateway nginx)
declare -A url=([surge_gateway]="http://127.0.0.1:$plain_port/" [nginx]="http://127.0.0.1:$nginx_port/")
# Per proxy: a warm-up second (so its upstream connections are open), the
# healthy run, then the run with one backend answering 500 to everything.
for p in "${proxies[@]}"; do
  timeout 10 "$wrk" -t1 -c"$connections" -d1s "${url[$p]}" >/dev/null 2>&1 || true
  run_wrk "healthy_$p" "${url[$p]}"
  http POST "$failing" "/control?error_rate=1" >/dev/null
  run_wrk "failing_$p" "${url[$p]}"
  http POST "$failing" "/control?error_rate=0" >/dev/null
done
http POST "$failing" "/control?error_rate=0" >/dev/null

echo
echo "== 2. the same four backends behind surge_gateway (cache and limiter off; p2c, breakers, 1 retry)"
echo "      and behind nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///') (proxy_pass, upstream keepalive 64, max_fails=1 fail_timeout=10s);"
echo "      $threads gateway threads = $threads nginx workers; each: ${wrk_cmd[*]##*/} URL"
printf '%-15s %10s %10s %12s %12s %9s\n' proxy "req/s" "p99 (ms)" requests "failed" "failed %"
for run in healthy failing; do
  if [[ $run == failing ]]; then
    echo "-- backend :$failing answers 500 to every request (from the start of the run)"
  else
    echo "-- all four backends healthy"
  fi
  for p in "${proxies[@]}"; do
    n=$(wrk_field "${run}_$p" requests)
    bad=$(( $(wrk_field "${run}_$p" non2xx) + $(wrk_field "${run}_$p" errors) ))
    printf '%-15s %10s %10s %12s %12s %8.2f%%\n' "$p" "$(wrk_field "${run}_$p" rps)" \
      "$(wrk_field "${run}_$p" p99_ms)" "$n" "$bad" "$(awk -v b="$bad" -v n="$n" 'BEGIN {print n ? 100 * b / n : 0}')"
  done
done
g=$(wrk_field healthy_surge_gateway rps); n=$(wrk_field healthy_nginx rps)
gp=$(wrk_field healthy_surge_gateway p99_ms); np=$(wrk_field healthy_nginx p99_ms)
echo "surge_gateway / nginx, healthy: requests/s $(awk -v a="$g" -v b="$n" 'BEGIN {printf "%.2fx", b ? a / b : 0}')," \
     "p99 $(awk -v a="$gp" -v b="$np" 'BEGIN {printf "%.2fx", b ? a / b : 0}') (failed = non-2xx answers + socket errors, as wrk counts them)"

# ---- 3. alternating pairs (--pairs) ----------------------------------------------
if ((pairs > 0)); then
  echo
  echo "== 3. $pairs healthy pair$( ((pairs > 1)) && echo s) of ${duration} s runs, gateway first in odd pairs, nginx first in even ones"
  printf '%-5s %14s %14s %14s %14s %10s\n' pair "gateway req/s" "nginx req/s" "gateway p99" "nginx p99" "p99 ratio"
  lower=0 higher=0
  for ((k = 1; k <= pairs; k++)); do
    order=("${proxies[@]}")
    ((k % 2 == 0)) && order=(nginx surge_gateway)
    for p in "${order[@]}"; do run_wrk "pair_$p" "${url[$p]}"; done
    g=$(wrk_field pair_surge_gateway rps); n=$(wrk_field pair_nginx rps)
    gp=$(wrk_field pair_surge_gateway p99_ms); np=$(wrk_field pair_nginx p99_ms)
    r=$(awk -v a="$gp" -v b="$np" 'BEGIN {printf "%.6f", b ? a / b : 0}')
    printf '%-5s %14s %14s %11s ms %11s ms %9.3fx\n' "$k" "$g" "$n" "$gp" "$np" "$r"
    echo "$g $n $gp $np $r $(awk -v a="$g" -v b="$n" 'BEGIN {printf "%.6f", b ? a / b : 0}')" >>"$tmp/pairs"
    lower=$((lower + $(awk -v a="$gp" -v b="$np" 'BEGIN {print (a < b) ? 1 : 0}')))
    higher=$((higher + $(awk -v a="$gp" -v b="$np" 'BEGIN {print (a > b) ? 1 : 0}')))
  done
  median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
  # sign test: were the two level (each pair a coin toss, ties left out), the
  # chance of the gateway's p99 being the lower in `lower` or more pairs
  sign_p=$(awk -v k="$lower" -v n=$((lower + higher)) 'BEGIN {
    p = 0; c = 1; for (i = 0; i <= n; i++) { if (i >= k) p += c; c = c * (n - i) / (i + 1) }
    printf "%.3f", n ? p / 2 ^ n : 1 }')
  rps_ratio=$(cut -d' ' -f6 "$tmp/pairs" | median)
  p99_ratio=$(cut -d' ' -f5 "$tmp/pairs" | median)
  echo "medians: gateway $(cut -d' ' -f1 "$tmp/pairs" | median) req/s, p99 $(cut -d' ' -f3 "$tmp/pairs" | median) ms;" \
       "nginx $(cut -d' ' -f2 "$tmp/pairs" | median) req/s, p99 $(cut -d' ' -f4 "$tmp/pairs" | median) ms;" \
       "median p99 ratio $(printf '%.3f' "$p99_ratio")x"
  echo "the gateway's p99 was the lower in $lower of $pairs pairs, the higher in $higher" \
       "(were the two level, $lower or more lower of $((lower + higher)) would come with probability $sign_p)"
  # the goal, judged on the median pair rather than on one run of each
  verdict=$(awk -v r="$rps_ratio" -v p="$p99_ratio" 'BEGIN {print (r >= 0.8 && p <= 1.0) ? "met" : "not met"}')
  echo "goal (requests/s at least 0.8x nginx's, p99 no worse), on the median pair:" \
       "requests/s $(printf '%.3f' "$rps_ratio")x, p99 $(printf '%.3f' "$p99_ratio")x: $verdict"
fi
