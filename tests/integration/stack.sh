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
t_done
