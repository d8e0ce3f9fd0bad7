# Sourced by the integration tests (bash). Needs TK_DIR (the stack's
# directory); gives TAP-style reporting and handles on the real servers.
# shellcheck disable=SC1091
set -u
. "${TK_DIR:?TK_DIR must name a running stack}/stack.env"

t_pass=0
t_failed=0
t_name=$(basename "$0" .sh)

t_ok() { t_pass=$((t_pass + 1)); printf 'ok - %s: %s\n' "$t_name" "$1"; }
t_fail() {
    t_failed=$((t_failed + 1))
    printf 'not ok - %s: %s\n' "$t_name" "$1"
    if [ $# -gt 1 ]; then printf '#   %s\n' "${@:2}"; fi
}
# t_check DESC CMD...: passes when CMD succeeds.
t_check() {
    local d=$1; shift
    local out
    if out=$("$@" 2>&1); then t_ok "$d"; else t_fail "$d" "command: $*" "output: ${out:0:600}"; fi
}
# t_eq DESC EXPECTED ACTUAL
t_eq() {
    if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "expected: ${2:0:600}" "actual:   ${3:0:600}"; fi
}
# t_contains DESC NEEDLE HAYSTACK
t_contains() {
    case $3 in
    *"$2"*) t_ok "$1" ;;
    *) t_fail "$1" "expected to contain: $2" "actual: ${3:0:600}" ;;
    esac
}
t_done() {
    printf '# %s: %d passed, %d failed\n' "$t_name" "$t_pass" "$t_failed"
    [ "$t_failed" -eq 0 ]
}

rcli() { redis-cli -s "$TK_REDIS_SOCK" "$@"; }
sql() { mariadb --socket="$TK_MYSQL_SOCK" -uticketd -pticketd-stack-pw ticketd -N -B -e "$1"; }
ctl() { "$TK_BIN/ticketctl" -q -c "$TK_CONF" "$@"; }
metric() { # the value of one exact series of /metrics, 0 if absent
    curl -sf "$TK_HTTP/metrics" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}

# Fresh state for a test file: empty Redis data (the functions library
# survives FLUSHALL) and empty tables (schema kept).
tk_reset() {
    rcli flushall >/dev/null
    local tables
    tables=$(sql "SELECT table_name FROM information_schema.tables WHERE table_schema='ticketd' AND table_name <> 'schema_migrations'" 2>/dev/null || true)
    for t in $tables; do sql "DELETE FROM \`$t\`" >/dev/null; done
}

# http METHOD PATH [curl args...]: prints the body then a last line "HTTP <code>".
http() {
    local m=$1 p=$2; shift 2
    curl -sS -m 10 -X "$m" "$@" -w '\nHTTP %{http_code}' "$TK_HTTP$p"
}
