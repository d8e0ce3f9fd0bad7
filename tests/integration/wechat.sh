#!/usr/bin/env bash
# /wechat through the stack's real nginx, in plaintext and in safe mode:
# every row of API.md's command table, URL verification, require_encryption,
# retries (same MsgId: same reply, no second action) and the sale under
# load (no oversell, one ticket per student: I1, I2).
. "$(dirname "$0")/lib.sh"
tk_reset

build=${TK_BUILD:?TK_BUILD must name the build directory}
wx() { "$build/tests/integration/wxsend" "$@"; }
tkload() { "$build/bench/tkload" -u "$TK_HTTP" -q "$@"; }
# content [wxsend args...]: the Content of the reply.
content() { wx --field Content "$@"; }
redis_stock() { rcli hmget "tk:{a:$1}:stock" total remain sold | paste -sd' '; }

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S+00:00; }
# mk_act KEY NAME STATUS BOOK_START BOOK_END START END TOTAL: prints the id.
mk_act() {
    local f
    f=$(mktemp)
    cat >"$f" <<EOF
key: $1
name: $2
place: 大礼堂
description: a test activity
pic_url: https://example.edu/p.png
start_time: $(iso "$6")
end_time: $(iso "$7")
book_start: $(iso "$4")
book_end: $(iso "$5")
total_tickets: $8
status: $3
EOF
    ctl activity create -f "$f"
    rm -f "$f"
}
# load ID: what publishing does for a sale.
load() { ctl preheat "$1" >/dev/null; }
hour=3600 day=86400
# wait_until TRIES(0.1 s) CMD...: polls until CMD succeeds.
wait_until() {
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
# persisted TID: the ticket row is in MariaDB. Without ticket-persistd in
# this build the test writes the row the persister would have written.
persisted() { [ "$(sql "SELECT COUNT(*) FROM tickets WHERE unique_id='$1'")" = 1 ]; }
persist() { # TID ACTIVITY OPENID
    local sid
    sid=$(sid_of "$3")
    if [ ! -x "$TK_BIN/ticket-persistd" ]; then
        sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES ('$1', $2, '$sid', 1, $now, $now)"
        rcli DEL "tk:mytix:$sid" >/dev/null
    fi
    wait_until 100 persisted "$1"
}

# --- URL verification (GET) -------------------------------------------------
sig3() { printf '%s\n' "$@" | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1; }
ts=$now nonce=12345
good=$(sig3 "$TK_TOKEN" "$ts" "$nonce")
out=$(http GET "/wechat?signature=$good&timestamp=$ts&nonce=$nonce&echostr=hello4375120948")
t_eq "GET with a good signature echoes echostr exactly" "hello4375120948
HTTP 200" "$out"
out=$(http GET "/wechat?signature=0000000000000000000000000000000000000000&timestamp=$ts&nonce=$nonce&echostr=hello")
t_eq "GET with a bad signature is 403" "HTTP 403" "$(tail -1 <<<"$out")"
t_eq "GET without a signature is 400" "HTTP 400" \
    "$(http GET "/wechat?timestamp=$ts&nonce=$nonce&echostr=x" | tail -1)"
old=$((now - 3600))
t_eq "GET with a stale timestamp is 403" "HTTP 403" \
    "$(http GET "/wechat?signature=$(sig3 "$TK_TOKEN" "$old" "$nonce")&timestamp=$old&nonce=$nonce&echostr=x" | tail -1)"

# --- nothing open yet -----------------------------------------------------
t_contains "抢啥 with nothing open" "现在没有可以抢票的活动" "$(content 抢啥)"
rcli DEL tk:act:open >/dev/null # the short-TTL list (admin writes follow)

# --- fixtures ------------------------------------------------------------------
open_id=$(mk_act wxopen 开放音乐会 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 50)
soon_start=$((now + day))
soon_id=$(mk_act wxsoon 未来讲座 published "$soon_start" $((now + 2 * day)) $((now + 3 * day)) $((now + 3 * day + hour)) 10)
over_id=$(mk_act wxover 过期晚会 published $((now - 2 * day)) $((now - day)) $((now + day)) $((now + day + hour)) 10)
saved_id=$(mk_act wxsaved 草稿活动 saved $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 10)
del_id=$(mk_act wxdel 删除活动 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 10)
started_id=$(mk_act wxstarted 已开演出 published $((now - 2 * hour)) $((now + hour)) $((now - 60)) $((now + hour)) 10)
sold_id=$(mk_act wxsold 一张票 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 1)
nopre_id=$(mk_act wxnopre 未预热 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 10)
t_check "fixtures created" test -n "$open_id" -a -n "$started_id" -a -n "$sold_id"
ctl activity delete "$del_id" >/dev/null
for a in "$open_id" "$soon_id" "$over_id" "$started_id" "$sold_id"; do
    load "$a"
done
roster=$(mktemp)
{
    echo "student_id,name,password,openid"
    for i in 1 2 3 4 5 6; do
        echo "201000000$i,学生$i,pw$i,owxp$i"
        echo "202000000$i,学生$i,pw$i,owxs$i"
    done
} >"$roster"
t_check "roster imported with openids" ctl user import "$roster"
rm -f "$roster"
sid_of() { sql "SELECT IFNULL(student_id, '') FROM users WHERE openid='$1'"; }

# --- every row, in both modes ----------------------------------------------
# rows MODE_FLAG TAG: users owxTAG1..6 are bound, owxTAGu is not.
rows() {
    local mode=$1 m=$2 u1=owx${2}1 u2=owx${2}2 u3=owx${2}3 u4=owx${2}4
    local u5=owx${2}5 u6=owx${2}6 nb=owx${2}u name="[$2]" out tid tid2
    set -- $mode

    out=$(wx "$@" --openid "$u1" --field Title 帮助)
    t_contains "$name 帮助 is the guide" "使用指南" "$out"
    t_eq "$name 帮助 links to /u/help" "$TK_HTTP/u/help" "$(wx "$@" --openid "$u1" --field Url 帮助)"
    out=$(wx "$@" --openid "$u1" --field Description help)
    t_check "$name help (bound) does not ask to bind" test "${out#*回复“绑定”}" = "$out"
    t_contains "$name HELP is case-insensitive; unbound users are told to bind" "回复“绑定”" \
        "$(wx "$@" --openid "$nb" --field Description HELP)"
    t_contains "$name event subscribe gets the guide" "使用指南" "$(wx "$@" --openid "$nb" --field Title --event subscribe)"
    t_contains "$name event SCAN gets the guide" "使用指南" "$(wx "$@" --openid "$u1" --field Title --event SCAN 123)"
    t_contains "$name CLICK SERVICE_HELP gets the guide" "使用指南" "$(wx "$@" --openid "$u1" --field Title --event CLICK SERVICE_HELP)"

    out=$(content "$@" --openid "$nb" 绑定)
    t_contains "$name 绑定 unbound asks to bind" "请先绑定学号" "$out"
    t_contains "$name 绑定 unbound carries a signed bind link" "$TK_HTTP/u/bind?openid=$nb&sig=" "$out"
    t_contains "$name 绑定 bound names the student" "您已经绑定了学号$(sid_of "$u1")" "$(content "$@" --openid "$u1" 绑定)"
    t_contains "$name CLICK SERVICE_BIND" "您已经绑定了学号" "$(content "$@" --openid "$u1" --event CLICK SERVICE_BIND)"

    out=$(wx "$@" --openid "$u1" --field Url 抢啥)
    t_eq "$name 抢啥 text: one item" 1 "$(grep -c . <<<"$out")"
    t_eq "$name 抢啥 text: the soonest first, linked by id" "$TK_HTTP/u/activity?id=$started_id" "$out"
    out=$(wx "$@" --openid "$u1" --field Title --event CLICK SERVICE_BOOK_WHAT)
    t_eq "$name 抢啥 click: every open activity (not ended, published, not deleted)" \
        "已开演出 开放音乐会 一张票 未预热 未来讲座" "$(paste -sd' ' <<<"$out")"
    t_contains "$name BOOKING_EMPTY" "现在没有可以抢票的活动" "$(content "$@" --openid "$u1" --event CLICK BOOKING_EMPTY)"

    t_contains "$name 抢票 unbound" "请先绑定学号" "$(content "$@" --openid "$nb" "抢票 wxopen")"
    t_contains "$name 抢票 unbound gets the bind link" "/u/bind?openid=$nb&sig=" "$(content "$@" --openid "$nb" "抢票 wxopen")"
    t_contains "$name 抢票 without a key" "请输入：抢票 活动代称" "$(content "$@" --openid "$u1" 抢票)"
    t_contains "$name 抢票 unknown key" "活动不存在" "$(content "$@" --openid "$u1" "抢票 nosuchkey")"
    t_contains "$name 抢票 unpublished" "活动不存在" "$(content "$@" --openid "$u1" "抢票 wxsaved")"
    t_contains "$name 抢票 deleted" "活动不存在" "$(content "$@" --openid "$u1" "抢票 wxdel")"
    t_contains "$name CLICK of an unknown id" "活动不存在" "$(content "$@" --openid "$u1" --event CLICK BOOKING_ACTIVITY_999999)"
    t_contains "$name 抢票 before book_start, with the opening time in Beijing time" \
        "抢票尚未开始，开抢时间：$(TZ=Asia/Shanghai date -d "@$soon_start" '+%Y-%m-%d %H:%M')" \
        "$(content "$@" --openid "$u1" "抢票 wxsoon")"
    t_contains "$name 抢票 after book_end" "抢票已经结束" "$(content "$@" --openid "$u1" "抢票 wxover")"

    out=$(content "$@" --openid "$u1" "抢票　wxopen") # full-width space
    t_contains "$name 抢票 succeeds" "抢票成功" "$out"
    t_contains "$name 抢票 success names the activity" "开放音乐会" "$out"
    tid=$(grep -o 'ticket=[0-9a-f]\{16\}' <<<"$out" | cut -d= -f2)
    t_contains "$name 抢票 success links the signed ticket" "$TK_HTTP/u/ticket?openid=$u1&ticket=$tid&sig=" "$out"
    t_eq "$name the ticket is held in Redis" "$tid" "$(rcli HGET "tk:{a:$open_id}:holders" "$(sid_of "$u1")")"
    out=$(content "$@" --openid "$u1" "抢票 wxopen")
    t_contains "$name 抢票 again: already holds it" "您已经抢到票了" "$out"
    t_contains "$name ... with the same ticket link" "ticket=$tid&sig=" "$out"
    t_contains "$name CLICK BOOKING_ACTIVITY_<id> grabs" "抢票成功" \
        "$(content "$@" --openid "$u2" --event CLICK "BOOKING_ACTIVITY_$open_id")"

    t_contains "$name 取票 gives the ticket" "ticket=$tid&sig=" "$(wx "$@" --openid "$u1" --field Url "取票 wxopen")"
    t_contains "$name 取票 names the activity" "开放音乐会" "$(wx "$@" --openid "$u1" --field Title "取票 wxopen")"
    t_contains "$name 取票 without a ticket" "您没有该活动的票" "$(content "$@" --openid "$u3" "取票 wxopen")"
    t_contains "$name 取票 unknown" "活动不存在" "$(content "$@" --openid "$u3" "取票 nosuchkey")"

    t_check "$name the ticket reaches MariaDB" persist "$tid" "$open_id" "$u1"
    out=$(wx "$@" --openid "$u1" --field Url 查票)
    t_contains "$name 查票 text: one link to the signed list page" "$TK_HTTP/u/tickets?openid=$u1&sig=" "$out"
    t_eq "$name 查票 text: one item" 1 "$(grep -c . <<<"$out")"
    out=$(wx "$@" --openid "$u1" --field Url --event CLICK SERVICE_GET_TICKET)
    t_contains "$name 查票 click: the tickets themselves, signed" "$TK_HTTP/u/ticket?openid=$u1&ticket=$tid&sig=" "$out"
    t_contains "$name 查票 click: titled by activity" "开放音乐会" \
        "$(wx "$@" --openid "$u1" --field Title --event CLICK SERVICE_GET_TICKET)"
    t_contains "$name 查票 with no tickets" "您还没有票" "$(content "$@" --openid "$u4" 查票)"

    t_contains "$name 退票 unbound" "请先绑定学号" "$(content "$@" --openid "$nb" "退票 wxopen")"
    t_contains "$name 退票 without a key" "请输入" "$(content "$@" --openid "$u1" 退票)"
    t_contains "$name 退票 unknown" "活动不存在" "$(content "$@" --openid "$u1" "退票 nosuchkey")"
    local before after
    before=$(redis_stock "$open_id")
    t_contains "$name 退票 succeeds" "退票成功" "$(content "$@" --openid "$u2" "退票 wxopen")"
    after=$(redis_stock "$open_id")
    t_eq "$name 退票 returns exactly one unit of stock (I4)" \
        "$(awk '{ print $1, $2 + 1, $3 - 1 }' <<<"$before")" "$after"
    t_contains "$name 退票 again: no ticket" "您没有该活动的票" "$(content "$@" --openid "$u2" "退票 wxopen")"
    t_contains "$name the student may grab again" "抢票成功" "$(content "$@" --openid "$u2" "抢票 wxopen")"

    out=$(content "$@" --openid "$u3" "抢票 wxopen")
    tid2=$(grep -o 'ticket=[0-9a-f]\{16\}' <<<"$out" | cut -d= -f2)
    rcli FCALL tk_checkin 4 "tk:{a:$open_id}:stock" "tk:{a:$open_id}:holders" \
        "tk:{a:$open_id}:tickets" "tk:{a:$open_id}:events" "$tid2" "" >/dev/null
    t_contains "$name 退票 of a used ticket" "票已使用，无法退票" "$(content "$@" --openid "$u3" "退票 wxopen")"
    t_contains "$name 抢票 on a started activity still in its window" "抢票成功" "$(content "$@" --openid "$u4" "抢票 wxstarted")"
    t_contains "$name 退票 after the activity started" "活动已开始，无法退票" "$(content "$@" --openid "$u4" "退票 wxstarted")"

    t_contains "$name last ticket" "抢票成功" "$(content "$@" --openid "$u5" "抢票 wxsold")"
    t_contains "$name sold out" "对不起，票已经被抢光啦" "$(content "$@" --openid "$u6" "抢票 wxsold")"
    t_contains "$name sold out again (worker-local flag or Redis)" "票已经被抢光" "$(content "$@" --openid "$u6" "抢票 wxsold")"

    t_contains "$name not loaded in Redis: busy" "系统繁忙，请稍后再试" "$(content "$@" --openid "$u1" "抢票 wxnopre")"
    t_contains "$name ... and the log names the fix" "ticketctl preheat $nopre_id" "$(cat "$TK_DIR/ticketd.log")"

    t_contains "$name anything else" "对不起，没有找到您需要的信息" "$(content "$@" --openid "$u1" 随便说点什么)"
    t_eq "$name image: success" success "$(wx "$@" --openid "$u1" --type image)"
    t_eq "$name event VIEW: success" success "$(wx "$@" --openid "$u1" --event VIEW http://x)"
    t_eq "$name TEMPLATESENDJOBFINISH: success" success "$(wx "$@" --openid "$u1" --event TEMPLATESENDJOBFINISH)"

    t_contains "$name 解绑" "学号绑定已经解除" "$(content "$@" --openid "$u6" 解绑)"
    t_eq "$name 解绑 forgets the binding in MariaDB" "" "$(sid_of "$u6")"
    t_contains "$name ... and in the cache" "请先绑定学号" "$(content "$@" --openid "$u6" 绑定)"
    t_contains "$name unsubscribe" "学号绑定已经解除" "$(content "$@" --openid "$u5" --event unsubscribe)"
    t_eq "$name unsubscribe forgets the binding" "" "$(sid_of "$u5")"
}
rows "" p
# Give the one-ticket activity its ticket back for the second pass: let
# the persister apply the first pass's events, clear both sides, wait out
# the workers' local sold-out flag (cache.soldout_ms, 500 ms), load again.
ctl verify --wait 20 "$sold_id" >/dev/null 2>&1 || true
sql "DELETE FROM tickets WHERE activity_id=$sold_id"
rcli DEL "tk:{a:$sold_id}:stock" "tk:{a:$sold_id}:holders" "tk:{a:$sold_id}:tickets" \
    "tk:{a:$sold_id}:events" >/dev/null
sleep 0.6
load "$sold_id"
rows --safe s

# Safe mode replies are encrypted (wxsend checks the envelope's
# MsgSignature and nonce and decrypts; a plaintext reply is an error).
t_check "a safe-mode reply is an encrypted envelope" wx --safe --openid owxs1 --field Content 帮助

# --- retries ----------------------------------------------------------------
retry_id=$(mk_act wxretry 重试测试 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 1)
load "$retry_id"
cat >"$TK_DIR/retry.csv" <<EOF
student_id,name,password,openid
2099000001,R1,pw,owxr1
2099000002,R2,pw,owxr2
EOF
ctl user import "$TK_DIR/retry.csv" >/dev/null
first=$(content --safe --openid owxr1 --msgid 880001 "抢票 wxretry")
stock=$(redis_stock "$retry_id")
t_contains "retry: the first delivery grabs" "抢票成功" "$first"
t_contains "retry: another student finds it sold out" "票已经被抢光" "$(content --openid owxr2 "抢票 wxretry")"
for i in 1 2 3; do
    again=$(content --safe --openid owxr1 --msgid 880001 "抢票 wxretry")
    t_eq "retry $i: the same MsgId gets the identical reply, even sold out" "$first" "$again"
done
t_eq "retry: stock unchanged by the retries" "$stock" "$(redis_stock "$retry_id")"
t_contains "retry: the same MsgId from another student is not a retry (sold out)" "票已经被抢光" \
    "$(content --openid owxr2 --msgid 880001 "抢票 wxretry")"
# entries-added, not XLEN: the persister trims what it has applied.
t_eq "retry: one event ever added to the stream" 1 \
    "$(rcli XINFO STREAM "tk:{a:$retry_id}:events" | sed -n '/^entries-added$/{n;p;}')"
first=$(content --openid owxr1 --msgid 880002 "退票 wxretry")
again=$(content --openid owxr1 --msgid 880002 "退票 wxretry")
t_eq "retry of a refund: the identical reply" "$first" "$again"
t_eq "retry of a refund: one unit returned" "1 1 0" "$(redis_stock "$retry_id")"
# 解绑 acts: its reply is stored, and a retry gets it back byte for byte
# without acting again.
first=$(wx --openid owxr2 --msgid 880004 解绑)
t_contains "解绑 answers" "学号绑定已经解除" "$first"
ctl user bind owxr2 2099000002 >/dev/null
t_eq "retry of 解绑: the stored reply, byte for byte" "$first" "$(wx --openid owxr2 --msgid 880004 解绑)"
t_eq "retry of 解绑: it does not act twice" 2099000002 "$(sid_of owxr2)"
t_contains "retry: a MsgId of another user does not leak its reply" "owxr1" \
    "$(wx --openid owxr1 --msgid 880004 解绑 | grep -o '<ToUserName><!\[CDATA\[[a-z0-9]*')"
ctl user bind owxr1 2099000001 >/dev/null
# The reads (帮助 绑定 抢啥 取票 查票) store nothing: a retry is answered
# anew, with what is true then.
first=$(content --openid owxr2 --msgid 880003 查票)
t_contains "查票 before a grab" "您还没有票" "$first"
t_eq "a read stores no reply" 0 "$(rcli EXISTS tk:reply:880003)"
t_contains "retry of 帮助: the same guide" "使用指南" "$(wx --openid owxr2 --msgid 880005 --field Title 帮助)"
t_eq "retry of 帮助: the same guide again" "$(wx --openid owxr2 --msgid 880005 --field Description 帮助)" \
    "$(wx --openid owxr2 --msgid 880005 --field Description 帮助)"

# --- require_encryption -----------------------------------------------------
conf_backup=$(mktemp)
cp -p "$TK_CONF" "$conf_backup"
restore() {
    if [ -n "${conf_backup:-}" ]; then
        cp -p "$conf_backup" "$TK_CONF"
        rm -f "$conf_backup"
        conf_backup=
        kill -HUP "$(cat "$TK_DIR/ticketd.pid")"
    fi
}
trap restore EXIT
plain_refused() { [ "$(wx --openid owxp1 帮助)" = "HTTP 403" ]; }
sed -i 's/require_encryption = false;/require_encryption = true;/' "$TK_CONF"
kill -HUP "$(cat "$TK_DIR/ticketd.pid")"
t_check "require_encryption: a plaintext POST is refused (403)" wait_until 100 plain_refused
t_contains "require_encryption: safe mode still works" "使用指南" "$(wx --safe --openid owxp1 --field Title 帮助)"
restore
plain_accepted() { wx --openid owxp1 --field Title 帮助 | grep -q 使用指南; }
t_check "require_encryption off again: plaintext accepted" wait_until 100 plain_accepted

# --- the sale under load ---------------------------------------------------
sale_id=$(mk_act wxsale 大型演出 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 1000)
load "$sale_id"
{
    echo "student_id,name,password,openid"
    for i in $(seq 0 4999); do printf '31%08d,L,pw,oload%07d\n' "$i" "$i"; done
} >"$TK_DIR/load.csv"
ctl user import "$TK_DIR/load.csv" >/dev/null
tickets=$TK_DIR/load-tickets.txt
calls0=$(metric ticketd_redis_calls_total) batches0=$(metric ticketd_redis_batches_total)
tkload -c 64 -n 5000 --users 5000 --prefix oload --tickets-out "$tickets" \
    -o "$TK_DIR/load.json" grab wxsale
calls=$(( $(metric ticketd_redis_calls_total) - calls0 ))
batches=$(( $(metric ticketd_redis_batches_total) - batches0 ))
summary=$(cat "$TK_DIR/load.json")
t_contains "5000 students vs 1000 tickets: 1000 success replies" '"success": 1000,' "$summary"
t_contains "... the others sold out" '"soldout": 4000,' "$summary"
t_contains "... no errors" '"errors": 0,' "$summary"
t_eq "... for 1000 distinct students" 1000 "$(cut -d' ' -f1 "$tickets" | sort -u | wc -l)"
t_eq "... with 1000 distinct tickets" 1000 "$(cut -d' ' -f2 "$tickets" | sort -u | wc -l)"
# The roster came after the preheat, so no binding is in Redis: every
# first grab hears so from tk_grab_bound, loads the binding (cache-aside)
# and grabs with tk_grab: well over 6000 exchanges, sent together on the
# workers' shared connections.
t_check "/metrics: at least 6000 Redis exchanges in the sale (got $calls)" test "$calls" -ge 6000
t_check "... in fewer round trips ($batches)" test "$batches" -lt "$calls"
t_eq "I1: sold + remain == total, remain 0" "1000 0 1000" "$(redis_stock "$sale_id")"
t_eq "I2: one holder per ticket sold" 1000 "$(rcli HLEN "tk:{a:$sale_id}:holders")"
held=$(rcli HVALS "tk:{a:$sale_id}:holders" | sort)
t_eq "I2: the holders are exactly the success replies" "$held" "$(cut -d' ' -f2 "$tickets" | sort)"
if [ -x "$TK_BIN/ticket-persistd" ]; then
    drained() { [ "$(sql "SELECT COUNT(*) FROM tickets WHERE activity_id=$sale_id AND status=1")" = 1000 ]; }
    t_check "I3: MariaDB holds the 1000 tickets after drain" wait_until 300 drained
    t_eq "I3: the rows are the success replies" "$(cut -d' ' -f2 "$tickets" | sort)" \
        "$(sql "SELECT unique_id FROM tickets WHERE activity_id=$sale_id AND status=1 ORDER BY unique_id")"
fi

# A warm sale: preheated after the roster, so the bindings are in Redis and
# a grab is one exchange (tk_grab_bound), a sold-out reply one too. A few
# more re-read the activity into each worker's local cache or re-check the
# sold-out flag; two exchanges a grab would be about 10000.
warm_id=$(mk_act wxwarm 暖场演出 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 500)
load "$warm_id"
wtickets=$TK_DIR/warm-tickets.txt
calls0=$(metric ticketd_redis_calls_total)
tkload -c 64 -n 5000 --users 5000 --prefix oload --tickets-out "$wtickets" \
    -o "$TK_DIR/warm.json" grab wxwarm
calls=$(( $(metric ticketd_redis_calls_total) - calls0 ))
summary=$(cat "$TK_DIR/warm.json")
t_contains "warm sale, 5000 students vs 500 tickets: 500 success replies" '"success": 500,' "$summary"
t_contains "... the others sold out" '"soldout": 4500,' "$summary"
t_contains "... no errors" '"errors": 0,' "$summary"
t_check "... one Redis exchange a grab: $calls for 5000 (at most 5500)" test "$calls" -le 5500
t_eq "... I1: sold + remain == total" "500 0 500" "$(redis_stock "$warm_id")"
held=$(rcli HVALS "tk:{a:$warm_id}:holders" | sort)
t_eq "... I2: the holders are exactly the success replies" "$held" "$(cut -d' ' -f2 "$wtickets" | sort)"
t_eq "... for 500 distinct students" 500 "$(cut -d' ' -f1 "$wtickets" | sort -u | wc -l)"

one_id=$(mk_act wxone 单人并发 published $((now - hour)) $((now + hour)) $((now + day)) $((now + day + hour)) 100)
load "$one_id"
tkload -c 32 -n 32 --users 1 --first 7 --prefix oload --aes-key "$TK_AES_KEY" \
    --appid "$TK_APPID" -o "$TK_DIR/one.json" grab wxone
summary=$(cat "$TK_DIR/one.json")
t_contains "one student, 32 parallel grabs (safe mode): one success" '"success": 1,' "$summary"
t_contains "... 31 told they already hold it" '"duplicate": 31,' "$summary"
t_eq "... one ticket sold" "100 99 1" "$(redis_stock "$one_id")"

t_done
