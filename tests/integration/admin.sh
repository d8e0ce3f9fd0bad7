#!/usr/bin/env bash
# ticketctl's Redis commands against the stack's real redis-server and
# mariadbd: preheat, rebuild, reconcile, verify, stats, checkin, menu.
# ticket-persistd is stopped while this runs (events must stay unapplied
# where a test says so); the function fake_persist plays its part.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)

persistd_pid=$(cat "$TK_DIR/persistd.pid" 2>/dev/null || true)
persistd_was=0
if [ -n "$persistd_pid" ] && kill -0 "$persistd_pid" 2>/dev/null; then
    persistd_was=1
    kill -TERM "$persistd_pid"
    for _ in $(seq 200); do kill -0 "$persistd_pid" 2>/dev/null || break; sleep 0.1; done
fi
finish() {
    tk_reset
    if [ $persistd_was = 1 ]; then
        # The command line scripts/stack uses.
        setsid "$TK_BIN/ticket-persistd" -c "$TK_DIR/ticketd.conf" \
            </dev/null >>"$TK_DIR/persistd.log" 2>&1 &
        echo $! > "$TK_DIR/persistd.pid"
    fi
    rm -rf "$tmp"
}
trap finish EXIT
tk_reset

keys() { echo "tk:{a:$1}:stock tk:{a:$1}:holders tk:{a:$1}:tickets tk:{a:$1}:events"; }
# grab ACT SID TID: tk_grab as ticketd calls it (tk_redis_grab); prints
# "OUTCOME TID REMAIN".
grab() {
    # shellcheck disable=SC2046
    rcli --raw FCALL tk_grab 4 $(keys "$1") "$2" "$3" | paste -sd' '
}
hash_sorted() { rcli --raw HGETALL "$1" | paste - - | sort; }
field() { rcli HGET "tk:{a:$1}:stock" "$2"; }
# Plays ticket-persistd for activity ACT: writes the tickets Redis holds
# into MariaDB (cancelled ones first, as their events came first) and
# marks the whole stream consumed.
fake_persist() {
    local id=$1 tid v st sid first="" second=""
    while read -r tid && read -r v; do
        st=${v%%:*} sid=${v#*:}
        if [ "$st" = 0 ]; then
            first+="${first:+,}('$tid',$id,'$sid',0,0,0)"
        else
            second+="${second:+,}('$tid',$id,'$sid',$st,0,0)"
        fi
    done < <(rcli --raw HGETALL "tk:{a:$id}:tickets")
    for vals in "$first" "$second"; do
        [ -n "$vals" ] || continue
        sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES $vals ON DUPLICATE KEY UPDATE unique_id=VALUES(unique_id), status=VALUES(status)"
    done
    mark_consumed "$id"
}
mark_consumed() { # everything delivered and acknowledged
    local ev="tk:{a:$1}:events"
    rcli XGROUP DESTROY "$ev" persist >/dev/null
    rcli XGROUP CREATE "$ev" persist '$' MKSTREAM >/dev/null
}
yaml() { # KEY NAME TOTAL BOOK_START_UNIX BOOK_END_UNIX STATUS
    local f=$tmp/$1.yaml iso='+%Y-%m-%dT%H:%M:%S+00:00'
    cat > "$f" <<YAML
key: $1
name: $2
place: 主楼
description: test
start_time: $(date -u -d "@$(($5 + 3600))" "$iso")
end_time: $(date -u -d "@$(($5 + 7200))" "$iso")
book_start: $(date -u -d "@$4" "$iso")
book_end: $(date -u -d "@$5" "$iso")
total_tickets: $3
status: $6
YAML
    echo "$f"
}
now=$(date +%s)

# --- publish loads into Redis; preheat ------------------------------------
a=$(ctl activity create -f "$(yaml sale '新年音乐会' 5 $((now - 60)) $((now + 86400)) saved)")
t_eq "a saved activity is not in redis" 0 "$(rcli EXISTS "tk:{a:$a}:stock")"
out=$(ctl activity publish "$a" 2>&1); rc=$?
t_eq "activity publish exits 0" 0 "$rc"
t_contains "publish loads the activity into redis" "$a sale total 5 remain 5 holders 0 loaded" "$out"
t_eq "with its stock" "5 5 0" "$(field "$a" total) $(field "$a" remain) $(field "$a" sold)"
t_eq "and its stream registered for the persister" 1 "$(rcli SISMEMBER tk:streams "$a")"
t_contains "and the activity cache filled" "sale" "$(rcli GET "tk:act:id:$a")"
t_eq "and the by-key cache" 1 "$(rcli EXISTS tk:act:key:sale)"

printf 'student_id,name,password,openid\n' > "$tmp/roster.csv"
for i in 1 2 3 4 5 6 7; do printf '202000000%d,学生%d,pw,o_%d\n' "$i" "$i" "$i" >> "$tmp/roster.csv"; done
printf '2020000008,未绑,pw,\n' >> "$tmp/roster.csv"
ctl user import "$tmp/roster.csv" >/dev/null
out=$(ctl preheat "$a" 2>&1); rc=$?
t_eq "preheat of a loaded activity exits 0" 0 "$rc"
t_contains "and leaves it alone" "$a sale total 5 remain 5 holders 0 already loaded" "$out"
t_contains "preheat caches every bound user" "bindings 7 cached" "$out"
t_eq "a binding is cached as the binding cache stores it" "vB1" "$(rcli --raw GET tk:bind:o_3 | cut -c1-3)"
t_contains "naming the student" "2020000003" "$(rcli --raw GET tk:bind:o_3)"
ttl=$(rcli PTTL tk:bind:o_3)
# The sale may open hours after its preheat: the bindings last until the
# booking window ends (a day from now here), not the cache's 300 s.
t_check "kept until the booking window ends ($ttl ms)" \
    test "$ttl" -gt $(((86400 - 600) * 1000)) -a "$ttl" -le $((86400 * 1000))
t_contains "preheat says how long" "kept 86" "$out"
t_eq "an unbound student is not cached" 7 "$(rcli --raw KEYS 'tk:bind:*' | wc -l)"
ctl user unbind o_3 >/dev/null
t_eq "ticketctl user unbind drops the cached binding" 0 "$(rcli EXISTS tk:bind:o_3)"
rcli SET tk:bind:o_3 n PX 60000 >/dev/null
ctl user bind o_3 2020000003 >/dev/null
t_eq "ticketctl user bind drops a cached 'not bound'" 0 "$(rcli EXISTS tk:bind:o_3)"
out=$(ctl preheat 999999 2>&1); rc=$?
t_eq "preheat of an unknown activity exits 65" 65 "$rc"
t_contains "naming it" "no activity 999999" "$out"
out=$(ctl preheat 2>&1); rc=$?
t_eq "preheat without an activity is a usage error" 2 "$rc"
out=$(ctl preheat --upcoming x 2>&1); rc=$?
t_eq "preheat --upcoming needs hours" 2 "$rc"

# --- grabs after preheat ------------------------------------------------------
t_eq "a grab after preheat succeeds" "0 00000000000000a1 4" "$(grab "$a" 2020000001 00000000000000a1)"
grab "$a" 2020000002 00000000000000a2 >/dev/null
grab "$a" 2020000003 00000000000000a3 >/dev/null
t_eq "a second grab by a holder is a duplicate" "1 00000000000000a1 2" "$(grab "$a" 2020000001 00000000000000ff)"
t_eq "three grabs leave 2 of 5" "2 3" "$(field "$a" remain) $(field "$a" sold)"

# --- verify and rebuild refuse while events are unapplied --------------------
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "verify with unapplied events exits 1" 1 "$rc"
t_eq "and says the stream is not drained" \
    "verify $a: FAILED: not drained (3 unapplied events; I3/I5 not checked)" "$(tail -1 <<<"$out")"
out=$(ctl rebuild "$a" 2>&1); rc=$?
t_eq "rebuild with unapplied events is refused (exit 1)" 1 "$rc"
t_contains "naming the activity and the events" "rebuild of activity $a refused: its stream holds 3 unapplied events" "$out"
t_eq "and changes nothing" "2 3" "$(field "$a" remain) $(field "$a" sold)"
rcli XGROUP CREATE "tk:{a:$a}:events" persist 0 >/dev/null
rcli XREADGROUP GROUP persist c1 COUNT 1 STREAMS "tk:{a:$a}:events" '>' >/dev/null
out=$(ctl rebuild "$a" 2>&1); rc=$?
t_eq "pending and undelivered entries both count as unapplied" 1 "$rc"
t_contains "(1 pending + 2 after the last delivered)" "holds 3 unapplied events" "$out"
out=$(ctl stats "$a" 2>&1); rc=$?
t_eq "stats ID exits 0" 0 "$rc"
t_check "stats prints a table with stream figures" grep -Eq "^ID +KEY +TOTAL +SOLD +REMAIN +STREAM +LAG +PENDING$" <<<"$out"
t_check "and the activity's row: sold 3, remain 2, length 3, lag 2, pending 1" \
    grep -Eq "^$a +sale +5 +3 +2 +3 +2 +1$" <<<"$out"
t_contains "and the dead letters" "dead letters: 0" "$out"
t_contains "and the server-wide hit rate" "hit rate" "$out"

fake_persist "$a"
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "verify after drain exits 0" 0 "$rc"
t_eq "its last line says OK" "verify $a: OK" "$(tail -1 <<<"$out")"
t_contains "it prints the figures" "total 5  sold 3  remain 2  holders 3" "$out"
t_contains "of both sides" "mariadb   total 5  valid 3  used 0  cancelled 0" "$out"
out=$(ctl reconcile 2>&1); rc=$?
t_eq "reconcile of a drained, agreeing stack exits 0" 0 "$rc"
t_contains "with a summary" "reconcile: 1 activities, 0 with drift, 0 not drained" "$out"

# --- rebuild after Redis lost everything ------------------------------------
stock_before=$(hash_sorted "tk:{a:$a}:stock")
holders_before=$(hash_sorted "tk:{a:$a}:holders")
rcli FLUSHALL >/dev/null
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "verify of an activity redis lost exits 1" 1 "$rc"
t_contains "saying so" "verify $a: FAILED: not loaded in redis" "$out"
out=$(ctl reconcile 2>&1); rc=$?
t_eq "reconcile reports the lost activity (exit 1)" 1 "$rc"
t_contains "with the fix" "not loaded in redis (3 valid or used tickets in mariadb): ticketctl preheat $a" "$out"
out=$(ctl rebuild "$a" 2>&1); rc=$?
t_eq "rebuild after FLUSHALL exits 0" 0 "$rc"
t_contains "and reports" "$a sale total 5 remain 2 holders 3 rebuilt" "$out"
t_eq "the same stock as before" "$stock_before" "$(hash_sorted "tk:{a:$a}:stock")"
t_eq "the same holders as before" "$holders_before" "$(hash_sorted "tk:{a:$a}:holders")"
t_eq "the grab path sees the rebuilt holder" "1 00000000000000a2 2" "$(grab "$a" 2020000002 00000000000000fe)"
t_check "verify is OK again" ctl verify "$a"

# --- --force past unapplied events, then drift and repair -------------------
grab "$a" 2020000004 00000000000000a4 >/dev/null
out=$(ctl rebuild "$a" 2>&1); rc=$?
t_eq "a new unapplied grab blocks rebuild" 1 "$rc"
out=$(ctl rebuild --force "$a" 2>&1); rc=$?
t_eq "rebuild --force exits 0" 0 "$rc"
t_contains "and says what it forced past" "forced past 1 unapplied events" "$out"
t_eq "forcing dropped the unapplied grab from redis" "2 3 0" \
    "$(field "$a" remain) $(field "$a" sold) $(rcli HEXISTS "tk:{a:$a}:holders" 2020000004)"
# The persister then applies that grab: MariaDB holds a ticket Redis does not.
sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES ('00000000000000a4',$a,'2020000004',1,0,0)"
mark_consumed "$a"
out=$(ctl reconcile 2>&1); rc=$?
t_eq "reconcile finds the drift (exit 1)" 1 "$rc"
t_contains "naming the student" "student 2020000004 has valid ticket 00000000000000a4 in mariadb, no holder in redis" "$out"
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "verify fails on it too" "verify $a: FAILED: I3/I5 (1)" "$(tail -1 <<<"$out")"
# And a row lost, and a status that disagrees.
sql "DELETE FROM tickets WHERE student_id='2020000002'"
sql "UPDATE tickets SET status=2 WHERE student_id='2020000003'"
out=$(ctl reconcile 2>&1); rc=$?
t_eq "three drifts" 3 "$(grep -c 'I3/I5:' <<<"$out")"
t_contains "a holder without a row" "student 2020000002 holds valid ticket 00000000000000a2 in redis, no row in mariadb" "$out"
t_contains "a status mismatch" "student 2020000003: redis valid ticket 00000000000000a3, mariadb used ticket 00000000000000a3" "$out"
out=$(ctl reconcile --repair 2>&1); rc=$?
t_eq "reconcile --repair exits 0 when it fixed everything" 0 "$rc"
t_contains "saying what it repaired" "repaired student 2020000002: ticket 00000000000000a2 valid" "$out"
t_contains "and that the activity is clean now" "after repair: activity $a (sale): ok, 3 holders" "$out"
t_eq "MariaDB now says what Redis told the students" \
    "2020000001 00000000000000a1 1,2020000002 00000000000000a2 1,2020000003 00000000000000a3 1,2020000004 00000000000000a4 0" \
    "$(sql "SELECT GROUP_CONCAT(CONCAT_WS(' ', student_id, unique_id, status) ORDER BY student_id) FROM tickets WHERE activity_id=$a")"
out=$(ctl reconcile 2>&1); rc=$?
t_eq "reconcile afterwards exits 0" 0 "$rc"
out=$(ctl reconcile --repair 2>&1); rc=$?
t_eq "and a repair of a clean stack changes nothing" \
    "0 reconcile: 1 activities, 0 with drift, 0 not drained, 0 repaired" "$rc $(tail -1 <<<"$out")"

# --- verify catches broken invariants -----------------------------------------
rcli HINCRBY "tk:{a:$a}:stock" remain 1 >/dev/null
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "sold + remain != total fails verify" "1 verify $a: FAILED: I1 (1)" "$rc $(tail -1 <<<"$out")"
t_contains "showing the sum" "I1: sold 3 + remain 3 != total 5" "$out"
rcli HINCRBY "tk:{a:$a}:stock" remain -1 >/dev/null
rcli HINCRBY "tk:{a:$a}:stock" remain -1 >/dev/null
rcli HINCRBY "tk:{a:$a}:stock" sold 1 >/dev/null
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "sold != holders fails verify as I4" "1 verify $a: FAILED: I4 (1)" "$rc $(tail -1 <<<"$out")"
rcli HINCRBY "tk:{a:$a}:stock" remain 1 >/dev/null
rcli HINCRBY "tk:{a:$a}:stock" sold -1 >/dev/null
rcli HSET "tk:{a:$a}:tickets" 00000000000000b1 1:2020000001 >/dev/null
out=$(ctl verify "$a" 2>&1); rc=$?
t_contains "two valid tickets of one student in redis fail I2" "verify $a: FAILED: I2 (1)" "$(tail -1 <<<"$out")"
rcli HDEL "tk:{a:$a}:tickets" 00000000000000b1 >/dev/null
out=$(ctl verify "$a" 2>&1); rc=$?
t_eq "and verify is OK once repaired by hand" "0 verify $a: OK" "$rc $(tail -1 <<<"$out")"
out=$(ctl verify 2>&1); rc=$?
t_eq "verify without an id is a usage error" 2 "$rc"

# --- checkin ----------------------------------------------------------------
len=$(rcli XLEN "tk:{a:$a}:events")
out=$(ctl checkin 00000000000000a1 2>&1); rc=$?
t_eq "checkin of a valid ticket exits 0" 0 "$rc"
t_contains "naming the holder" "ticket 00000000000000a1 of student 2020000001 (activity $a): checked in" "$out"
t_eq "redis marks it used" "2:2020000001" "$(rcli --raw HGET "tk:{a:$a}:tickets" 00000000000000a1)"
t_eq "and appends the check-in event for the persister" "$((len + 1)) c" \
    "$(rcli XLEN "tk:{a:$a}:events") $(rcli --raw XREVRANGE "tk:{a:$a}:events" + - COUNT 1 | sed -n 3p)"
out=$(ctl checkin 00000000000000a1 2>&1); rc=$?
t_eq "a second checkin exits 1" 1 "$rc"
t_contains "saying it is used" "already used" "$out"
out=$(ctl checkin 00000000000000a4 2>&1); rc=$?
t_eq "checkin of a cancelled ticket exits 1" 1 "$rc"
t_contains "saying so" "cancelled" "$out"
out=$(ctl checkin 0000000000000999 2>&1); rc=$?
t_eq "checkin of an unknown ticket exits 65" 65 "$rc"
out=$(ctl checkin 'bad id' 2>&1); rc=$?
t_eq "a malformed ticket id is refused with 65" 65 "$rc"
grab "$a" 2020000005 00000000000000a5 >/dev/null
out=$(ctl checkin 00000000000000a5 2>&1); rc=$?
t_eq "a ticket not yet in mariadb is found in redis" 0 "$rc"

# --- preheat --upcoming and rebuild --all ---------------------------------------
soon=$(ctl activity create -f "$(yaml soon '快开始' 10 $((now + 3600)) $((now + 7200)) published)")
later=$(ctl activity create -f "$(yaml later '下个月' 10 $((now + 30 * 86400)) $((now + 31 * 86400)) published)")
out=$(ctl preheat --upcoming 2 2>&1); rc=$?
t_eq "preheat --upcoming exits 0" 0 "$rc"
t_contains "it loads what opens within the window" "$soon soon total 10 remain 10 holders 0 loaded" "$out"
t_contains "and reports what is already there" "$a sale total 5 remain 1 holders 4 already loaded" "$out"
t_eq "but not what opens later" 0 "$(rcli EXISTS "tk:{a:$later}:stock")"
fake_persist "$a"
rcli FLUSHALL >/dev/null
out=$(ctl rebuild --all 2>&1); rc=$?
t_eq "rebuild --all after FLUSHALL exits 0" 0 "$rc"
t_eq "it rebuilds every published activity" 3 "$(grep -c ' rebuilt$' <<<"$out")"
t_eq "with the stock MariaDB implies" "1 4" "$(field "$a" remain) $(field "$a" sold)"
t_eq "and the used ticket stays used" "2:2020000001" "$(rcli --raw HGET "tk:{a:$a}:tickets" 00000000000000a1)"
out=$(ctl rebuild --all 7 2>&1); rc=$?
t_eq "rebuild --all with ids is a usage error" 2 "$rc"

# --- menu ---------------------------------------------------------------------
out=$(ctl menu show 2>&1); rc=$?
t_eq "menu show exits 0" 0 "$rc"
t_eq "an empty menu has the BOOKING_EMPTY button" "BOOKING_EMPTY" \
    "$(jq -r '.button[1].sub_button[0].key' <<<"$out")"
long=x$(printf '很长的名字%.0s' 1 2 3 4 5)
lid=$(ctl activity create -f "$(yaml longname "$long" 1 $((now - 60)) $((now + 86400)) published)")
sql "INSERT INTO menu (position, activity_id) VALUES (0, $a), (1, $later), (2, $lid)"
out=$(ctl menu show)
t_check "menu show prints valid JSON" jq -e . <<<"$out"
t_eq "the fixed buttons" "SERVICE_BOOK_WHAT SERVICE_GET_TICKET SERVICE_BIND SERVICE_HELP" \
    "$(jq -r '[.button[0].sub_button[].key] | join(" ")' <<<"$out")"
t_eq "one click button per menu activity, in order" \
    "BOOKING_ACTIVITY_$a BOOKING_ACTIVITY_$later BOOKING_ACTIVITY_$lid" \
    "$(jq -r '[.button[1].sub_button[] | select(.type == "click") | .key] | join(" ")' <<<"$out")"
t_eq "named after the activity" "新年音乐会" "$(jq -r '.button[1].sub_button[0].name' <<<"$out")"
name=$(jq -r '.button[1].sub_button[2].name' <<<"$out")
t_eq "a long name is cut to 60 bytes on a character boundary" 58 "$(printf %s "$name" | wc -c)"
t_check "and stays valid UTF-8" iconv -f UTF-8 -t UTF-8 <<<"$name"

t_done
