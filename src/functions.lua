#!lua name=ticketd
--[[
The ticketd Redis Functions library (Redis 7). Embedded into the binaries
at build time and loaded with FUNCTION LOAD REPLACE when the server has no
library or an older one (src/redis.c). Bump VERSION with every change.

Every function touches the keys of one activity only (one hash tag, one
slot), all passed in KEYS, except tk_grab_bound, which also reads the
sender's cached binding (a key of another slot; redis.one_trip_grab in
ticketd.conf turns it off for Redis Cluster). No function may run out of
memory (no OOM flag): under maxmemory they are refused before they run,
never aborted half-way.

Keys (src/keys.h):
  stock    hash total, remain, sold   (I1: sold + remain == total)
  holders  hash student id -> ticket id (valid or used tickets only)
  tickets  hash ticket id -> "STATUS:SID" (0 cancelled, 1 valid, 2 used)
  events   stream, entries t (g|r|c), sid, tid; the entry id's
           milliseconds are the event's time (before version 6 a ts
           field repeated them from TIME)
  dedupe   optional: "OUTCOME|REMAIN|TID" of a WeChat message, with a TTL
  binding  tk_grab_bound only: the cache-aside value of tk:bind:OPENID,
           "n" (not bound) or "vB1" LEN ":" SID "," (src/cache.c)

Outcomes are the enums of src/model.h; they are returned, never raised.
Errors (bad arguments, inconsistent data) are error replies.
]]

local VERSION = 6

-- model.h
local GRAB_OK, GRAB_DUPLICATE, GRAB_SOLD_OUT, GRAB_NO_ACTIVITY = 0, 1, 2, 3
local GRAB_NOT_CACHED, GRAB_UNBOUND = 4, 5
local REFUND_OK, REFUND_NO_TICKET, REFUND_USED, REFUND_NO_ACTIVITY = 0, 1, 2, 3
local CHECKIN_OK, CHECKIN_NO_TICKET, CHECKIN_USED, CHECKIN_NO_ACTIVITY =
    0, 1, 2, 3
local CANCELLED, VALID, USED = '0', '1', '2'

local SID_MAX = 32
local DEDUPE_TTL_MAX = 30 * 86400

local function fail(msg)
    return redis.error_reply('ERR ticketd: ' .. msg)
end

local function valid_sid(sid)
    return type(sid) == 'string' and #sid >= 1 and #sid <= SID_MAX
        and not sid:find('[%c]')
end

local function valid_tid(tid)
    return type(tid) == 'string' and #tid == 16
        and not tid:find('[^0-9a-f]')
end

