package redisstore

import "github.com/redis/go-redis/v9"

// The scripts keep times as microseconds on Redis's clock (TIME), written
// with %.17g so that they read back exactly: a Lua number is a double, and
// tostring would keep only 14 digits of the 16 a time has. They return
// integers, which is what a Lua number becomes in a reply.

// reserveScript takes a turn of a GCRA (generic cell rate algorithm) rate
// limit, unless a pause runs.
//
// KEYS[1] holds the theoretical arrival time (TAT): when the limit would
// be back at rest. KEYS[2] holds when the upstream's pause ends.
// ARGV[1] is the interval between turns, ARGV[2] the burst, ARGV[3] the
// bound on the wait (negative: none), all in microseconds but the burst.
//
// It returns {taken, wait, pause}: pause > 0 when a pause runs (nothing
// taken); otherwise the wait for the turn, and taken = 1 when the turn
// was taken, that is when the wait is within the bound. A turn that is
// not taken leaves the TAT as it was.
//
// The TAT expires when it no longer matters, once it is past: a missing
// TAT and a past one mean the same (the limit is at rest).
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local pause = redis.call('GET', KEYS[2])
if pause then
	local left = tonumber(pause) - now
	if left > 0 then
		return {0, 0, math.ceil(left)}
	end
end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local within = tonumber(ARGV[3])

local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
	tat = now
end
local newtat = tat + interval
local wait = math.ceil(newtat - burst * interval - now)
if wait < 0 then
	wait = 0
end
if within >= 0 and wait > within then
	return {0, wait, 0}
end
local ttl = math.max(math.ceil((newtat - now) / 1000), 5)
redis.call('SET', KEYS[1], string.format('%.17g', newtat), 'PX', string.format('%d', ttl))
return {1, wait, 0}
`)

// pauseScript holds an upstream back: KEYS[1] is its pause key, ARGV[1]
// the pause in microseconds. The pause ends ARGV[1] from now, unless one
// already ends later; the key expires when the pause ends. It returns the
// time left of the pause that runs, in microseconds.
var pauseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ends = now + tonumber(ARGV[1])

local current = tonumber(redis.call('GET', KEYS[1]) or 0)
if current >= ends then
	return math.ceil(current - now)
end
redis.call('SET', KEYS[1], string.format('%.17g', ends), 'PX', string.format('%d', math.ceil((ends - now) / 1000)))
return math.ceil(ends - now)
`)
