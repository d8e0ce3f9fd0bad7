#!/usr/bin/env bash
# The frame's ceiling: wrk against /healthz through the stack's nginx, and,
# in the same run, a second nginx (same settings, one worker) answering a
# "return 200" location by itself. Needs a running stack (scripts/stack up)
# with a non-sanitized ticketd for figures that mean anything.
#   bench/healthz.sh [--dir DIR] [--seconds N] [--connections N]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/run secs=10 conns=64
while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "usage: bench/healthz.sh [--dir DIR] [--seconds N] [--connections N]" >&2; exit 2 ;;
    esac
done
# shellcheck disable=SC1091
. "$dir/stack.env"
port=$((TK_HTTP_PORT + 1))
tmp=$(mktemp -d)
trap 'nginx -c "$tmp/nginx.conf" -p "$tmp" -s stop 2>/dev/null || true; sleep 0.2; rm -rf "$tmp"' EXIT
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /static { return 200 "ok\n"; }
    }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp"
sleep 0.3

run() { # name url
    local out rps p99
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$2")
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    printf '%-34s %10s req/s   p99 %s\n' "$1" "$rps" "$p99"
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        grep 'Non-2xx\|Socket errors' <<<"$out" | sed 's/^/    /'
    fi
}
echo "wrk -t2 -c$conns -d${secs}s on $(nproc) cores, load generator included"
run "ticketd /healthz through nginx" "$TK_HTTP/healthz"
run "nginx alone (return 200)" "http://127.0.0.1:$port/static"
