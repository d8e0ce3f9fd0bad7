#!/usr/bin/env bash
# The local stack and the configuration checks of ticketd and ticketctl.
. "$(dirname "$0")/lib.sh"

t_eq "redis answers on its unix socket" PONG "$(rcli ping)"
t_eq "redis runs with AOF, fsync always" "appendonly yes appendfsync always" \
    "$(rcli config get appendonly | paste -sd' ') $(rcli config get appendfsync | paste -sd' ')"
t_eq "mariadb answers as the ticketd user" 1 "$(sql 'SELECT 1')"
t_check "ticketd -t accepts the stack's config" "$TK_BIN/ticketd" -t -c "$TK_CONF"
t_check "ticketctl conf check accepts the stack's config" ctl conf check

bad=$(mktemp)
cat > "$bad" <<'CONF'
wechat: { token = "t"; max_clock_skew = "soon"; };
site: { link_secret = "0123456789abcdef"; };
fcgi: { workers = 0; };
redis: { prot = 6379; };
CONF
chmod 600 "$bad"
out=$("$TK_BIN/ticketd" -t -c "$bad" 2>&1); rc=$?
t_eq "ticketd -t exits non-zero on a bad file" 1 "$rc"
t_contains "error 1 names file and line 1" "$bad:1: wechat.max_clock_skew" "$out"
t_contains "error 2 names line 3" "$bad:3: fcgi.workers: 0 is out of range" "$out"
t_contains "error 3 names line 4" "$bad:4: redis.prot: unknown option" "$out"
out=$("$TK_BIN/ticketctl" -c "$bad" conf check 2>&1); rc=$?
t_eq "ticketctl conf check exits EX_CONFIG (78) on a bad file" 78 "$rc"
t_eq "ticketctl reports all three errors" 3 "$(grep -c "^$bad:" <<<"$out")"
chmod 644 "$bad"
sed -i 's/token = "t"/token = "t"; aes_key = ""/' "$bad"
out=$("$TK_BIN/ticketd" -t -c "$bad" 2>&1)
t_contains "a world-readable file with secrets is refused" "accessible by group or others" "$out"
rm -f "$bad"
# The stack's own life cycle, on a second throwaway stack with its own
# ports: up twice is harmless, status says what runs where, down leaves no
# process, and a later up keeps the data.
root=$(cd "$(dirname "$0")/../.." && pwd)
life=$(mktemp -d)
life_ports=("$((TK_HTTP_PORT + 7))" "$((TK_REDIS_PORT + 7))" "$((TK_MYSQL_PORT + 7))")
stk() {
    TK_HTTP_PORT=${life_ports[0]} TK_REDIS_PORT=${life_ports[1]} \
        TK_MYSQL_PORT=${life_ports[2]} "$root/scripts/stack" "$@" --dir "$life"
}
if stk up >"$life/up1.log" 2>&1; then
    t_ok "a second stack comes up"
    . "$life/stack.env"
    out=$(stk up 2>&1)
    t_eq "up again changes nothing" 5 "$(grep -c 'already running' <<<"$out")"
    out=$(stk status 2>&1)
    t_contains "status names nginx and its address" "nginx            running" "$out"
    t_contains "status names redis's port and socket" "127.0.0.1:$TK_REDIS_PORT, $life/redis.sock" "$out"
    t_contains "status names mariadb's port" "127.0.0.1:$TK_MYSQL_PORT" "$out"
    t_eq "its nginx serves /healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$TK_HTTP/healthz")"
    redis-cli -s "$TK_REDIS_SOCK" SET tk:lifecycle kept >/dev/null
    mariadb --socket="$TK_MYSQL_SOCK" -uticketd -pticketd-stack-pw ticketd \
        -e "INSERT INTO admins (username, password_hash, created_at) VALUES ('lifecycle', 'x', 1)"
    pids=$(cat "$life"/*.pid 2>/dev/null | tr '\n' ' ')
    stk down >/dev/null 2>&1
    left=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
    t_eq "down leaves no process behind" 0 "$left"
    out=$(stk status 2>&1)
    t_eq "status after down: everything stopped" 5 "$(grep -c ' stopped' <<<"$out")"
    # The DIR keeps its ports: other ones are refused (its ticketd.conf
    # would disagree), none at all means the DIR's own.
    out=$(TK_HTTP_PORT=$((life_ports[0] + 1)) "$root/scripts/stack" up --dir "$life" 2>&1)
    t_contains "up with other ports than the DIR's is refused" \
        "was set up with TK_HTTP_PORT=${life_ports[0]}, not $((life_ports[0] + 1))" "$out"
    t_eq "... and starts nothing" 5 "$(stk status 2>&1 | grep -c ' stopped')"
    if env -u TK_HTTP_PORT -u TK_REDIS_PORT -u TK_MYSQL_PORT \
        "$root/scripts/stack" up --dir "$life" >"$life/up2.log" 2>&1; then
        t_contains "up without ports uses the DIR's" "nginx on http://127.0.0.1:${life_ports[0]}" \
            "$(cat "$life/up2.log")"
        t_eq "a later up keeps the Redis data" kept "$(redis-cli -s "$TK_REDIS_SOCK" GET tk:lifecycle)"
        t_eq "a later up keeps the MariaDB data" 1 "$(mariadb --socket="$TK_MYSQL_SOCK" -uticketd \
            -pticketd-stack-pw ticketd -N -B -e "SELECT COUNT(*) FROM admins WHERE username='lifecycle'")"
    else
        t_fail "the second stack comes up again" "$(tail -5 "$life/up2.log")"
    fi
    stk down >/dev/null 2>&1
    . "$TK_DIR/stack.env"
else
    t_fail "a second stack comes up" "$(tail -5 "$life/up1.log")"
    stk down >/dev/null 2>&1
fi
rm -rf "$life"
t_done
