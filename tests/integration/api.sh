#!/usr/bin/env bash
# The user pages and the JSON API of API.md through the stack's real nginx:
# every route, the edit rules, signatures, sessions, login throttling,
# uploads, the menu, check-in, /readyz, and the ticket page rendered by
# headless Chromium.
. "$(dirname "$0")/lib.sh"
tk_reset

tmp=$(mktemp -d)
jar=$tmp/cookies
trap 'rm -rf "$tmp"' EXIT
now=$(date +%s)

sign() { "$TK_BUILD/tests/integration/tk-sign" "$TK_CONF" "$@"; }
# api PATH [curl args...]: the JSON body, with the admin's cookie jar.
api() { local p=$1; shift; curl -sS -m 30 -b "$jar" -c "$jar" "$@" "$TK_HTTP$p"; }
post_json() { api "$1" -H 'Content-Type: application/json' --data-binary "$2"; }
code() { jq -r .code <<<"$1"; }
status() { curl -sS -m 30 -o /dev/null -w '%{http_code}' "$@"; }
nact() { sql "SELECT COUNT(*) FROM activities"; }
stock() { rcli hget "tk:{a:$1}:stock" "$2"; }
grab() { # act sid -> ticket id
    local tid
    tid=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
    rcli fcall tk_grab 4 "tk:{a:$1}:stock" "tk:{a:$1}:holders" "tk:{a:$1}:tickets" \
        "tk:{a:$1}:events" "$2" "$tid" | sed -n 2p
}
refund() {
    rcli fcall tk_refund 4 "tk:{a:$1}:stock" "tk:{a:$1}:holders" "tk:{a:$1}:tickets" \
        "tk:{a:$1}:events" "$2" >/dev/null
}

# --- fixtures: roster, admin -----------------------------------------------
printf 'student_id,name,password\n2021000001,甲,pw-one\n2021000002,乙,pw-two\n2021000003,丙,pw-three\n' >"$tmp/roster.csv"
t_check "roster imported" ctl user import "$tmp/roster.csv"
t_check "admin created with ticketctl admin add" sh -c "printf 'boss-password\n' | '$TK_BIN/ticketctl' -q -c '$TK_CONF' admin add boss"

# --- readiness --------------------------------------------------------------
out=$(http GET /readyz)
t_contains "/readyz is 200 with both servers up" "HTTP 200" "$out"
t_contains "/readyz reports mariadb ok" "mariadb: ok" "$out"

# --- admin: unauthenticated -------------------------------------------------
for r in "GET /api/a/login" "POST /api/a/logout" "GET /api/a/activity/list" \
    "POST /api/a/activity/create" "POST /api/a/activity/delete" \
    "GET /api/a/activity/detail?id=1" "POST /api/a/activity/detail" \
    "POST /api/a/image/upload" "GET /api/a/activity/menu" \
    "POST /api/a/activity/menu" "POST /api/a/activity/checkin"; do
    set -- $r
    if [ "$1" = POST ]; then out=$(curl -sS -m 10 -d 'id=1' "$TK_HTTP$2"); else out=$(curl -sS -m 10 "$TK_HTTP$2"); fi
    t_eq "unauthenticated $r is code 3" 3 "$(code "$out")"
done
out=$(curl -sS -b 'tk_session=0000000000000000000000000000000000000000000000000000000000000000' "$TK_HTTP/api/a/activity/list")
t_eq "a made-up session token is code 3" 3 "$(code "$out")"
out=$(curl -sS -b 'tk_session=../../etc' "$TK_HTTP/api/a/activity/list")
t_eq "a malformed session token is code 3" 3 "$(code "$out")"

# --- login -----------------------------------------------------------------
t_eq "login without password is code 1" 1 "$(code "$(post_json /api/a/login '{"username":"boss"}')")"
t_eq "login with a wrong password is code 3" 3 "$(code "$(post_json /api/a/login '{"username":"boss","password":"nope"}')")"
t_eq "login of an unknown admin is code 3" 3 "$(code "$(post_json /api/a/login '{"username":"ghost","password":"boss-password"}')")"
rcli --scan --pattern 'tk:login:fail:*' | xargs -r redis-cli -s "$TK_REDIS_SOCK" del >/dev/null
hdr=$(curl -sS -D - -o "$tmp/body" -c "$jar" -H 'Content-Type: application/json' \
    --data-binary '{"username":"boss","password":"boss-password"}' "$TK_HTTP/api/a/login")
