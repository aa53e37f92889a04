package redisstore

import "github.com/redis/go-redis/v9"

// The token scripts share their keys: KEYS[1] holds the token, KEYS[2] the
// lease (its owner's ID), KEYS[3] the fence, a hash whose field n counts
// the leases taken (the fencing number) and whose field owner names the
// owner of the last one. The braces of the keys put them in one slot.

// acquireScript takes the lease for ARGV[1], the owner, for ARGV[2]
// milliseconds, unless another caller holds it, and reads the stored
// token in the same step. Taking it increments the fencing number and
// names the owner in the fence, which expires ARGV[3] milliseconds later
// (the token's TTL).
//
// It returns {1, n, token} when it took the lease, n being the fencing
// number, and {0, ms, token} when another caller holds it, ms being the
// time left of that lease. token is nil when none is stored.
var acquireScript = redis.NewScript(`
local tok = redis.call('GET', KEYS[1])
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
	local n = redis.call('HINCRBY', KEYS[3], 'n', 1)
	redis.call('HSET', KEYS[3], 'owner', ARGV[1])
	redis.call('PEXPIRE', KEYS[3], ARGV[3])
	return {1, n, tok}
end
return {0, redis.call('PTTL', KEYS[2]), tok}
`)

// writeScript writes ARGV[3], the token, with a TTL of ARGV[4]
// milliseconds, and releases the lease, if the last lease taken is still
// ARGV[1]'s, with fencing number ARGV[2]: no one has taken the lease
// since, even if it has expired. Otherwise it writes nothing. It returns 1
// when it wrote, 0 when it did not.
var writeScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[3], 'n') ~= ARGV[2] then
	return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then
	redis.call('DEL', KEYS[2])
end
return 1
`)

// releaseScript releases the lease, KEYS[1], if ARGV[1] holds it, and
// returns 1; otherwise it leaves it and returns 0.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)
