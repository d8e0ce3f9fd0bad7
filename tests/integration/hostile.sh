#!/usr/bin/env bash
# Hostile input through the stack's real nginx (issue 10, part 3): bodies
# oversized, truncated and empty, signatures wrong and missing, stale
# timestamps, DOCTYPE and entity bombs, invalid UTF-8, 10 KB Content, SQL
# metacharacters in every field of WeChat messages and API inputs, path
# traversal in upload file names, huge query strings and headers, slow
# clients. Each gets a clear status or reply; afterwards no process crashed
# (the ticketd master and worker pids are the same, /healthz answers) and
# nothing changed (table checksums, each activity's stock, holders, tickets
# and stream head, sessions, files), uploads aside, which are accounted
# for one by one.
. "$(dirname "$0")/lib.sh"
tk_reset

tmp=$(mktemp -d)
jar=$tmp/cookies
slow_pids=()
cleanup() {
    for p in "${slow_pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
now=$(date +%s)
sign() { "$TK_BUILD/tests/integration/tk-sign" "$TK_CONF" "$@"; }
meta="x'\";--\\%"          # the metacharacters: ' " ; -- \ %
meta_sql="' OR '1'='1' -- ;\"\\%"

# --- fixtures --------------------------------------------------------------------
printf 'student_id,name,password,openid\n2022000001,甲,pw-one,ohostile-bound\n2022000002,乙,pw-two,\n' >"$tmp/roster.csv"
t_check "roster imported" ctl user import "$tmp/roster.csv"
t_check "admin created" sh -c "printf 'boss-password\n' | '$TK_BIN/ticketctl' -q -c '$TK_CONF' admin add boss"
cat >"$tmp/act.yaml" <<YAML
key: hostile1
name: hostile
place: lab
description: hostile input
start_time: $(date -d "@$((now + 86400))" --iso-8601=seconds)
end_time: $(date -d "@$((now + 90000))" --iso-8601=seconds)
book_start: $(date -d "@$((now - 60))" --iso-8601=seconds)
book_end: $(date -d "@$((now + 3600))" --iso-8601=seconds)
total_tickets: 5
status: saved
YAML
act=$(ctl activity create -f "$tmp/act.yaml")
t_check "activity $act published and loaded" ctl activity publish "$act"

# WeChat plaintext-mode signing: sha1 of the sorted token, timestamp, nonce.
wxsig() { printf '%s\n' "$TK_TOKEN" "$1" "$2" | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1; }
wxq() { # [TIMESTAMP]: a signed query string
    local ts=${1:-$(date +%s)} n=$RANDOM$RANDOM
    printf 'signature=%s&timestamp=%s&nonce=%s' "$(wxsig "$ts" "$n")" "$ts" "$n"
}
msgid=$((now * 1000))
# wxmsg FROM CONTENT [TO [MSGTYPE [CREATETIME [MSGID]]]]: a text message.
wxmsg() {
    msgid=$((msgid + 1))
    printf '<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[%s]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%s</MsgId></xml>' \
        "${3:-$TK_ORIGINAL_ID}" "$1" "${5:-$(date +%s)}" "${4:-text}" "$2" "${6:-$msgid}"
}
# wxevent FROM EVENT KEY: an event message.
wxevent() {
    printf '<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[%s]]></EventKey></xml>' \
        "$TK_ORIGINAL_ID" "$1" "$(date +%s)" "$2" "$3"
}
# wxpost FILE [QUERY]: POSTs the file to /wechat; prints the body then
# "HTTP <code>" on the last line.
wxpost() {
    curl -sS -m 10 -H 'Content-Type: text/xml' --data-binary "@$1" \
        -w '\nHTTP %{http_code}' "$TK_HTTP/wechat?${2:-$(wxq)}"
}
body() { printf '%s' "$2" >"$tmp/$1"; echo "$tmp/$1"; }
# t_one_of DESC ACTUAL ALLOWED...: passes when ACTUAL is one of ALLOWED.
t_one_of() {
    local d=$1 a=$2 x
    shift 2
    for x in "$@"; do
        if [ "$a" = "$x" ]; then t_ok "$d"; return; fi
    done
    t_fail "$d" "expected one of: $*" "actual: ${a:0:600}"
}

out=$(wxpost "$(body grab "$(wxmsg ohostile-bound "抢票 hostile1")")")
t_contains "fixture: a real grab through /wechat succeeds" "抢票成功" "$out"
t_check "fixture: the grab reaches MariaDB" ctl verify --wait 30 "$act"

login() {
    rcli --scan --pattern 'tk:login:fail:*' | xargs -r -d '\n' redis-cli -s "$TK_REDIS_SOCK" del >/dev/null
    curl -sS -c "$jar" -H 'Content-Type: application/json' \
        --data-binary '{"username":"boss","password":"boss-password"}' "$TK_HTTP/api/a/login" | jq -r .code
}
t_eq "fixture: the admin logs in" 0 "$(login)"
api() { local p=$1; shift; curl -sS -m 10 -b "$jar" "$@" "$TK_HTTP$p"; }
post_json() { api "$1" -H 'Content-Type: application/json' --data-binary "$2"; }
code() { jq -r .code <<<"$1" 2>/dev/null; }

# The state that must not move: every table but images (uploads are
# checked one by one), each activity's stock, holders, tickets and stream
# head (a trim by the persister does not change the last id), sessions.
snapshot() {
    sql "CHECKSUM TABLE activities, students, users, tickets, admins, menu, schema_migrations" | cut -f2 | paste -sd' '
    local k
    for k in $(rcli --scan --pattern 'tk:{a:*}:*' | grep -E ':(stock|holders|tickets|events)$' | sort); do
        case $k in
        *:events) echo "$k $(rcli xinfo stream "$k" | sed -n '/^last-generated-id$/{n;p}')" ;;
        *) echo "$k $(rcli hgetall "$k" | paste -sd' ' | tr ' ' '\n' | paste -d= - - | sort | paste -sd' ')" ;;
        esac
    done
    echo "sessions $(rcli --scan --pattern 'tk:sess:*' | wc -l)"
}
procs() { echo "$(cat "$TK_DIR/ticketd.pid") $(pgrep -P "$(cat "$TK_DIR/ticketd.pid")" | sort | paste -sd' ')"; }
wechat_requests() {
    curl -sf "$TK_HTTP/metrics" | awk '/^ticketd_requests_total\{route="\/wechat"/ { s += $2 } END { print s + 0 }'
}
state0=$(snapshot)
procs0=$(procs)
logpos=$(stat -c %s "$TK_DIR/ticketd.log")
images0=$(sql "SELECT COUNT(*) FROM images")

