#!/usr/bin/env bash
# Starts or stops a throw-away redis-server on a free loopback port, for the
# redis tests (a CTest fixture) and the fault tests (their own servers).
#   redis_fixture.sh start DIR [PORT] -> DIR/port holds the port (PORT if given,
#                                        else a free one); DIR/redis.pid the pid
#   redis_fixture.sh stop DIR
# Without redis-server, `start` prints a message naming the package, writes
# DIR/missing and exits 0: the tests then skip (or fail under SURGE_REQUIRE_REDIS).
set -u
cmd=${1:?usage: redis_fixture.sh start|stop DIR}
dir=${2:?usage: redis_fixture.sh start|stop DIR}
mkdir -p "$dir"

stop() {
  if [[ -f "$dir/redis.pid" ]]; then
    pid=$(cat "$dir/redis.pid")
    kill -CONT "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$dir/redis.pid"
  fi
  rm -f "$dir/port"
}

ping_port() { # prints the server's answer to PING
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && echo "$line") 2>/dev/null
}

case "$cmd" in
  start)
    stop
    rm -f "$dir/missing"
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "redis-server is not installed: install the Debian package redis-server (sudo apt-get install redis-server)"
      echo "redis-server" > "$dir/missing"
      exit 0
    fi
    for _ in $(seq 20); do
      port=${3:-$((20000 + RANDOM % 40000))}
      [[ -z "${3:-}" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
      rm -f "$dir/redis.pid"
      redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null 2>&1 || continue
      for _ in $(seq 100); do
        if [[ -s "$dir/redis.pid" ]]; then
          if [[ "$(ping_port "$port")" == +PONG* ]]; then
            echo "$port" > "$dir/port"
            echo "redis-server $(cat "$dir/redis.pid") on 127.0.0.1:$port"
            exit 0
          fi
        fi
        sleep 0.05
      done
      stop
    done
    echo "could not start redis-server (see $dir/redis.log)" >&2
    exit 1
    ;;
  stop) stop ;;
  *) echo "usage: redis_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
