#!/usr/bin/env bash
# bench/run --smoke against the test stack: every scenario runs and reports,
# and the sales it makes keep the invariants (verify OK, every ticket of
# the million run in MariaDB). Figures are printed, never asserted.
. "$(dirname "$0")/lib.sh"
tk_reset

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log=$(BENCH_BUILD=$TK_BUILD BENCH_STACK=$TK_DIR BENCH_DIR=$out \
    "$root/bench/run" --smoke 2>&1)
rc=$?
printf '%s\n' "$log" | sed 's/^/# /'
t_eq "bench/run --smoke completes" 0 "$rc"

table=$(cat "$out/table.txt" 2>/dev/null)
for s in healthz grab soldout detail query safemode drain million; do
    t_check "the table has a $s line" grep -q "^$s " <<<"$table"
done
for s in grab soldout safemode million; do
    t_check "ticketctl verify is OK after $s" grep -Eq "^  $s: verify [0-9]+: OK$" <<<"$table"
done
t_eq "results.json holds every scenario" \
    "detail drain grab healthz million query safemode soldout" \
    "$(jq -r '.scenarios | keys | join(" ")' "$out/results.json" 2>&1)"
# Replies of the wrong kind and HTTP errors are bugs at any speed.
t_eq "no wrong replies and no non-2xx in any tkload scenario" 0 \
    "$(jq '[.scenarios[] | select(.rps != null) | .wrong + .http_error] | add' \
        "$out/results.json" 2>&1)"
t_eq "the ceiling is the median of healthz's three parts" true \
    "$(jq '.scenarios.healthz as $h | ($h.parts | length) == 3 and
        ([$h.parts[].rps] | sort | .[1]) == $h.rps and $h.ratio == 1' "$out/results.json" 2>&1)"
t_eq "a disk probe ran before each sale" "grab million safemode" \
    "$(jq -r '[.scenarios | to_entries[] | select(.value.disk.p50_us > 0) | .key] | sort | join(" ")' \
        "$out/results.json" 2>&1)"
t_eq "every tkload scenario reports the CPU time stolen from it" 0 \
    "$(jq '[.scenarios[] | select(.rps != null) | select((.steal_pct | type) != "number" or
        .steal_pct < 0 or .steal_pct > 100)] | length' "$out/results.json" 2>&1)"
# Where the CPU went: each CPU's working share, and the CPU time per reply
# of tkload and of every server; nginx and ticketd answered every request,
# so theirs cannot be nothing.
t_eq "every tkload scenario says how busy each CPU was" 0 \
    "$(jq --argjson n "$(nproc)" '[.scenarios[] | select(.rps != null) | .cpu.busy_pct |
        select(length != $n or any(.[]; type != "number" or . < 0 or . > 100))] | length' \
        "$out/results.json" 2>&1)"
t_eq "every tkload scenario gives tkload's and each server's CPU time a reply" 0 \
    "$(jq '[.scenarios[] | select(.rps != null) | .cpu.us_per_reply |
        select((keys | sort) != ["mariadbd", "nginx", "persistd", "redis", "ticketd", "tkload"] or
            .nginx <= 0 or .ticketd <= 0 or .tkload <= 0 or any(.[]; . < 0))] | length' \
        "$out/results.json" 2>&1)"
for s in healthz grab soldout detail query safemode million; do
    t_check "the table says where $s's CPU time went" \
        grep -Eq "^  $s( \(median part\))?: CPU busy [0-9]+%( / [0-9]+%)*; CPU us a reply: tkload [0-9.]+, nginx [0-9.]+, ticketd [0-9.]+, redis" <<<"$table"
done
t_eq "every ticket sold in the million run is in MariaDB" \
    "$(jq .config.stock "$out/results.json")" \
    "$(jq .scenarios.million.valid_tickets_in_mariadb "$out/results.json" 2>&1)"
if command -v gnuplot >/dev/null; then
    t_eq "the burst plot is a PNG" PNG "$(head -c 4 "$out/burst.png" 2>/dev/null | tail -c 3)"
fi
t_done