# --- /wechat: bodies ------------------------------------------------------------------
head -c 102400 /dev/zero | tr '\0' 'x' >"$tmp/100k"
t_eq "a 100 KiB body is refused by nginx: 413" "HTTP 413" "$(wxpost "$tmp/100k" | tail -1)"
pad=$(head -c 61000 /dev/zero | tr '\0' 'x')
t_eq "a 60 KiB message under nginx's cap is refused by ticketd (Content over its bound): 400" "HTTP 400" \
    "$(wxpost "$(body 60k "$(wxmsg ohostile-bound "$pad")")" | tail -1)"
t_eq "a truncated XML message is 400" "HTTP 400" \
    "$(wxpost "$(body trunc "$(wxmsg ohostile-bound "抢票 hostile1" | head -c 120)")" | tail -1)"
t_eq "an XML message cut inside CDATA is 400" "HTTP 400" \
    "$(wxpost "$(body trunc2 "$(wxmsg ohostile-bound "抢票 hostile1" | sed 's/\]\]><\/Content>.*//')")" | tail -1)"
t_eq "an empty body is 400" "HTTP 400" "$(wxpost "$(body empty '')" | tail -1)"
t_eq "a POST without a body or Content-Length is 411" "HTTP 411" \
    "$(curl -sS -m 10 -X POST -o /dev/null -w 'HTTP %{http_code}' "$TK_HTTP/wechat?$(wxq)")"
