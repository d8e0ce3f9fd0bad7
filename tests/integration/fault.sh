#!/usr/bin/env bash
# The fault harness in short, on this stack: kill -9 of a ticketd worker,
# then of ticket-persistd, each during a burst of 2000 students for 200
# tickets; after each, drain and check I1-I5 and every success reply
# against the ticket rows in MariaDB (tests/fault/run describes the
# checks). The full table (every fault, each on a fresh stack, 20000
# students) is `tests/fault/run`, too long for every test run.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

TK_LOAD=$TK_BUILD/bench/tkload "$root/tests/fault/run" --stack "$TK_DIR" \
    --dir "$tmp" --only worker,persistd --users 2000 --stock 200 --conns 16 \
    --out "$tmp/results.txt" >"$tmp/run.log" 2>&1
rc=$?
checks=0
while read -r kw fault name rest; do
    [ "$kw" = check ] || continue
    checks=$((checks + 1))
    case $rest in
    "ok "*) t_ok "$fault: $name: ${rest#ok }" ;;
    *) t_fail "$fault: $name" "${rest#not ok }" ;;
    esac
done <"$tmp/results.txt"
t_eq "both faults ran every check" 18 "$checks"
t_eq "tests/fault/run exits 0" 0 "$rc"
if [ "$rc" != 0 ]; then sed 's/^/# /' "$tmp/run.log"; fi
sed -n '/^fault run:/,$p' "$tmp/results.txt" | sed 's/^/# /'
t_done