t_eq "login with the right password is code 0" 0 "$(code "$(cat "$tmp/body")")"
cookie=$(grep -i '^Set-Cookie:' <<<"$hdr" | tr -d '\r')
t_contains "the session cookie is HttpOnly" "HttpOnly" "$cookie"
t_contains "the session cookie is SameSite=Strict" "SameSite=Strict" "$cookie"
t_contains "the session cookie has Path=/" "Path=/" "$cookie"
case $cookie in *Secure*) t_fail "no Secure flag over plain http" "$cookie" ;; *) t_ok "no Secure flag over plain http" ;; esac
token=$(sed -n 's/.*tk_session=\([0-9a-f]*\);.*/\1/p' <<<"$cookie")
t_eq "the session token is 64 hex characters" 64 "${#token}"
t_eq "the session lives in Redis with a TTL" boss "$(rcli get "tk:sess:$token")"
ttl=$(rcli ttl "tk:sess:$token")
t_check "the session TTL is site.session_ttl_s" test "$ttl" -gt 28000 -a "$ttl" -le 28800
t_eq "GET /api/a/login when logged in is code 0" 0 "$(code "$(api /api/a/login)")"

# --- create -------------------------------------------------------------------
open_json=$(jq -nc --argjson n "$now" '{name:"开放活动",key:"open1",place:"礼堂",description:"line1\nline2 <b>",
  picUrl:"https://example.edu/p.png",startTime:($n+7200),endTime:($n+10800),bookStart:($n-60),bookEnd:($n+3600),
  totalTickets:3,status:1}')
out=$(post_json /api/a/activity/create "$open_json")
t_eq "create a published activity is code 0" 0 "$(code "$out")"
open_id=$(jq -r .data <<<"$out")
t_check "create returns the new id" test "$open_id" -gt 0
t_eq "publishing loads the stock into Redis" 3 "$(stock "$open_id" remain)"
t_eq "and the stream is registered" 1 "$(rcli sismember tk:streams "$open_id")"

out=$(api /api/a/activity/create --data-urlencode name=未来活动 --data-urlencode key=future1 \
    --data-urlencode place=操场 --data-urlencode description=desc --data-urlencode picUrl= \
    -d startTime=$((now + 90000)) -d endTime=$((now + 93600)) -d bookStart=$((now + 3600)) \
    -d bookEnd=$((now + 80000)) -d totalTickets=10 -d status=0)
t_eq "create a saved activity from a form body is code 0" 0 "$(code "$out")"
future_id=$(jq -r .data <<<"$out")
t_eq "a saved activity is not loaded into Redis" 0 "$(rcli exists "tk:{a:$future_id}:stock")"

before=$(nact)
bad_create() { # desc expected-code jq-filter
    local body out
    body=$(jq -c "$3" <<<"$open_json")
    out=$(post_json /api/a/activity/create "$body")
    t_eq "create refuses $1 (code $2)" "$2" "$(code "$out")"
}
bad_create "end before start" 1 '.key="b1" | .endTime=.startTime-1'
bad_create "bookEnd before bookStart" 1 '.key="b2" | .bookEnd=.bookStart-1'
bad_create "negative totalTickets" 1 '.key="b3" | .totalTickets=-1'
bad_create "a key over 64 characters" 1 ".key=\"$(printf 'k%.0s' $(seq 65))\""
bad_create "a key already used" 2 '.'
bad_create "status 2" 1 '.key="b5" | .status=2'
bad_create "status -1" 1 '.key="b6" | .status=-1'
bad_create "a missing name" 1 '.key="b7" | del(.name)'
bad_create "a missing totalTickets" 1 '.key="b8" | del(.totalTickets)'
bad_create "a time that is not an integer" 1 '.key="b9" | .startTime="soon"'
bad_create "a fractional time" 1 '.key="b10" | .startTime=1.5'
bad_create "a key with a space" 1 '.key="a b"'
bad_create "a picUrl that is not http(s)" 1 '.key="b11" | .picUrl="javascript:alert(1)"'
bad_create "a name over 255 bytes" 1 ".key=\"b12\" | .name=\"$(printf '活%.0s' $(seq 90))\""
out=$(api /api/a/activity/create --data-binary 'name=%ff%fe&key=b13' -H 'Content-Type: application/x-www-form-urlencoded')
t_eq "create refuses a name that is not UTF-8" 1 "$(code "$out")"
out=$(post_json /api/a/activity/create '{"name": "x", "key": ')
t_eq "a malformed JSON body is code 1" 1 "$(code "$out")"
t_eq "an oversized body is refused with 413" 413 \
    "$(head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/^/name=/' | curl -sS -o /dev/null -w '%{http_code}' -b "$jar" --data-binary @- "$TK_HTTP/api/a/activity/create")"