t_eq "a body that is not XML is 400" "HTTP 400" "$(wxpost "$(body junk 'hello, world')" | tail -1)"
t_eq "a binary body is 400" "HTTP 400" "$(wxpost "$(head -c 4096 /dev/urandom >"$tmp/bin"; echo "$tmp/bin")" | tail -1)"

# --- /wechat: signatures and timestamps ---------------------------------------------------
grab_body=$(body g1 "$(wxmsg ohostile-bound "抢票 hostile1")")
ts=$(date +%s)
t_eq "a wrong signature is 403" "HTTP 403" \
    "$(wxpost "$grab_body" "signature=$(wxsig "$ts" 1 | tr 0-9a-f 1-9a-f0)&timestamp=$ts&nonce=1" | tail -1)"
t_eq "a signature over another nonce is 403" "HTTP 403" \
    "$(wxpost "$grab_body" "signature=$(wxsig "$ts" 1)&timestamp=$ts&nonce=2" | tail -1)"
t_eq "a missing signature is 400" "HTTP 400" "$(wxpost "$grab_body" "timestamp=$ts&nonce=1" | tail -1)"
t_eq "a missing timestamp is 400" "HTTP 400" "$(wxpost "$grab_body" "signature=$(wxsig "" 1)&nonce=1" | tail -1)"
t_eq "no query at all is 400" "HTTP 400" "$(wxpost "$grab_body" "x=1" | tail -1)"
t_eq "a signed timestamp 1000 s old (max_clock_skew 300) is 403" "HTTP 403" \
    "$(wxpost "$grab_body" "$(wxq $((ts - 1000)))" | tail -1)"
t_eq "a signed timestamp 1000 s ahead is 403" "HTTP 403" \
    "$(wxpost "$grab_body" "$(wxq $((ts + 1000)))" | tail -1)"
t_eq "a signed non-numeric timestamp is 400" "HTTP 400" "$(wxpost "$grab_body" "$(wxq "1e9")" | tail -1)"
t_eq "GET verification with a wrong signature is 403" "HTTP 403" \
    "$(http GET "/wechat?signature=0000000000000000000000000000000000000000&timestamp=$ts&nonce=1&echostr=x" | tail -1)"

# --- /wechat: DTDs and entities -----------------------------------------------------------
doctype='<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "抢票 hostile1">]>'
t_eq "a DOCTYPE with an internal entity is 400" "HTTP 400" \
    "$(wxpost "$(body dtd "$doctype$(wxmsg ohostile-bound '&a;' | sed 's/<!\[CDATA\[&a;\]\]>/\&a;/')")" | tail -1)"
lol='<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
for i in 2 3 4 5 6 7 8 9; do
    lol+="<!ENTITY lol$i \"$(printf "&lol$((i - 1));%.0s" 1 2 3 4 5 6 7 8 9 10)\">"
done
lol+=']><xml><ToUserName>gh_ticketdtest</ToUserName><FromUserName>ohostile-bound</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>'
t_eq "a billion-laughs entity bomb is 400" "HTTP 400" "$(wxpost "$(body lol "$lol")" | tail -1)"
t_eq "an external entity (file:///etc/passwd) is 400" "HTTP 400" \
    "$(wxpost "$(body xxe '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>')" | tail -1)"
t_eq "a parameter-entity DTD is 400" "HTTP 400" \
    "$(wxpost "$(body pe '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]><xml/>')" | tail -1)"
t_eq "a numeric character reference to NUL is 400" "HTTP 400" \
    "$(wxpost "$(body nulref "$(wxmsg ohostile-bound 'x' | sed 's/<!\[CDATA\[x\]\]>/a\&#0;b/')")" | tail -1)"

