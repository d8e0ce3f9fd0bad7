#!/usr/bin/env bash
# ticket-persistd against the real servers: kill -9 while it drains and
# restart (nothing lost or doubled), entries of a dead consumer claimed,
# MariaDB stopped for 10 s while events keep arriving, a poison event
# dead-lettered while the rest continue, and ticketctl deadletter.
# The stack's own ticket-persistd is stopped for the duration and started
# again at the end with the command line scripts/stack uses.
# shellcheck disable=SC1091
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
export LC_ALL=C

tk_reset
rcli FUNCTION LOAD REPLACE "$(cat "$root/src/functions.lua")" >/dev/null

pidf=$TK_DIR/persistd.pid
log=$TK_DIR/persistd.log
conf=$TK_DIR/persist-test.conf

alive() { local p; p=$(cat "$pidf" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
pd_start() { # [config]
    setsid "$TK_BIN/ticket-persistd" -c "${1:-$TK_CONF}" </dev/null >>"$log" 2>&1 &
    echo $! >"$pidf"
}
pd_wait_gone() {
    local p=$1
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
pd_stop() {
    local p
    p=$(cat "$pidf" 2>/dev/null) || return 0
    kill -TERM "$p" 2>/dev/null && pd_wait_gone "$p"
    wait "$p" 2>/dev/null || true
}
pd_kill9() {
    local p
    p=$(cat "$pidf")
    kill -KILL "$p" 2>/dev/null
    pd_wait_gone "$p"
    { wait "$p"; } 2>/dev/null || true
}
trap 'rcli ACL SETUSER default +xadd >/dev/null; pd_stop; pd_start' EXIT

# The test's persister: short claim and retry times, small batches.
umask 077
sed -e 's/^persist: .*/persist: { batch_max = 200; batch_ms = 20; block_ms = 100; claim_idle_ms = 1000; max_deliveries = 3; backoff_max_ms = 1000; };/' \
    "$TK_CONF" >"$conf"
umask 022

load() { # act total
    rcli FCALL tk_load 3 "tk:{a:$1}:stock" "tk:{a:$1}:holders" "tk:{a:$1}:tickets" init "$2" >/dev/null
    rcli SADD tk:streams "$1" >/dev/null
}
keys4() { echo "tk:{a:$1}:stock tk:{a:$1}:holders tk:{a:$1}:tickets tk:{a:$1}:events"; }
grabs() { # act prefix from to [tid offset]
    local off=${5:-0}
    for i in $(seq "$3" "$4"); do
        printf 'FCALL tk_grab 4 %s %s%05d %016x\n' "$(keys4 "$1")" "$2" "$i" $(($1 * 10000000 + off + i))
    done | rcli >/dev/null
}
refunds() { # act prefix from to
    for i in $(seq "$3" "$4"); do
        printf 'FCALL tk_refund 4 %s %s%05d\n' "$(keys4 "$1")" "$2" "$i"
    done | rcli >/dev/null
}
group_field() { # act field
    rcli XINFO GROUPS "tk:{a:$1}:events" | sed -n "/^$2\$/{n;p;}"
}
drained() { [ "$(group_field "$1" pending)" = 0 ] && [ "$(group_field "$1" lag)" = 0 ]; }
wait_for() { # tries(0.1 s) cmd...
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}
holders_redis() { rcli HGETALL "tk:{a:$1}:holders" | paste - - | sort; }
holders_sql() { sql "SELECT student_id, unique_id FROM tickets WHERE activity_id=$1 AND status IN (1,2)" | sort; }
students_redis() { rcli HVALS "tk:{a:$1}:tickets" | cut -d: -f2 | sort -u | wc -l; }
rows_sql() { sql "SELECT COUNT(*) FROM tickets WHERE activity_id=$1"; }
rows_at_least() { [ "$(rows_sql "$1")" -ge "$2" ]; }
is() { # expected cmd...: the output of cmd, evaluated at each call
    local e=$1; shift
    [ "$("$@")" = "$e" ]
}
xlen() { rcli XLEN "$1"; }
owner_of() { sql "SELECT student_id FROM tickets WHERE unique_id='$1' AND activity_id=$2"; }
same_state() { # act what
    local r s
    r=$(holders_redis "$1") s=$(holders_sql "$1")
    t_eq "$2: MariaDB's valid tickets are Redis's holders ($(echo "$r" | wc -l))" "$r" "$s"
    t_eq "$2: one row per student who ever held a ticket" "$(students_redis "$1")" "$(rows_sql "$1")"
}

pd_stop

# --- kill -9 while draining, twice, then restart -------------------------
load 11 100000
grabs 11 p 1 4000
refunds 11 p 1 400
grabs 11 p 1 200 500000
pd_start "$conf"
wait_for 200 rows_at_least 11 1 || t_fail "kill -9: the persister started writing"
pd_kill9
echo "# first kill -9 with $(rows_sql 11) rows written, $(group_field 11 pending) entries pending"
pd_start "$conf"
wait_for 100 rows_at_least 11 2000
pd_kill9
echo "# second kill -9 with $(rows_sql 11) rows written, $(group_field 11 pending) entries pending"
pd_start "$conf"
t_check "kill -9: the restarted persister drains the stream" wait_for 600 drained 11
same_state 11 "kill -9"
t_eq "kill -9: refunded then regrabbed student holds the new ticket" \
    "p00001	$(printf %016x $((11 * 10000000 + 500001)))" \
    "$(sql "SELECT student_id, unique_id FROM tickets WHERE activity_id=11 AND student_id='p00001' AND status=1")"
t_eq "kill -9: refunded students' rows are cancelled" 200 \
    "$(sql "SELECT COUNT(*) FROM tickets WHERE activity_id=11 AND status=0")"
t_check "kill -9: acknowledged entries are trimmed" \
    wait_for 50 is 0 xlen 'tk:{a:11}:events'

# --- entries taken by a consumer that died are claimed ----------------------
pd_stop
load 12 100000
grabs 12 d 1 1000
rcli XGROUP CREATE 'tk:{a:12}:events' persist 0 >/dev/null
rcli XREADGROUP GROUP persist it-dead COUNT 300 STREAMS 'tk:{a:12}:events' '>' >/dev/null
t_eq "dead consumer: it holds 300 entries" 300 "$(group_field 12 pending)"
pd_start "$conf"
t_check "dead consumer: its entries are claimed and applied" wait_for 600 drained 12
same_state 12 "dead consumer"

# --- MariaDB stopped for 10 s while events keep arriving -----------------
load 13 100000
pid_before=$(cat "$pidf")
mpid=$(cat "$TK_DIR/mysql.pid")
kill -TERM "$mpid"
pd_wait_gone "$mpid"
for s in $(seq 0 9); do
    grabs 13 m $((s * 100 + 1)) $((s * 100 + 100))
    sleep 1
done
refunds 13 m 1 50
t_check "mariadb down: the events wait in the stream" \
    test "$(rcli XLEN 'tk:{a:13}:events')" -ge 1050
(set -a; . "$TK_DIR/stack.env"; "$root/scripts/stack" up --dir "$TK_DIR") >/dev/null 2>&1
t_check "mariadb down: all events applied after it returns" wait_for 600 drained 13
same_state 13 "mariadb down"
t_eq "mariadb down: the persister kept running" "$pid_before" "$(cat "$pidf")"
t_check "mariadb down: the persister retried with backoff" grep -q "not written" "$log"

# --- a poison event is dead-lettered, the rest go on ----------------------
load 14 100000
sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES ('00000000deadbeef', 999, 'stale', 1, 0, 0)"
grabs 14 x 1 50
rcli XADD 'tk:{a:14}:events' '*' t g sid x99999 tid 00000000deadbeef ts 1700000000000 >/dev/null
rcli XADD 'tk:{a:14}:events' '*' t z sid x99998 tid 00000000000000aa ts 1700000000000 >/dev/null
grabs 14 x 51 100
t_check "poison: the events after it are applied" wait_for 300 rows_at_least 14 100
t_check "poison: both bad events reach the dead letters" \
    wait_for 100 is 2 xlen tk:dead
t_check "poison: the stream is drained" wait_for 100 drained 14
dl=$(ctl deadletter list 2>&1)
t_contains "poison: deadletter list shows the refused event" "sid=x99999 tid=00000000deadbeef" "$dl"
t_contains "poison: with its delivery count" "deliveries=3" "$dl"
t_contains "poison: and the malformed one" "unknown type" "$dl"
t_eq "poison: the clashing ticket's row is untouched" "999	stale	1" \
    "$(sql "SELECT activity_id, student_id, status FROM tickets WHERE unique_id='00000000deadbeef'")"
same_state 14 "poison"
t_eq "deadletter retry: an unknown id is an error" 65 \
    "$(ctl deadletter retry 1-1 >/dev/null 2>&1; echo $?)"
sql "DELETE FROM tickets WHERE unique_id='00000000deadbeef'"
id=$(echo "$dl" | awk '/deadbeef/ {print $1}')
t_check "deadletter retry: once the cause is fixed" ctl deadletter retry "$id"
t_check "deadletter retry: the event is applied" \
    wait_for 100 is x99999 owner_of 00000000deadbeef 14
t_check "deadletter retry: only the malformed one is left (dead again)" \
    wait_for 50 is 1 xlen tk:dead

# --- a dead letter Redis refuses keeps its event pending -------------------
# XADD is the persister's only use of it: denied, the dead letter cannot be
# written, and acknowledging the event anyway would lose it.
pd_stop
load 15 100
rcli XADD 'tk:{a:15}:events' '*' t z sid x99997 tid 00000000000000ab ts 1700000000000 >/dev/null
grabs 15 y 1 20
dead_before=$(xlen tk:dead)
log_from=$(($(wc -l <"$log") + 1))
logged_since() { tail -n +"$log_from" "$log" | grep -q "$1"; }
rcli ACL SETUSER default -xadd >/dev/null
pd_start "$conf"
t_check "dead letter refused: the other events are applied" wait_for 300 rows_at_least 15 20
t_check "dead letter refused: the refusal is logged" \
    wait_for 100 logged_since "redis refused the dead letter of event"
t_eq "dead letter refused: its event stays pending" 1 "$(group_field 15 pending)"
t_eq "dead letter refused: no dead letter was written" "$dead_before" "$(xlen tk:dead)"
rcli ACL SETUSER default +xadd >/dev/null
t_check "dead letter refused: written once Redis takes it" \
    wait_for 100 is $((dead_before + 1)) xlen tk:dead
t_check "dead letter refused: then the stream is drained" wait_for 100 drained 15
t_contains "dead letter refused: the letter names the event" "sid=x99997" "$(ctl deadletter list 2>&1)"

# --- an event's time: its entry id's, or the ts an older event carries ----
# Functions since version 6 write no ts: the entry id's milliseconds are
# the event's time, and a dead letter keeps them as ts for its replay.
load 16 100
created() { sql "SELECT created_at FROM tickets WHERE unique_id='$1'"; }
sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES ('0000000000160003', 998, 'stale', 1, 0, 0)"
dead_before=$(xlen tk:dead)
rcli XADD 'tk:{a:16}:events' 1700000001234-0 t g sid w00001 tid 0000000000160001 >/dev/null
rcli XADD 'tk:{a:16}:events' 1700000002000-0 t g sid w00002 tid 0000000000160002 ts 1600000000999 >/dev/null
rcli XADD 'tk:{a:16}:events' 1700000003456-0 t g sid w00003 tid 0000000000160003 >/dev/null
t_check "event time: the two good events are applied" wait_for 300 rows_at_least 16 2
t_eq "event time: without ts, the entry id's seconds" 1700000001 "$(created 0000000000160001)"
t_eq "event time: an older event's ts still counts" 1600000000 "$(created 0000000000160002)"
t_check "event time: the clashing one is dead-lettered" \
    wait_for 100 is $((dead_before + 1)) xlen tk:dead
t_contains "event time: its letter keeps the entry id's time as ts" \
    "sid=w00003 tid=0000000000160003 ts=1700000003456" "$(ctl deadletter list 2>&1)"
sql "DELETE FROM tickets WHERE unique_id='0000000000160003'"
id=$(ctl deadletter list 2>&1 | awk '/0000000000160003/ {print $1}')
t_check "event time: the letter is retried" ctl deadletter retry "$id"
t_check "event time: the retried event is applied" \
    wait_for 100 is w00003 owner_of 0000000000160003 16
t_eq "event time: with the original time" 1700000003 "$(created 0000000000160003)"

# The counters ticketctl stats shows.
t_check "stats: counters in tk:persist:stats" test "$(rcli HGET tk:persist:stats applied)" -gt 0
t_contains "stats: ticketctl stats shows the dead letters" "persister:" "$(ctl stats 2>&1)"

t_done