t_eq "no refused create wrote a row" "$before" "$(nact)"

# --- list and detail ----------------------------------------------------------
out=$(api /api/a/activity/list)
t_eq "list is code 0" 0 "$(code "$out")"
t_eq "list holds both activities" "$open_id $future_id" "$(jq -r '[.data[].id] | sort | map(tostring) | join(" ")' <<<"$out")"
t_eq "list items carry the API.md fields" "bookEnd bookStart currentTime description endTime id name place startTime status" \
    "$(jq -r '.data[0] | keys | join(" ")' <<<"$out")"
out=$(api "/api/a/activity/detail?id=$open_id")
t_eq "admin detail is code 0" 0 "$(code "$out")"
t_eq "admin detail has the create fields and the counts" \
    "bookEnd bookStart bookedTickets currentTime description endTime id key name picUrl place startTime status totalTickets usedTickets" \
    "$(jq -r '.data | keys | join(" ")' <<<"$out")"
t_eq "admin detail keeps the description's newline and markup" 'line1
line2 <b>' "$(jq -r .data.description <<<"$out")"
t_eq "admin detail of an unknown id is code 2" 2 "$(code "$(api /api/a/activity/detail?id=999999)")"
t_eq "admin detail without id is code 1" 1 "$(code "$(api /api/a/activity/detail)")"

# --- edits by state -------------------------------------------------------------
edit() { post_json /api/a/activity/detail "$1"; }
field() { api "/api/a/activity/detail?id=$1" | jq -r ".data.$2"; }
out=$(edit "{\"id\":$future_id,\"name\":\"改名\",\"place\":\"新地点\",\"totalTickets\":20}")
t_eq "a saved activity's name, place and total may change" "0 改名 新地点 20" \
    "$(code "$out") $(field "$future_id" name) $(field "$future_id" place) $(field "$future_id" totalTickets)"
out=$(edit "{\"id\":$future_id,\"status\":1}")
t_eq "publishing by edit is code 0" 0 "$(code "$out")"
t_eq "publishing by edit loads the stock" 20 "$(stock "$future_id" remain)"
t_eq "published: the name is fixed" 2 "$(code "$(edit "{\"id\":$future_id,\"name\":\"又改\"}")")"
t_eq "published: the place is fixed" 2 "$(code "$(edit "{\"id\":$future_id,\"place\":\"又改\"}")")"
t_eq "published: bookStart is fixed" 2 "$(code "$(edit "{\"id\":$future_id,\"bookStart\":$((now + 3000))}")")"
t_eq "published: status cannot go back to 0" 2 "$(code "$(edit "{\"id\":$future_id,\"status\":0}")")"
t_eq "forbidden edits changed nothing" "改名 新地点 1 $((now + 3600))" \
    "$(field "$future_id" name) $(field "$future_id" place) $(field "$future_id" status) $(field "$future_id" bookStart)"
out=$(edit "{\"id\":$future_id,\"totalTickets\":7,\"description\":\"new\"}")
t_eq "before booking opens the total may change" "0 7" "$(code "$out") $(field "$future_id" totalTickets)"
t_eq "and the Redis stock is reset to the new total" "7 7" "$(stock "$future_id" total) $(stock "$future_id" remain)"
t_eq "booking started: totalTickets is fixed" 2 "$(code "$(edit "{\"id\":$open_id,\"totalTickets\":9}")")"
t_eq "booking started: the stock is untouched" 3 "$(stock "$open_id" total)"
t_eq "booking started: the description may change" 0 "$(code "$(edit "{\"id\":$open_id,\"description\":\"更新\"}")")"
t_eq "an edit with end before start is refused" 1 "$(code "$(edit "{\"id\":$open_id,\"endTime\":$((now + 7000))}")")"
t_eq "an edit to a used key is refused" 2 "$(code "$(edit "{\"id\":$future_id,\"key\":\"open1\"}")")"
t_eq "an edit of an unknown activity is code 2" 2 "$(code "$(edit '{"id":999999,"description":"x"}')")"
t_eq "an edit without id is code 1" 1 "$(code "$(edit '{"description":"x"}')")"
started=$(jq -c --argjson n "$now" '.key="started1" | .status=0 | .startTime=$n-60 | .bookStart=$n-7200 | .bookEnd=$n-3600' <<<"$open_json")
started_id=$(post_json /api/a/activity/create "$started" | jq -r .data)
t_eq "started: bookEnd is fixed" 2 "$(code "$(edit "{\"id\":$started_id,\"bookEnd\":$((now - 3000))}")")"
t_eq "started: endTime may still change" 0 "$(code "$(edit "{\"id\":$started_id,\"endTime\":$((now + 20000))}")")"
ended=$(jq -c --argjson n "$now" '.key="ended1" | .status=0 | .startTime=$n-7200 | .endTime=$n-3600 | .bookStart=$n-90000 | .bookEnd=$n-80000' <<<"$open_json")
ended_id=$(post_json /api/a/activity/create "$ended" | jq -r .data)
t_eq "ended: the times are fixed" 2 "$(code "$(edit "{\"id\":$ended_id,\"endTime\":$((now + 100))}")")"
t_eq "ended: the name of a saved one may change" 0 "$(code "$(edit "{\"id\":$ended_id,\"name\":\"旧\"}")")"