# --- /wechat: encodings and sizes ---------------------------------------------------------
printf '%s' "$(wxmsg ohostile-bound 'PLACEHOLDER')" | sed $'s/PLACEHOLDER/\xff\xfe\xc3(/' >"$tmp/badutf8"
t_eq "invalid UTF-8 in Content is 400" "HTTP 400" "$(wxpost "$tmp/badutf8" | tail -1)"
printf '%s' "$(wxmsg 'PLACEHOLDER' '抢票 hostile1')" | sed $'s/PLACEHOLDER/o\xc0\xafx/' >"$tmp/badutf8b"
t_eq "an overlong UTF-8 sequence in FromUserName is 400" "HTTP 400" "$(wxpost "$tmp/badutf8b" | tail -1)"
printf '%s' "$(wxmsg ohostile-bound 'PLACEHOLDER')" | sed $'s/PLACEHOLDER/\xed\xa0\x80/' >"$tmp/surrogate"
t_eq "a UTF-16 surrogate encoded in UTF-8 is 400" "HTTP 400" "$(wxpost "$tmp/surrogate" | tail -1)"
c10k=$(head -c 10240 /dev/zero | tr '\0' 'a')
t_eq "10 KB of Content (over the 8 KiB bound) is 400" "HTTP 400" \
    "$(wxpost "$(body c10k "$(wxmsg ohostile-bound "$c10k")")" | tail -1)"
out=$(wxpost "$(body c10kcjk "$(wxmsg ohostile-bound "抢票 $(head -c 3400 /dev/zero | tr '\0' 'x' | sed 's/x/票/g')")")")
t_eq "10 KB of CJK Content is 400" "HTTP 400" "$(tail -1 <<<"$out")"
out=$(wxpost "$(body c8k "$(wxmsg ohostile-bound "${c10k:0:8000}")")")
t_contains "8000 bytes of Content (within the bound) get the clear fallback reply" "没有找到您需要的信息" "$out"
t_contains "... as a 200" "HTTP 200" "$out"
out=$(wxpost "$(body keylong "$(wxmsg ohostile-bound "抢票 ${c10k:0:7000}")")")
t_contains "抢票 with a 7000-byte key is 活动不存在" "活动不存在" "$out"

# --- /wechat: SQL metacharacters in every field -------------------------------------------
out=$(wxpost "$(body m-to "$(wxmsg ohostile-bound "抢票 hostile1" "gh_$meta")")")
t_eq "ToUserName with metacharacters is 403 (not our account)" "HTTP 403" "$(tail -1 <<<"$out")"
out=$(wxpost "$(body m-from "$(wxmsg "o$meta" "抢票 hostile1")")")
t_contains "FromUserName with metacharacters: clear reply (bind first)" "请先绑定学号" "$out"
out=$(wxpost "$(body m-from2 "$(wxmsg "$meta_sql" "查票")")")
t_contains "FromUserName \"' OR '1'='1' --\": clear reply (bind first)" "请先绑定学号" "$out"
out=$(wxpost "$(body m-ct "$(wxmsg ohostile-bound "抢票 hostile1" "" "" "1$meta")")")
t_eq "CreateTime with metacharacters is 400" "HTTP 400" "$(tail -1 <<<"$out")"
out=$(wxpost "$(body m-type "$(wxmsg ohostile-bound "抢票 hostile1" "" "text$meta")")")
t_eq "MsgType with metacharacters: an ignored type, 'success'" "success
HTTP 200" "$out"
out=$(wxpost "$(body m-id "$(wxmsg ohostile-bound "抢票 hostile1" "" "" "" "1$meta")")")
t_contains "MsgId with metacharacters (only a dedupe key): the clear reply, already holds one" "您已经抢到票了" "$out"
out=$(wxpost "$(body m-c1 "$(wxmsg ohostile-bound "抢票 hostile1';DELETE FROM tickets;--")")")
t_contains "抢票 KEY';DELETE FROM tickets;-- is 活动不存在" "活动不存在" "$out"
out=$(wxpost "$(body m-c2 "$(wxmsg ohostile-bound "退票 $meta_sql")")")
t_contains "退票 \"' OR '1'='1' --\" is 活动不存在" "活动不存在" "$out"
out=$(wxpost "$(body m-c3 "$(wxmsg ohostile-bound "取票 %")")")
t_contains "取票 % (a LIKE wildcard) is 活动不存在" "活动不存在" "$out"
out=$(wxpost "$(body m-c4 "$(wxmsg ohostile-bound "$meta")")")
t_contains "Content of metacharacters alone gets the fallback reply" "没有找到您需要的信息" "$out"
out=$(wxpost "$(body m-ev "$(wxevent ohostile-bound "CLICK" "BOOKING_ACTIVITY_$act OR 1=1")")")
t_contains "EventKey BOOKING_ACTIVITY_ID OR 1=1: a clear reply" "HTTP 200" "$out"
case $out in
*抢票成功* | *您已经抢到票了*) t_fail "... which is not a grab" "$out" ;;
*) t_ok "... which is not a grab" ;;
esac
out=$(wxpost "$(body m-ev2 "$(wxevent ohostile-bound "CLICK$meta" "x")")")
t_eq "Event with metacharacters: 'success'" "success
HTTP 200" "$out"