--[[
Numbers are kept out of the hot paths' strings: Lua 5.1 turns a number
into a string with sprintf("%.14g") and Redis 7.0 a number argument of
redis.call with "%.17g", a floating-point conversion that cost more than
some of the commands (about a tenth of Redis's time in a grab). Hence
'-1' and '1' as HINCRBY arguments, the TTL passed on as the string it
came as and string.format('%d').
]]

--[[
The entry id XADD gives the event ("MS-SEQ") carries its time: a TIME
call and a ts field repeating it cost a grab about 8% of the function's
instructions (callgrind), and every field is written to the AOF again.
]]
local function event(key, kind, sid, tid)
    redis.call('XADD', key, '*', 't', kind, 'sid', sid, 'tid', tid)
end

-- "STATUS:SID" -> status, sid
local function split_ticket(v)
    local status, sid = string.match(v, '^([012]):(.+)$')
    return status, sid
end

-- The optional dedupe key and TTL (a string of digits): returns key, ttl
-- or nil, or an error.
local function dedupe_args(keys, ttl)
    if #keys < 5 then
        return nil
    end
    local n = type(ttl) == 'string' and ttl:find('^%d+$') and tonumber(ttl)
    if not n or n < 1 or n > DEDUPE_TTL_MAX then
        return nil, nil, 'bad dedupe ttl'
    end
    return keys[5], ttl
end

-- A stored outcome, or nil when the key holds nothing usable.
local function dedupe_get(key)
    local v = redis.call('GET', key)
    if not v then
        return nil
    end
    local o, r, tid = string.match(v, '^(%d)|(%-?%d+)|([0-9a-f]*)$')
    if not o then
        return nil
    end
    return {tonumber(o), tid, tonumber(r)}
end

local function dedupe_put(key, ttl, res)
    if key then
        redis.call('SET', key,
                   string.format('%d|%d|%s', res[1], res[3], res[2]),
                   'EX', ttl)
    end
    return res
end

--[[
Runs body(stock, holders, tickets, events, a, b) under the WeChat retry
record (KEYS[5], TTL ttl_arg) when one is given: a stored outcome is
returned unchanged and body does not run; otherwise body's outcome is
stored with the TTL. Error replies are returned and never stored. (a and
b rather than a closure: one allocation less for Lua's collector.)
]]
local function deduped(keys, ttl_arg, body, a, b)
    local dd, ttl, err = dedupe_args(keys, ttl_arg)
    if err then
        return fail(err)
    end
    if dd then
        local prev = dedupe_get(dd)
        if prev then
            return prev
        end
    end
    local res = body(keys[1], keys[2], keys[3], keys[4], a, b)
    if res.err then
        return res
    end
    return dedupe_put(dd, ttl, res)
end

local function remain_of(stock)
    return tonumber(redis.call('HGET', stock, 'remain')) or 0
end

-- The grab itself: {outcome, tid ("" unless OK or DUPLICATE), remain}.
-- A stock hash always holds remain, so its absence is the missing
-- activity; the ticket id is claimed with HSETNX before anything else is
-- written, so an id already in use fails with nothing changed.
local function grab_as(stock, holders, tickets, events, sid, tid)
    local remain = tonumber(redis.call('HGET', stock, 'remain'))
    if not remain then
        return {GRAB_NO_ACTIVITY, '', 0}
    end
    local held = redis.call('HGET', holders, sid)
    if held then
        return {GRAB_DUPLICATE, held, remain}
    end
    if remain <= 0 then
        return {GRAB_SOLD_OUT, '', 0}
    end
    if redis.call('HSETNX', tickets, tid, VALID .. ':' .. sid) == 0 then
        return fail('ticket id already in use')
    end
    remain = redis.call('HINCRBY', stock, 'remain', '-1')
    redis.call('HINCRBY', stock, 'sold', '1')
    redis.call('HSET', holders, sid, tid)
    event(events, 'g', sid, tid)
    return {GRAB_OK, tid, remain}
end

--[[
tk_grab KEYS: stock holders tickets events [dedupe]
        ARGV: sid new_tid [dedupe_ttl_s]
-> {outcome, tid ("" unless OK or DUPLICATE), remain}
new_tid is used only when a ticket is created.
]]
local function grab(keys, args)
    local sid, tid = args[1], args[2]
    if #keys ~= 4 and #keys ~= 5 then
        return fail('tk_grab takes 4 or 5 keys')
    end
    if not valid_sid(sid) then
        return fail('bad student id')
    end
    if not valid_tid(tid) then
        return fail('bad ticket id')
    end
    return deduped(keys, args[3], grab_as, sid, tid)
end

-- The student id of a cached binding value; nil, false for "not bound";
-- nil, nil when the value is not one ticketd wrote.
local function binding_sid(v)
    if v == 'n' then
        return nil, false
    end
    local n, sid = string.match(v, '^vB1(%d+):(.*),$')
    if n and #sid == tonumber(n) and valid_sid(sid) then
        return sid
    end
    return nil, nil
end

--[[
tk_grab_bound KEYS: stock holders tickets events dedupe binding
              ARGV: new_tid dedupe_ttl_s
-> {outcome, tid, remain, sid}
tk_grab for the student the binding names: a grab of one round trip
instead of two (the binding and the stored outcome, then tk_grab). The
binding comes first, as on that path: missing or unreadable ->
NOT_CACHED, null marker -> UNBOUND, with nothing read or written under
the dedupe key, and the caller resolves the binding by cache-aside and
calls tk_grab. Then it is tk_grab, stored outcome and all.
]]
local function grab_bound(keys, args)
    local tid = args[1]
    if #keys ~= 6 then
        return fail('tk_grab_bound takes 6 keys')
    end
    if not valid_tid(tid) then
        return fail('bad ticket id')
    end
    local v = redis.call('GET', keys[6])
    local sid, bound
    if v then
        sid, bound = binding_sid(v)
    end
    if not sid then
        return {bound == false and GRAB_UNBOUND or GRAB_NOT_CACHED, '', 0, ''}
    end
    local res = deduped(keys, args[2], grab_as, sid, tid)
    if res.err then
        return res
    end
    res[4] = sid
    return res
end

-- The refund itself: {outcome, tid (of the ticket concerned, or ""), remain}.
local function refund_as(stock, holders, tickets, events, sid)
    if redis.call('EXISTS', stock) == 0 then
        return {REFUND_NO_ACTIVITY, '', 0}
    end
    local tid = redis.call('HGET', holders, sid)
    if not tid then
        return {REFUND_NO_TICKET, '', remain_of(stock)}
    end
    local v = redis.call('HGET', tickets, tid)
    local status = v and split_ticket(v)
    if status == USED then
        return {REFUND_USED, tid, remain_of(stock)}
    end
    if status ~= VALID then
        return fail('holder without a valid ticket: ' .. tid)
    end
    redis.call('HDEL', holders, sid)
    redis.call('HSET', tickets, tid, CANCELLED .. ':' .. sid)
    local remain = redis.call('HINCRBY', stock, 'remain', '1')
    redis.call('HINCRBY', stock, 'sold', '-1')
    event(events, 'r', sid, tid)
    return {REFUND_OK, tid, remain}
end

--[[
tk_refund KEYS: stock holders tickets events [dedupe]
          ARGV: sid [dedupe_ttl_s]
-> {outcome, tid (of the ticket concerned, or ""), remain}
Only a valid ticket is refunded; a used one is refused.
]]
local function refund(keys, args)
    local sid = args[1]
    if #keys ~= 4 and #keys ~= 5 then
        return fail('tk_refund takes 4 or 5 keys')
    end
    if not valid_sid(sid) then
        return fail('bad student id')
    end
    return deduped(keys, args[2], refund_as, sid)
end

--[[
tk_checkin KEYS: stock holders tickets events
           ARGV: tid sid   (either may be "", not both)
-> {outcome, tid, sid}
By ticket id, or by the student's held ticket; both given must match.
]]
local function checkin(keys, args)
    local tid, sid = args[1] or '', args[2] or ''
    if #keys ~= 4 then
        return fail('tk_checkin takes 4 keys')
    end
    if tid == '' and sid == '' then
        return fail('a ticket id or a student id is needed')
    end
    if tid ~= '' and not valid_tid(tid) then
        return fail('bad ticket id')
    end
    if sid ~= '' and not valid_sid(sid) then
        return fail('bad student id')
    end
    local stock, holders, tickets, events = keys[1], keys[2], keys[3], keys[4]
    if redis.call('EXISTS', stock) == 0 then
        return {CHECKIN_NO_ACTIVITY, tid, sid}
    end
    if tid == '' then
        tid = redis.call('HGET', holders, sid)
        if not tid then
            return {CHECKIN_NO_TICKET, '', sid}
        end
    end
    local v = redis.call('HGET', tickets, tid)
    if not v then
        return {CHECKIN_NO_TICKET, tid, sid}
    end
    local status, owner = split_ticket(v)
    if not status or (sid ~= '' and owner ~= sid) then
        return {CHECKIN_NO_TICKET, tid, sid}
    end
    if status == USED then
        return {CHECKIN_USED, tid, owner}
    end
    if status ~= VALID then
        return {CHECKIN_NO_TICKET, tid, owner}
    end
    redis.call('HSET', tickets, tid, USED .. ':' .. owner)
    event(events, 'c', owner, tid)
    return {CHECKIN_OK, tid, owner}
end

--[[
tk_load KEYS: stock holders tickets
        ARGV: mode total [sid tid status]...
mode "init" writes only when the stock hash is absent (preheat); "reset"
replaces stock, holders and tickets (rebuild). The events stream is never
touched. remain = total - (valid + used tickets).
-> {loaded (1, or 0 when init found the stock), total, remain, sold}
]]
local function load(keys, args)
    if #keys ~= 3 then
        return fail('tk_load takes 3 keys')
    end
    local mode, total = args[1], tonumber(args[2])
    if mode ~= 'init' and mode ~= 'reset' then
        return fail('mode must be init or reset')
    end
    if not total or total < 0 or total ~= math.floor(total) then
        return fail('bad total')
    end
    if (#args - 2) % 3 ~= 0 then
        return fail('tickets come as sid tid status triples')
    end
    local stock, holders, tickets = keys[1], keys[2], keys[3]
    if mode == 'init' and redis.call('EXISTS', stock) == 1 then
        local s = redis.call('HMGET', stock, 'total', 'remain', 'sold')
        return {0, tonumber(s[1]) or 0, tonumber(s[2]) or 0,
                tonumber(s[3]) or 0}
    end
    local seen, sold = {}, 0
    for i = 3, #args, 3 do
        local sid, tid, status = args[i], args[i + 1], args[i + 2]
        if not valid_sid(sid) or not valid_tid(tid)
            or (status ~= CANCELLED and status ~= VALID and status ~= USED)
        then
            return fail('bad ticket triple at ' .. i)
        end
        if status ~= CANCELLED then
            if seen[sid] then
                return fail('two tickets for student ' .. sid)
            end
            seen[sid] = true
            sold = sold + 1
        end
    end
    if sold > total then
        return fail('more tickets than total')
    end
    redis.call('DEL', stock, holders, tickets)
    for i = 3, #args, 3 do
        local sid, tid, status = args[i], args[i + 1], args[i + 2]
        redis.call('HSET', tickets, tid, status .. ':' .. sid)
        if status ~= CANCELLED then
            redis.call('HSET', holders, sid, tid)
        end
    end
    redis.call('HSET', stock, 'total', total, 'remain', total - sold,
               'sold', sold)
    return {1, total, total - sold, sold}
end

--[[
tk_unlock KEYS: lock   ARGV: token   -> 1 released, 0 not ours
]]
local function unlock(keys, args)
    if redis.call('GET', keys[1]) == args[1] then
        return redis.call('DEL', keys[1])
    end
    return 0
end

local function version()
    return VERSION
end

redis.register_function('tk_grab', grab)
redis.register_function('tk_grab_bound', grab_bound)
redis.register_function('tk_refund', refund)
redis.register_function('tk_checkin', checkin)
redis.register_function('tk_load', load)
redis.register_function('tk_unlock', unlock)
redis.register_function{function_name = 'tk_version', callback = version,
                        flags = {'no-writes'}}
