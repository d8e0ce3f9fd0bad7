#!/usr/bin/env bash
# The FastCGI frame through the stack's real nginx: routes, refusals, the
# process model under load (kill -9 of a worker, SIGHUP with a bad and a
# good file, SIGTERM) and metrics summed over the worker processes.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
tk_reset

master=$(cat "$TK_DIR/ticketd.pid")
conf_backup=$(mktemp)
cp -p "$TK_CONF" "$conf_backup"
restore() { cp -p "$conf_backup" "$TK_CONF"; rm -f "$conf_backup"; }
trap restore EXIT

workers() { pgrep -P "$master" | sort | paste -sd' '; }
nworkers() { pgrep -P "$master" | wc -l; }
# wrk_failures FILE: non-2xx answers plus socket errors of a wrk run.
wrk_failures() {
    local non2xx sock
    non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$1")
    sock=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$1" |
        awk '{ print $1 + $2 + $3 + $4 }')
    echo $(( ${non2xx:-0} + ${sock:-0} ))
}
wrk_total() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1"; }
# wait_until TRIES(0.1 s) CMD...: polls until CMD succeeds.
wait_until() {
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}
log_size() { stat -c %s "$1"; }
log_since() { tail -c +"$(( $2 + 1 ))" "$1"; }

# --- routes ---------------------------------------------------------------
out=$(http GET /healthz)
t_eq "/healthz answers ok" "ok

HTTP 200" "$out"
out=$(http GET /readyz)
t_contains "/readyz is 200 with Redis and MariaDB up" "HTTP 200" "$out"
t_contains "/readyz reports redis" "redis: ok" "$out"
t_contains "/readyz reports mariadb" "mariadb: ok" "$out"
out=$(curl -sS -D - "$TK_HTTP/u/help")
t_contains "/u/help is HTML in UTF-8" "Content-Type: text/html; charset=utf-8" "$out"
t_contains "/u/help is the user guide" "<title>使用指南</title>" "$out"
t_contains "/u/help explains binding" "回复“绑定”" "$out"
t_contains "/u/help explains 抢票" "抢票 活动代称" "$out"
t_contains "/u/help fits a phone" 'name="viewport"' "$out"
t_eq "an unknown path is 404" "HTTP 404" "$(http GET /nope | tail -1)"
t_eq "HEAD /healthz has headers only" "200 0" \
    "$(curl -sS -I -o /dev/null -w '%{http_code} %{size_download}' "$TK_HTTP/healthz")"
out=$(curl -sS -D - -o /dev/null -d 'a=1' "$TK_HTTP/healthz")
t_contains "POST to a GET route is 405" "405" "$(head -1 <<<"$out")"
t_contains "405 names the allowed methods" "Allow: GET, HEAD" "$out"

# --- bad input -------------------------------------------------------------
t_eq "a malformed escape in the query is 400" "HTTP 400" "$(http GET '/u/help?a=%zz' | tail -1)"
t_eq "an encoded NUL in the query is 400" "HTTP 400" "$(http GET '/u/help?a=x%00' | tail -1)"
long=$(head -c 5000 /dev/zero | tr '\0' 'a')
t_eq "an overlong query string is 400" "HTTP 400" "$(http GET "/u/help?q=$long" | tail -1)"
t_eq "a harmless query is ignored" "HTTP 200" "$(http GET '/u/help?from=menu&x=%E4%BD%A0' | tail -1)"
t_eq "POST without Content-Length is 411" "HTTP 411" "$(http POST /healthz | tail -1)"

# --- metrics are totals over all workers ------------------------------------
key='ticketd_requests_total{route="/healthz",status="2xx"}'
before=$(metric "$key")
ok=$(curl -s -Z --parallel-max 8 -o /dev/null -w '%{http_code}\n' \
    "$TK_HTTP/healthz?i=[1-400]" 2>/dev/null | grep -c '^200$')