# --- JSON API: SQL metacharacters ---------------------------------------------------------
for body_ in "{\"username\":$(jq -Rn --arg v "$meta_sql" '$v'),\"password\":\"x\"}" \
    "{\"username\":\"boss\",\"password\":$(jq -Rn --arg v "$meta_sql" '$v')}" \
    "{\"username\":\"boss'--\",\"password\":\"' OR ''='\"}"; do
    out=$(curl -sS -c "$tmp/jar2" -H 'Content-Type: application/json' --data-binary "$body_" "$TK_HTTP/api/a/login")
    t_eq "login $body_ is code 3" 3 "$(code "$out")"
done
out=$(curl -sS -c "$tmp/jar2" --data-urlencode "username=$meta_sql" --data-urlencode "password=$meta" "$TK_HTTP/api/a/login")
t_eq "form-encoded login with metacharacters is code 3" 3 "$(code "$out")"
t_check "no session was issued to any of them" bash -c "! grep -q tk_session '$tmp/jar2' 2>/dev/null"
rcli --scan --pattern 'tk:login:fail:*' | xargs -r -d '\n' redis-cli -s "$TK_REDIS_SOCK" del >/dev/null

q=$(sign "openid=o$meta")
out=$(curl -sS -G "$TK_HTTP/api/u/user/bind" --data-urlencode "openid=o$meta" --data-urlencode "sig=${q##*sig=}")
t_one_of "bind GET of a metacharacter openid (signed): code 0 (unbound) or 1" "$(code "$out")" 0 1
t_one_of "... and if 0, bound to nobody" "$(jq -r 'if .code == 0 then .data else "" end' <<<"$out")" ""
bindj() { jq -nc --arg o "$1" --arg s "$2" --arg p "$3" --arg g "$4" '{openid:$o,student_id:$s,password:$p,sig:$g}'; }
q=$(sign openid=ohostile-free)
sigfree=${q##*sig=}
out=$(post_json /api/u/user/bind "$(bindj ohostile-free "$meta_sql" "$meta_sql" "$sigfree")")
t_one_of "bind with student_id and password \"' OR '1'='1' --\" is refused (code 1 or 3)" "$(code "$out")" 1 3
out=$(post_json /api/u/user/bind "$(bindj ohostile-free "2022000002" "' OR ''='" "$sigfree")")
t_eq "bind of a real student with password ' OR ''=' is code 3" 3 "$(code "$out")"
out=$(post_json /api/u/user/bind "$(bindj "o$meta" 2022000002 pw-two "$sigfree")")
t_eq "bind of a metacharacter openid under another openid's sig is code 3" 3 "$(code "$out")"
out=$(api "/api/u/activity/detail?id=1%20OR%201%3D1")
t_eq "activity detail id=1 OR 1=1 is code 1" 1 "$(code "$out")"
out=$(api "/api/u/activity/detail?id=$act%3BDROP%20TABLE%20activities")
t_eq "activity detail id=ID;DROP TABLE activities is code 1" 1 "$(code "$out")"
q=$(sign openid=ohostile-bound "ticket=' OR '1'='1")
out=$(curl -sS -G "$TK_HTTP/api/u/ticket/detail" --data-urlencode openid=ohostile-bound \
    --data-urlencode "ticket=' OR '1'='1" --data-urlencode "sig=${q##*sig=}")
t_one_of "ticket detail of ticket=' OR '1'='1 (signed) is refused (code 1 or 2)" "$(code "$out")" 1 2
actj() { # FIELD VALUE: a create body with FIELD replaced
    jq -nc --argjson n "$now" --arg f "$1" --arg v "$2" '{name:"n",key:"hk\($n)",place:"p",description:"d",picUrl:"",
        startTime:($n+7200),endTime:($n+10800),bookStart:($n+60),bookEnd:($n+3600),totalTickets:10,status:0} | .[$f] = $v'
}
for f in startTime endTime bookStart bookEnd totalTickets status; do
    out=$(post_json /api/a/activity/create "$(actj "$f" "1; DROP TABLE activities; --")")
    t_eq "create with $f = '1; DROP TABLE activities; --' is code 1" 1 "$(code "$out")"