# --- delete -----------------------------------------------------------------------
out=$(post_json /api/a/activity/delete "{\"id\":$ended_id}")
t_eq "delete is code 0" 0 "$(code "$out")"
t_eq "delete is soft (status -1)" -1 "$(sql "SELECT status FROM activities WHERE id=$ended_id")"
t_eq "deleting again is code 2" 2 "$(code "$(post_json /api/a/activity/delete "{\"id\":$ended_id}")")"
t_eq "deleting an unknown id is code 2" 2 "$(code "$(post_json /api/a/activity/delete '{"id":999999}')")"
t_eq "delete without id is code 1" 1 "$(code "$(post_json /api/a/activity/delete '{}')")"
t_eq "a deleted activity leaves the list" "" "$(api /api/a/activity/list | jq -r ".data[] | select(.id == $ended_id) | .id")"

# --- ticketctl-created activity, user detail ------------------------------------
cat >"$tmp/act.yaml" <<YAML
key: ctl1
name: 命令行活动
place: 报告厅
description: from ticketctl
pic_url: https://example.edu/c.png
start_time: 2030-01-02T19:00:00+08:00
end_time: 2030-01-02T21:00:00+08:00
book_start: 2029-12-20T12:00:00+08:00
book_end: 2029-12-30T12:00:00+08:00
total_tickets: 50
status: published
YAML
ctl_id=$(ctl activity create -f "$tmp/act.yaml")
t_check "ticketctl activity create prints the id" test "$ctl_id" -gt 0
out=$(curl -sS "$TK_HTTP/api/u/activity/detail?id=$ctl_id")
t_eq "user detail of a published activity is code 0" 0 "$(code "$out")"
t_eq "user detail has the API.md fields" \
    "bookEnd bookStart currentTime description endTime key name picUrl place remainTickets startTime totalTickets" \
    "$(jq -r '.data | keys | join(" ")' <<<"$out")"
t_eq "remainTickets without Redis stock is total - booked" 50 "$(jq -r .data.remainTickets <<<"$out")"
ct=$(jq -r .data.currentTime <<<"$out")
t_check "currentTime is the server's time" test $((ct - now)) -ge 0 -a $((ct - now)) -lt 600
t_eq "user detail of a saved activity is code 2" 2 "$(code "$(curl -sS "$TK_HTTP/api/u/activity/detail?id=$started_id")")"
t_eq "user detail of a deleted activity is code 2" 2 "$(code "$(curl -sS "$TK_HTTP/api/u/activity/detail?id=$ended_id")")"
t_eq "user detail without id is code 1" 1 "$(code "$(curl -sS "$TK_HTTP/api/u/activity/detail")")"
t_eq "user detail with id=abc is code 1" 1 "$(code "$(curl -sS "$TK_HTTP/api/u/activity/detail?id=abc")")"
out=$(http GET "/u/activity?id=$open_id")
t_contains "/u/activity shows the name" "<title>开放活动</title>" "$out"
t_contains "/u/activity shows the remaining tickets from Redis" "3 / 3" "$out"
t_contains "/u/activity tells how to grab" "抢票 open1" "$out"
t_eq "/u/activity of a saved activity is 404" "HTTP 404" "$(http GET "/u/activity?id=$started_id" | tail -1)"