after=$(metric "$key")
t_eq "400 parallel /healthz requests all answered" 400 "$ok"
t_eq "/metrics counts every one of them, whichever worker served" 400 $(( after - before ))
m=$(curl -sf "$TK_HTTP/metrics")
per_worker=$(grep '^ticketd_worker_requests_total{' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
per_route=$(grep '^ticketd_requests_total{' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
t_eq "route totals equal the sum of the per-worker counters" "$per_worker" "$per_route"
t_check "both worker processes have served requests" \
    test "$(grep -c '^ticketd_worker_requests_total{' <<<"$m")" -ge 2

# --- kill -9 of one worker under load ----------------------------------------
old=$(workers)
restarts=$(metric ticketd_worker_restarts_total)
victim=${old%% *}
wrk -t2 -c8 -d4s "$TK_HTTP/healthz" >"$TK_DIR/wrk-kill.out" 2>&1 &
wrk_pid=$!
sleep 1.5
kill -9 "$victim"
wait "$wrk_pid"
t_check "a worker killed with -9 is replaced" \
    wait_until 50 bash -c "[ \$(pgrep -P $master | wc -l) -eq 2 ] && ! kill -0 $victim 2>/dev/null"
t_eq "the master counts the restart" $(( restarts + 1 )) "$(metric ticketd_worker_restarts_total)"
fails=$(wrk_failures "$TK_DIR/wrk-kill.out")
t_check "under load, only requests in the killed worker can fail (<= 8 of $(wrk_total "$TK_DIR/wrk-kill.out"), got $fails)" \
    test "$fails" -le 8
t_check "the load ran throughout" test "$(wrk_total "$TK_DIR/wrk-kill.out")" -gt 100

# --- SIGHUP with an invalid file keeps the old workers ------------------------
old=$(workers)
logpos=$(log_size "$TK_DIR/ticketd.log")
sed -i 's/workers = 2;/workers = 0;/' "$TK_CONF"
wrk -t2 -c8 -d2s "$TK_HTTP/healthz" >"$TK_DIR/wrk-badhup.out" 2>&1 &
wrk_pid=$!
sleep 0.5
kill -HUP "$master"
wait "$wrk_pid"
t_check "the reload of an invalid file is refused and logged" \
    wait_until 30 bash -c "tail -c +$(( logpos + 1 )) '$TK_DIR/ticketd.log' | grep -q 'reload refused'"
t_contains "the refusal names the bad option" "fcgi.workers" "$(log_since "$TK_DIR/ticketd.log" "$logpos")"
t_eq "the same workers keep serving" "$old" "$(workers)"
t_eq "no request failed across the refused reload" 0 "$(wrk_failures "$TK_DIR/wrk-badhup.out")"
t_eq "the old configuration is still in force" "HTTP 200" "$(http GET /healthz | tail -1)"

# --- SIGHUP with a valid file replaces the workers under load -----------------
cp -p "$conf_backup" "$TK_CONF"
sed -i -e 's/workers = 2;/workers = 3;/' \
    -e 's/shed_after_ms = 2000;/shed_after_ms = 2000; max_body_kb = 8;/' "$TK_CONF"
old=$(workers)
reloads=$(metric ticketd_reloads_total)
wrk -t2 -c8 -d4s "$TK_HTTP/healthz" >"$TK_DIR/wrk-hup.out" 2>&1 &
wrk_pid=$!
sleep 1
kill -HUP "$master"
wait "$wrk_pid"
new_gen() { # 3 workers, none of the old ones
    local w; w=$(workers)
    [ "$(wc -w <<<"$w")" -eq 3 ] || return 1
    for p in $old; do case " $w " in *" $p "*) return 1 ;; esac; done
}
t_check "a valid reload replaces every worker" wait_until 100 new_gen
t_eq "no request failed across the reload" 0 "$(wrk_failures "$TK_DIR/wrk-hup.out")"
t_check "the load ran throughout the reload" test "$(wrk_total "$TK_DIR/wrk-hup.out")" -gt 100
t_eq "the reload is counted" $(( reloads + 1 )) "$(metric ticketd_reloads_total)"
t_eq "the new worker count is in force" 3 "$(metric ticketd_workers)"
big=$(head -c 16384 /dev/zero | tr '\0' 'x')
t_eq "the new body cap is in force: 16 KiB is 413" "HTTP 413" \
    "$(http POST /healthz -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "a=$big" | tail -1)"
t_eq "a body under the cap reaches the method check" "HTTP 405" \
    "$(http POST /healthz --data-binary "a=${big:0:4000}" | tail -1)"

# Back to the stack's configuration.
cp -p "$conf_backup" "$TK_CONF"
old=$(workers)
kill -HUP "$master"
back() { [ "$(nworkers)" -eq 2 ] && [ "$(workers)" != "$old" ]; }
t_check "a second reload goes back to 2 workers" wait_until 100 back

# --- SIGTERM under load: in-flight requests complete, bounded exit ------------
errpos=$(log_size "$TK_DIR/nginx-error.log")
wrk -t2 -c16 -d3s "$TK_HTTP/healthz" >"$TK_DIR/wrk-term.out" 2>&1 &
wrk_pid=$!
sleep 1
t0=$(date +%s%N)
kill -TERM "$master"
# Exited: no such process, or a zombie its parent has not reaped yet.
gone() { ! kill -0 "$master" 2>/dev/null || [ "$(ps -o stat= -p "$master" | cut -c1)" = Z ]; }
wait_until 120 gone
t1=$(date +%s%N)
wait "$wrk_pid"
t_check "SIGTERM stops ticketd" gone
# fcgi.stop_timeout_ms is 10 s by default; the master adds 0.5 s.
t_check "ticketd exits within the stop bound ($(( (t1 - t0) / 1000000 )) ms)" \
    test $(( (t1 - t0) / 1000000 )) -le 10500
t_check "no worker outlives the master" bash -c "! pgrep -P $master >/dev/null"
cut=$(log_since "$TK_DIR/nginx-error.log" "$errpos" |
    grep -cE 'prematurely closed|reset by peer|upstream timed out|Broken pipe' || true)
t_eq "no request was cut off: every accepted one was answered" 0 "$cut"
t_check "the socket file is gone" test ! -e "$TK_DIR/ticketd.sock"

# Leave the stack as we found it.
restore
trap - EXIT
TK_HTTP_PORT=$TK_HTTP_PORT TK_REDIS_PORT=$TK_REDIS_PORT TK_MYSQL_PORT=$TK_MYSQL_PORT \
    TK_BIN=$TK_BIN "$root/scripts/stack" up --dir "$TK_DIR" >/dev/null
t_eq "ticketd serves again after a restart" "HTTP 200" "$(http GET /healthz | tail -1)"
t_done