done
out=$(post_json /api/a/activity/create "$(actj key "k ey';--")")
t_eq "create with a key holding a space is code 1" 1 "$(code "$out")"
out=$(post_json /api/a/activity/delete "{\"id\":\"$act OR 1=1\"}")
t_eq "delete id='ID OR 1=1' is code 1" 1 "$(code "$out")"
out=$(post_json /api/a/activity/checkin "{\"actId\":\"$act\",\"ticket\":$(jq -Rn --arg v "$meta_sql" '$v')}")
t_one_of "checkin of ticket \"' OR '1'='1' --\" is refused (code 1 or 2)" "$(code "$out")" 1 2
out=$(post_json /api/a/activity/checkin "{\"actId\":\"$act\",\"ticket\":\"abc\"}")
t_eq "checkin of a ticket id that is not 16 hex characters is code 1" 1 "$(code "$out")"
out=$(post_json /api/a/activity/checkin "{\"actId\":\"$act\",\"studentId\":\"2022000001' OR '1'='1\"}")
t_one_of "checkin of studentId \"2022000001' OR '1'='1\" is refused (code 1 or 2)" "$(code "$out")" 1 2
out=$(post_json /api/a/activity/menu "[$act, \"1; DELETE FROM menu\"]")
t_eq "menu [ID, '1; DELETE FROM menu'] is code 1" 1 "$(code "$out")"
out=$(post_json /api/a/activity/detail "{\"id\":$act,\"totalTickets\":\"5 OR 1=1\"}")
t_eq "edit with totalTickets '5 OR 1=1' is code 1" 1 "$(code "$out")"

# --- huge query strings and headers --------------------------------------------------------
q9k=$(head -c 9000 /dev/zero | tr '\0' 'q')
t_eq "a 9 KB query string is refused by nginx: 414" "HTTP 414" "$(http GET "/wechat?$(wxq)&x=$q9k" | tail -1)"
t_eq "a 6 KB query string (over ticketd's 4 KiB cap) is 400" "HTTP 400" \
    "$(wxpost "$grab_body" "$(wxq)&x=${q9k:0:6000}" | tail -1)"
t_eq "... on the JSON API it is code 1" 1 "$(code "$(api "/api/u/activity/detail?id=$act&x=${q9k:0:6000}")")"
t_eq "a 3.9 KB query string within the cap is served" 0 \
    "$(code "$(api "/api/u/activity/detail?id=$act&x=${q9k:0:3900}")")"
t_eq "a 10 KB cookie header is refused by nginx: 400" "HTTP 400" \
    "$(http GET /healthz -H "Cookie: tk_session=${q9k}q" | tail -1)"
t_eq "2000 query parameters (the cap is 64) are 400" "HTTP 400" \
    "$(http GET "/u/help?$(printf 'a&%.0s' $(seq 2000))" | tail -1)"
t_eq "65 of them are 400 too" "HTTP 400" "$(http GET "/u/help?$(printf 'a=1&%.0s' $(seq 65))" | tail -1)"
t_eq "64 are served" "HTTP 200" "$(http GET "/u/help?$(printf 'a=1&%.0s' $(seq 63))a=1" | tail -1)"

# --- everything above changed nothing and crashed nothing ------------------------------------
t_eq "nothing crashed: the master and worker pids are the same" "$procs0" "$(procs)"
t_eq "/healthz still answers" "HTTP 200" "$(http GET /healthz | tail -1)"
t_eq "nothing changed: tables, stock, holders, tickets, streams, sessions" "$state0" "$(snapshot)"

# --- uploads: path traversal in file names ---------------------------------------------------
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82' >"$tmp/img.png"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$tmp/passwd"
touch "$tmp/marker"
sleep 1
stored=0
for name in '../../etc/passwd' '/etc/passwd' '..\..\x.png' '../../../../../../tmp/evil.png' 'a/../../b.png'; do
    out=$(api /api/a/image/upload -F "image=@$tmp/passwd;filename=$name;type=image/png")
    t_eq "a text file named '$name' is refused (code 1)" 1 "$(code "$out")"
    out=$(api /api/a/image/upload -F "image=@$tmp/img.png;filename=$name")
    url=$(jq -r .data <<<"$out" 2>/dev/null)
    if [ "$(code "$out")" = 0 ] && [[ $url =~ /uploads/[0-9a-f]{32}\.png$ ]]; then
        t_ok "a PNG named '$name' is stored under a random name ($(basename "$url"))"
        stored=$((stored + 1))
    else
        t_fail "a PNG named '$name' is stored under a random name" "answer: $out"
    fi
done
# A NUL inside the file name (curl cannot send one: a hand-made body).
{
    printf -- '--B0undary\r\nContent-Disposition: form-data; name="image"; filename="x.png\0/../../../etc/passwd"\r\nContent-Type: image/png\r\n\r\n'
    cat "$tmp/img.png"
    printf -- '\r\n--B0undary--\r\n'
} >"$tmp/nul.body"
out=$(api /api/a/image/upload -H 'Content-Type: multipart/form-data; boundary=B0undary' --data-binary "@$tmp/nul.body")
c=$(code "$out")
case $c in
0) t_ok "a NUL in the file name: stored under a random name"; stored=$((stored + 1)) ;;
1) t_ok "a NUL in the file name: refused (code 1)" ;;
*) t_fail "a NUL in the file name gets code 0 or 1" "answer: $out" ;;
esac
{
    printf -- '--B0undary\r\nContent-Disposition: form-data; name="../../image"; filename="y.png"\r\nContent-Type: image/png\r\n\r\n'
    cat "$tmp/img.png"
    printf -- '\r\n--B0undary\r\n'
} >"$tmp/trunc.body"
out=$(api /api/a/image/upload -H 'Content-Type: multipart/form-data; boundary=B0undary' --data-binary "@$tmp/trunc.body")
t_eq "a truncated multipart body with a traversal field name is code 1" 1 "$(code "$out")"
t_eq "exactly the PNGs were recorded" $((images0 + stored)) "$(sql "SELECT COUNT(*) FROM images")"
t_eq "exactly the PNGs were written, all inside upload_dir" "$stored" \
    "$(find "$TK_DIR/uploads" -type f -newer "$tmp/marker" | wc -l)"