# --- binding ------------------------------------------------------------------------
q1=$(sign openid=o-user-1)
q2=$(sign openid=o-user-2)
q3=$(sign openid=o-user-3)
out=$(curl -sS "$TK_HTTP/api/u/user/bind?$q1")
t_eq "an unbound openid's student id is \"\"" '0 ""' "$(code "$out") $(jq -c .data <<<"$out")"
t_eq "bind GET with a wrong sig is code 3" 3 "$(code "$(curl -sS "$TK_HTTP/api/u/user/bind?openid=o-user-2&${q1#*&}")")"
t_eq "bind GET without sig is code 3" 3 "$(code "$(curl -sS "$TK_HTTP/api/u/user/bind?openid=o-user-1")")"
sig1=${q1##*sig=}
bindp() { post_json /api/u/user/bind "$(jq -nc --arg o "$1" --arg s "$2" --arg p "$3" --arg g "$4" '{openid:$o,student_id:$s,password:$p,sig:$g}')"; }
t_eq "bind POST with a wrong sig is code 3" 3 "$(code "$(bindp o-user-2 2021000002 pw-two "$sig1")")"
t_eq "bind POST with a wrong password is code 3" 3 "$(code "$(bindp o-user-1 2021000001 wrong "$sig1")")"
t_eq "bind POST of an unknown student is code 3" 3 "$(code "$(bindp o-user-1 2029999999 pw-one "$sig1")")"
t_eq "bind POST without password is code 1" 1 "$(code "$(post_json /api/u/user/bind "{\"openid\":\"o-user-1\",\"student_id\":\"2021000001\",\"sig\":\"$sig1\"}")")"
t_eq "bind POST with the roster password is code 0" 0 "$(code "$(bindp o-user-1 2021000001 pw-one "$sig1")")"
t_eq "the binding shows at once (cache invalidated)" 2021000001 "$(curl -sS "$TK_HTTP/api/u/user/bind?$q1" | jq -r .data)"
t_eq "a student bound to another openid is code 2" 2 "$(code "$(bindp o-user-2 2021000001 pw-one "${q2##*sig=}")")"
t_eq "/u/bind without sig is 403" "HTTP 403" "$(http GET /u/bind?openid=o-user-2 | tail -1)"
t_eq "/u/bind with a wrong sig is 403" "HTTP 403" "$(http GET "/u/bind?openid=o-user-2&sig=${q1##*sig=}" | tail -1)"
out=$(http GET "/u/bind?$q2")
t_contains "/u/bind shows the form" 'name="student_id"' "$out"
t_contains "the form posts back to the signed link" "action=\"/u/bind?openid=o-user-2&amp;sig=" "$out"
out=$(http POST "/u/bind?$q2" -d student_id=2021000002 -d password=bad)
t_contains "/u/bind says when the password is wrong" "学号或密码错误" "$out"
out=$(http POST "/u/bind?$q2" -d student_id=2021000001 -d password=pw-one)
t_contains "/u/bind says when the student is bound to another user" "已经绑定了另一个微信账号" "$out"
out=$(http POST "/u/bind?$q2" -d student_id=2021000002 -d password=pw-two)
t_contains "/u/bind binds" "绑定成功" "$out"
t_eq "and the page's binding is visible to the API" 2021000002 "$(curl -sS "$TK_HTTP/api/u/user/bind?$q2" | jq -r .data)"
t_contains "/u/bind of a bound user names the student" "您已经绑定了学号2021000002" "$(http GET "/u/bind?$q2")"
t_eq "POST /u/bind with a wrong sig is 403" "HTTP 403" "$(http POST "/u/bind?openid=o-user-3&sig=${q1##*sig=}" -d student_id=2021000003 -d password=pw-three | tail -1)"
t_eq "and binds nobody" 0 "$(sql "SELECT COUNT(*) FROM users WHERE openid='o-user-3' AND student_id IS NOT NULL")"

# --- tickets ---------------------------------------------------------------------------
tid1=$(grab "$open_id" 2021000001)
t_eq "a grab in Redis gives a 16-hex ticket" 16 "${#tid1}"
tq1=$(sign openid=o-user-1 ticket="$tid1")
out=$(curl -sS "$TK_HTTP/api/u/ticket/detail?$tq1")
t_eq "ticket detail of a ticket only Redis knows yet is code 0" 0 "$(code "$out")"
t_eq "ticket detail has the API.md fields" "activityKey activityName currentTime endTime place startTime status uniqueId" \
    "$(jq -r '.data | keys | join(" ")' <<<"$out")"
t_eq "ticket detail: valid, right activity and id" "1 open1 $tid1" "$(jq -r '"\(.data.status) \(.data.activityKey) \(.data.uniqueId)"' <<<"$out")"
t_eq "ticket detail with a wrong sig is code 3" 3 "$(code "$(curl -sS "$TK_HTTP/api/u/ticket/detail?openid=o-user-2&ticket=$tid1&sig=${tq1##*sig=}")")"
t_eq "ticket detail without sig is code 3" 3 "$(code "$(curl -sS "$TK_HTTP/api/u/ticket/detail?openid=o-user-1&ticket=$tid1")")"
t_eq "another user's ticket (validly signed) is code 2" 2 "$(code "$(curl -sS "$TK_HTTP/api/u/ticket/detail?$(sign openid=o-user-2 ticket="$tid1")")")"
t_eq "an unknown ticket is code 2" 2 "$(code "$(curl -sS "$TK_HTTP/api/u/ticket/detail?$(sign openid=o-user-1 ticket=0123456789abcdef)")")"
t_eq "ticket detail without ticket is code 1" 1 "$(code "$(curl -sS "$TK_HTTP/api/u/ticket/detail?$q1")")"
# As ticket-persistd would write it: MariaDB's row, Redis's status.
sql "INSERT INTO tickets (unique_id, activity_id, student_id, status, created_at, updated_at) VALUES ('$tid1', $open_id, '2021000001', 1, $now, $now)"
t_eq "a persisted ticket is found through MariaDB" 1 "$(curl -sS "$TK_HTTP/api/u/ticket/detail?$tq1" | jq -r .data.status)"
t_eq "the admin detail counts the Redis sale" 1 "$(field "$open_id" bookedTickets)"
t_eq "user detail remainTickets follows the Redis stock" 2 "$(curl -sS "$TK_HTTP/api/u/activity/detail?id=$open_id" | jq -r .data.remainTickets)"

out=$(http GET "/u/ticket?$tq1")
t_contains "/u/ticket shows the activity" "<title>开放活动</title>" "$out"
t_contains "/u/ticket shows the place" "礼堂" "$out"
t_contains "/u/ticket shows the status" "有效" "$out"
t_contains "/u/ticket has the QR code as inline SVG" "<svg xmlns=\"http://www.w3.org/2000/svg\"" "$out"
t_eq "/u/ticket with a wrong sig is 403" "HTTP 403" "$(http GET "/u/ticket?openid=o-user-1&ticket=0123456789abcdef&sig=${tq1##*sig=}" | tail -1)"
t_eq "/u/ticket of another user's ticket is 404" "HTTP 404" "$(http GET "/u/ticket?$(sign openid=o-user-2 ticket="$tid1")" | tail -1)"
out=$(http GET "/u/tickets?$q1")
t_contains "/u/tickets lists the valid ticket" "开放活动" "$out"
link=$(grep -o 'href="[^"]*"' <<<"$out" | head -1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
t_contains "its link carries ticket=ID (what tkload looks for)" "ticket=$tid1" "$link"
t_eq "the listed link opens the ticket page" 200 "$(status "$link")"
t_eq "/u/tickets with a wrong sig is 403" "HTTP 403" "$(http GET "/u/tickets?openid=o-user-2&sig=${q1##*sig=}" | tail -1)"
t_contains "/u/tickets of a user without tickets says so" "您还没有票" "$(http GET "/u/tickets?$q2")"
t_contains "/u/tickets of an unbound user asks to bind" "请先绑定学号" "$(http GET "/u/tickets?$q3")"

# The ticket page in a real browser: the QR code must render.
shot=$TK_BUILD/test-logs/ticket.png
mkdir -p "$(dirname "$shot")"; rm -f "$shot"
if command -v chromium >/dev/null; then
    profile=$(mktemp -d)
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --screenshot="$shot" --window-size=390,844 \
        "$TK_HTTP/u/ticket?$tq1" >/dev/null 2>&1
    rm -rf "$profile"
    t_check "headless Chromium rendered /u/ticket to a PNG" test -s "$shot"
    t_check "the screenshot is a PNG of real content" sh -c "file '$shot' | grep -q 'PNG image data, 390 x 844' && test \$(stat -c %s '$shot') -gt 10000"
else
    t_fail "chromium is installed (scripts/deps)"
fi

# --- check-in ------------------------------------------------------------------------------
tid2=$(grab "$open_id" 2021000002)
tid3=$(grab "$open_id" 2021000003)
refund "$open_id" 2021000003
ck() { post_json /api/a/activity/checkin "$1"; }
out=$(ck "{\"actId\":$open_id,\"ticket\":\"$tid1\"}")
t_eq "check-in by ticket is code 0" 0 "$(code "$out")"
t_eq "check-in answers ticket and studentId" "$tid1 2021000001" "$(jq -r '"\(.data.ticket) \(.data.studentId)"' <<<"$out")"
t_eq "Redis marks the ticket used" "2:2021000001" "$(rcli hget "tk:{a:$open_id}:tickets" "$tid1")"
t_eq "the ticket detail shows used (2)" 2 "$(curl -sS "$TK_HTTP/api/u/ticket/detail?$tq1" | jq -r .data.status)"
t_eq "checking in a used ticket is code 2" 2 "$(code "$(ck "{\"actId\":$open_id,\"ticket\":\"$tid1\"}")")"
t_eq "check-in at the wrong activity is code 2" 2 "$(code "$(ck "{\"actId\":$future_id,\"ticket\":\"$tid2\"}")")"
t_eq "check-in of a cancelled ticket is code 2" 2 "$(code "$(ck "{\"actId\":$open_id,\"ticket\":\"$tid3\"}")")"
t_eq "check-in of an unknown ticket is code 2" 2 "$(code "$(ck "{\"actId\":$open_id,\"ticket\":\"0123456789abcdef\"}")")"
t_eq "check-in at an unknown activity is code 2" 2 "$(code "$(ck '{"actId":999999,"ticket":"0123456789abcdef"}')")"
t_eq "check-in without ticket or studentId is code 1" 1 "$(code "$(ck "{\"actId\":$open_id}")")"
t_eq "check-in without actId is code 1" 1 "$(code "$(ck "{\"ticket\":\"$tid2\"}")")"
out=$(ck "{\"actId\":$open_id,\"studentId\":\"2021000002\"}")
t_eq "check-in by student id is code 0 and names the ticket" "0 $tid2" "$(code "$out") $(jq -r .data.ticket <<<"$out")"
t_eq "the stock is unchanged by check-ins (I1)" "3 1 2" "$(stock "$open_id" total) $(stock "$open_id" remain) $(stock "$open_id" sold)"

# --- menu --------------------------------------------------------------------------------------
t_eq "an empty menu is []" '0 []' "$(out=$(api /api/a/activity/menu); echo "$(code "$out") $(jq -c .data <<<"$out")")"
t_eq "setting the menu is code 0" 0 "$(code "$(post_json /api/a/activity/menu "[$open_id,$ctl_id]")")"
t_eq "the menu lists the activities in order" "$open_id $ctl_id" "$(api /api/a/activity/menu | jq -r '[.data[].id|tostring] | join(" ")')"
t_eq "six ids are refused" 1 "$(code "$(post_json /api/a/activity/menu '[1,2,3,4,5,6]')")"
t_eq "a saved activity is refused" 2 "$(code "$(post_json /api/a/activity/menu "[$started_id]")")"
t_eq "an unknown activity is refused" 2 "$(code "$(post_json /api/a/activity/menu '[999999]')")"
t_eq "a duplicate is refused" 1 "$(code "$(post_json /api/a/activity/menu "[$open_id,$open_id]")")"
t_eq "an object instead of an array is refused" 1 "$(code "$(post_json /api/a/activity/menu '{"ids":[1]}')")"
t_eq "strings instead of ids are refused" 1 "$(code "$(post_json /api/a/activity/menu '["a"]')")"
t_eq "refused menus changed nothing" "$open_id $ctl_id" "$(sql 'SELECT activity_id FROM menu ORDER BY position' | paste -sd' ')"

# --- image upload ---------------------------------------------------------------------------------
printf '\x89PNG\r\n\x1a\n' >"$tmp/img.png"; head -c 2000 /dev/urandom >>"$tmp/img.png"
out=$(api /api/a/image/upload -F "image=@$tmp/img.png;filename=poster.png")
t_eq "uploading a PNG is code 0" 0 "$(code "$out")"
url=$(jq -r .data <<<"$out")
t_check "the answer is an absolute URL under upload_url" grep -Eq "^$TK_HTTP/uploads/[0-9a-f]{32}\.png$" <<<"$url"
t_check "nginx serves the stored file unchanged" sh -c "curl -sf '$url' | cmp -s - '$tmp/img.png'"
out=$(api /api/a/image/upload -F "image=@$tmp/img.png;filename=../../evil.png")
t_eq "a path-traversal file name is stored under a random name" 0 "$(code "$out")"
t_check "nothing named evil.png was written anywhere near the stack" sh -c "! find '$TK_DIR' -name 'evil*' | grep -q ."
t_check "the traversal upload is inside upload_dir" test -f "$TK_DIR/uploads/$(basename "$(jq -r .data <<<"$out")")"
printf 'GIF89a' >"$tmp/a.gif"; head -c 100 /dev/urandom >>"$tmp/a.gif"
t_eq "a GIF is accepted by its magic bytes" 0 "$(code "$(api /api/a/image/upload -F "image=@$tmp/a.gif;filename=x.txt")")"
printf '<?php echo 1; ?>' >"$tmp/x.png"
nfiles=$(ls "$TK_DIR/uploads" | wc -l)
t_eq "a non-image named .png is refused" 1 "$(code "$(api /api/a/image/upload -F "image=@$tmp/x.png;type=image/png")")"
{ printf '\x89PNG\r\n\x1a\n'; head -c $((2048 * 1024)) /dev/zero; } >"$tmp/big.png"
t_eq "an image over upload_max_kb is refused" 1 "$(code "$(api /api/a/image/upload -F "image=@$tmp/big.png")")"
t_eq "an upload without the image field is code 1" 1 "$(code "$(api /api/a/image/upload -F "file=@$tmp/img.png")")"
t_eq "refused uploads wrote no file" "$nfiles" "$(ls "$TK_DIR/uploads" | wc -l)"
t_eq "uploads are recorded in MariaDB" 3 "$(sql 'SELECT COUNT(*) FROM images')"

# --- logout ---------------------------------------------------------------------------------------------
t_eq "logout is code 0" 0 "$(code "$(api /api/a/logout -X POST -d '')")"
t_eq "the session is gone from Redis" 0 "$(rcli exists "tk:sess:$token")"
t_eq "after logout GET /api/a/login is code 3" 3 "$(code "$(curl -sS -b "tk_session=$token" "$TK_HTTP/api/a/login")")"
t_eq "logging out again is non-zero" 3 "$(code "$(curl -sS -b "tk_session=$token" -d '' "$TK_HTTP/api/a/logout")")"

# --- login throttling ----------------------------------------------------------------------------------
rcli --scan --pattern 'tk:login:fail:*' | xargs -r redis-cli -s "$TK_REDIS_SOCK" del >/dev/null
login() { curl -sS -H 'Content-Type: application/json' --data-binary "{\"username\":\"$1\",\"password\":\"$2\"}" "$TK_HTTP/api/a/login"; }
for i in 1 2 3 4 5; do login boss wrong >/dev/null; done
t_eq "five failures are counted for the user" 5 "$(rcli get tk:login:fail:u:boss)"
t_check "the counter expires within login_window_s" test "$(rcli ttl tk:login:fail:u:boss)" -gt 0 -a "$(rcli ttl tk:login:fail:u:boss)" -le 900
out=$(login boss boss-password)
t_eq "then even the right password is code 3" 3 "$(code "$out")"
t_contains "with a clear message" "too many failed logins" "$(jq -r .msg <<<"$out")"
login boss wrong >/dev/null
t_eq "a throttled try does not check the password (counter unchanged)" 5 "$(rcli get tk:login:fail:u:boss)"
rcli del tk:login:fail:u:boss >/dev/null
t_eq "the address is throttled too (any user from it)" 3 "$(code "$(login boss boss-password)")"
rcli --scan --pattern 'tk:login:fail:*' | xargs -r redis-cli -s "$TK_REDIS_SOCK" del >/dev/null
t_eq "once the window is over the admin logs in" 0 "$(code "$(login boss boss-password)")"

# --- /readyz names what is down ---------------------------------------------------------------------
rpid=$(cat "$TK_DIR/redis.pid")
kill -STOP "$rpid"
out=$(http GET /readyz)
kill -CONT "$rpid"
t_contains "/readyz is 503 while Redis does not answer" "HTTP 503" "$out"
t_contains "/readyz names redis" "redis: unreachable" "$out"
t_contains "/readyz still reports mariadb ok" "mariadb: ok" "$out"
t_check "/readyz recovers when Redis answers again" sh -c "for i in \$(seq 50); do curl -sf '$TK_HTTP/readyz' >/dev/null && exit 0; sleep 0.1; done; exit 1"

t_done
