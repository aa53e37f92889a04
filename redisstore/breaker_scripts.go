package redisstore

import "github.com/redis/go-redis/v9"

// A breaker's state is one hash per upstream (see [Breakers]), whose
// fields are
//
//	state        1 open, 2 half-open; closed when absent (as the
//	             numbers of courier.BreakerState)
//	opened       when it opened, microseconds on Redis's clock
//	consecutive  failures in a row, closed
//	t:<n> f:<n>  attempts and failures in bucket n of the window, closed:
//	             bucket n covers [n*width, (n+1)*width), width Window/10
//	passed       probes that succeeded, half-open
//	seq          the last probe lease's number, half-open
//	p:<seq>      a probe in flight: when its lease ends
//
// A closed breaker with nothing to remember has no hash: opening one
// starts a new hash, closing one deletes it, so no field outlives its
// state. Times are integers of microseconds, written with %d: a Lua
// number is a double, which holds them exactly, but tostring would keep
// only 14 of their 16 digits. Each write sets the hash's TTL again.

// breakerAllowScript says whether an attempt may go, and takes a probe's
// lease for it when the breaker is half-open.
//
// KEYS[1] is the breaker's hash. ARGV[1] is OpenFor in microseconds,
// ARGV[2] Probes, ARGV[3] the lease of a probe in microseconds, ARGV[4]
// the hash's TTL in milliseconds.
//
// It returns {ok, probe}. A closed breaker is only read. An open one past
// OpenFor turns half-open. A half-open one drops the leases that ended
// (their probes are taken as lost) and lets an attempt through as a probe
// while fewer than Probes leases run.
var breakerAllowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]

local st = redis.call('HMGET', key, 'state', 'opened')
local state = tonumber(st[1]) or 0
if state == 0 then
	return {1, 0}
end
if state == 1 then
	if now - (tonumber(st[2]) or 0) < tonumber(ARGV[1]) then
		return {0, 0}
	end
	redis.call('HSET', key, 'state', 2, 'passed', 0)
end

local live = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
	if string.sub(fields[i], 1, 2) == 'p:' then
		if tonumber(fields[i + 1]) <= now then
			redis.call('HDEL', key, fields[i])
		else
			live = live + 1
		end
	end
end
if live >= tonumber(ARGV[2]) then
	return {0, 0}
end
local id = redis.call('HINCRBY', key, 'seq', 1)
redis.call('HSET', key, 'p:' .. string.format('%d', id), string.format('%d', now + tonumber(ARGV[3])))
redis.call('PEXPIRE', key, ARGV[4])
return {1, 1}
`)

// breakerRecordScript adds an attempt's outcome, as courier's breaker in
// a session does.
//
// KEYS[1] is the breaker's hash. ARGV[1] is 1 when the attempt failed,
// ARGV[2] 1 when it was a probe; ARGV[3] is ConsecutiveFailures, ARGV[4]
// FailureRatio, ARGV[5] MinAttempts, ARGV[6] Window in microseconds,
// ARGV[7] OpenFor in microseconds, ARGV[8] Probes, ARGV[9] the hash's TTL
// in milliseconds.
//
// It returns {state, change}: the state after the outcome (0 closed, 1
// open, 2 half-open: an open breaker past OpenFor reads as half-open),
// and 1 when this outcome opened the breaker, 2 when it closed it, 0
// otherwise.
//
// Half-open, a probe's outcome frees the lease that ends first (probes
// are not told apart): a failure opens the breaker again, and Probes
// successes close it. Any other outcome while open or half-open is a
// straggler, sent before the breaker opened, and changes nothing.
// Closed, the outcome counts in the window's bucket of now; a failure
// opens the breaker after ConsecutiveFailures in a row, or when the
// window holds MinAttempts attempts of which FailureRatio failed.
var breakerRecordScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
local failed = ARGV[1] == '1'
local probe = ARGV[2] == '1'
local ttl = ARGV[9]

local function open()
	redis.call('DEL', key)
	redis.call('HSET', key, 'state', 1, 'opened', string.format('%d', now))
	redis.call('PEXPIRE', key, ttl)
	return {1, 1}
end

local st = redis.call('HMGET', key, 'state', 'opened')
local state = tonumber(st[1]) or 0

if state == 2 and probe then
	local first, ends
	local fields = redis.call('HGETALL', key)
	for i = 1, #fields, 2 do
		if string.sub(fields[i], 1, 2) == 'p:' then
			local e = tonumber(fields[i + 1])
			if not ends or e < ends then
				first, ends = fields[i], e
			end
		end
	end
	if first then
		redis.call('HDEL', key, first)
	end
	if failed then
		return open()
	end
	if redis.call('HINCRBY', key, 'passed', 1) >= tonumber(ARGV[8]) then
		redis.call('DEL', key)
		return {0, 2}
	end
	redis.call('PEXPIRE', key, ttl)
	return {2, 0}
end
if state == 1 then
	if now - (tonumber(st[2]) or 0) >= tonumber(ARGV[7]) then
		return {2, 0}
	end
	return {1, 0}
end
if state == 2 then
	return {2, 0}
end

local window = tonumber(ARGV[6])
local width = math.max(math.floor(window / 10), 1)
local n = string.format('%d', math.floor(now / width))
local new = redis.call('HINCRBY', key, 't:' .. n, 1) == 1
if failed then
	redis.call('HINCRBY', key, 'f:' .. n, 1)
end
redis.call('PEXPIRE', key, ttl)

-- tally sums the buckets within the window, and drops the others.
local function tally()
	local total, fails = 0, 0
	local fields = redis.call('HGETALL', key)
	for i = 1, #fields, 2 do
		local kind = string.sub(fields[i], 1, 2)
		if kind == 't:' or kind == 'f:' then
			if now - tonumber(string.sub(fields[i], 3)) * width < window then
				if kind == 't:' then
					total = total + tonumber(fields[i + 1])
				else
					fails = fails + tonumber(fields[i + 1])
				end
			else
				redis.call('HDEL', key, fields[i])
			end
		end
	end
	return total, fails
end

if not failed then
	redis.call('HSET', key, 'consecutive', 0)
	if new then
		tally()
	end
	return {0, 0}
end
if redis.call('HINCRBY', key, 'consecutive', 1) >= tonumber(ARGV[3]) then
	return open()
end
local total, fails = tally()
if total >= tonumber(ARGV[5]) and fails >= tonumber(ARGV[4]) * total then
	return open()
end
return {0, 0}
`)