t_eq "no file appeared anywhere else in the stack's directory or /tmp" "" \
    "$(find "$TK_DIR" /tmp -maxdepth 3 -newer "$tmp/marker" -type f \( -name passwd -o -name 'evil*' -o -name 'b.png' -o -name 'x.png' \) 2>/dev/null)"
t_check "/etc/passwd was not touched" test /etc/passwd -ot "$tmp/marker"

# --- slow clients ---------------------------------------------------------------------------
# 80 clients (more than the stack's 2 x 32 ticketd threads) send their
# headers and then one body byte every 4 s, slower than nginx's
# client_body_timeout (3 s). nginx buffers request bodies before it passes
# anything on, so none of them may reach ticketd or pin a thread.
before=$(wechat_requests)
slow() { # N: writes what came back to $tmp/slow.N
    trap '' PIPE
    exec 3<>"/dev/tcp/127.0.0.1/$TK_HTTP_PORT" || exit 1
    printf 'POST /wechat?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 400\r\n\r\n<xml>' "$(wxq)" >&3
    for _ in 1 2 3 4 5; do sleep 4; printf 'x' >&3 2>/dev/null || break; done
    timeout 20 cat <&3 >"$tmp/slow.$1" 2>/dev/null
    echo done >>"$tmp/slow.$1.end"
}
for i in $(seq 80); do slow "$i" & slow_pids+=($!); done
sleep 1
ok=0
for _ in $(seq 10); do
    [ "$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "$TK_HTTP/healthz")" = 200 ] && ok=$((ok + 1))
    sleep 0.2
done
t_eq "/healthz answers throughout 80 slow clients (10 of 10)" 10 "$ok"
out=$(wxpost "$(body during "$(wxmsg ohostile-bound "查票")")")
t_contains "a WeChat message is answered during the slow clients" "HTTP 200" "$out"
wait "${slow_pids[@]}" 2>/dev/null
slow_pids=()
t_eq "every slow client was cut off by nginx" 80 "$(cat "$tmp"/slow.*.end 2>/dev/null | wc -l)"
t_eq "... with nothing from ticketd (nginx closes the connection on a body timeout)" "" \
    "$(cat "$tmp"/slow.[0-9] "$tmp"/slow.[0-9][0-9] 2>/dev/null | grep -a '^HTTP/1.1 [^4]' | head -3)"
t_eq "no slow request reached ticketd (its /wechat count grew by the one real message)" \
    $((before + 1)) "$(wechat_requests)"
exec 3<>"/dev/tcp/127.0.0.1/$TK_HTTP_PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3
t_eq "a client that stops inside its headers is cut off without an answer" "" "$(timeout 20 cat <&3)"
exec 3<&-

# --- and finally --------------------------------------------------------------------------
t_eq "still nothing crashed: the same master and workers" "$procs0" "$(procs)"
t_eq "/healthz answers" "HTTP 200" "$(http GET /healthz | tail -1)"
t_contains "/readyz answers: Redis and MariaDB fine" "HTTP 200" "$(http GET /readyz)"
t_eq "still nothing changed" "$state0" "$(snapshot)"
t_eq "ticketd logged no sanitizer report or crash" "" \
    "$(tail -c +$((logpos + 1)) "$TK_DIR/ticketd.log" | grep -E 'AddressSanitizer|runtime error|died|signal [0-9]+' | head -3)"

# --- a legitimate activity made of metacharacters round-trips byte for byte ---------------
# (A key may not hold white space, nor a URL quotes and spaces.)
vals=$(jq -nc --argjson n "$now" --arg m "$meta_sql" '{name:("n" + $m),key:"k'"'"';--\"\\%",place:("p" + $m),
    description:("d" + $m + "\nline 2"),picUrl:"https://example.edu/x'"'"';--\"\\%",
    startTime:($n+7200),endTime:($n+10800),bookStart:($n+60),bookEnd:($n+3600),totalTickets:3,status:0}')
out=$(post_json /api/a/activity/create "$vals")
t_eq "an activity with metacharacters in every text field is created" 0 "$(code "$out")"
id=$(jq -r .data <<<"$out")
out=$(api "/api/a/activity/detail?id=$id")
for f in name key place description picUrl; do
    t_eq "its $f round-trips exactly" "$(jq -r ".$f" <<<"$vals")" "$(jq -r ".data.$f" <<<"$out")"
done
t_eq "it is the one new activity" 2 "$(sql 'SELECT COUNT(*) FROM activities')"
t_eq "the other tables did not move" "$(sed -n 1p <<<"$state0" | cut -d' ' -f2-)" \
    "$(snapshot | sed -n 1p | cut -d' ' -f2-)"

t_done
