package redisstore

import "errors"

// ErrUnavailable is matched, with errors.Is, by the error of a call that
// Redis did not answer: it failed, took longer than [Timeout], or was not
// made because Redis is taken to be unavailable. A [Pacer] that fails
// closed returns it from Reserve and Pause; [Breakers] from Allow with
// [FailClosed](true), and from Record; a [Cache] from every call; a
// [TokenStore] from every call whose context has not ended. The error
// Redis returned (a refused connection, a timeout, an error reply) is in
// its chain too, when there was one.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// ErrLeaseLost is matched, with errors.Is, by the error [TokenStore.Refresh]
// returns when its write was refused because another caller took the
// token's lease while fetch ran (the lease had expired): the token fetch
// returned is not stored, and the one the other caller writes stands.
var ErrLeaseLost = errors.New("redisstore: token lease lost")

// ErrTokenUnreadable is matched, with errors.Is, by the error a
// [TokenStore] returns when the stored token cannot be read: it was
// encrypted with a key the store does not have, or is plaintext for a
// store that encrypts, or the reverse, or it was altered. The message says
// which, with the key's ID, never a key or a token.
var ErrTokenUnreadable = errors.New("redisstore: stored token unreadable")

// A ConfigError reports an argument of a constructor ([NewPacer],
// [NewBreakers], [NewCache], [NewTokenStore]), an [Option], or a
// [courier.BreakerPolicy] given to [Breakers], that is not valid. Field
// names it:
//
//   - "client", the Redis client, for every constructor;
//   - "RateLimit.PerSecond" or "RateLimit.Burst", for NewPacer;
//   - "name", the token's name, for NewTokenStore;
//   - "BreakerPolicy.<field>" (such as "BreakerPolicy.FailureRatio"),
//     for [Breakers.Allow] and [Breakers.Record];
//   - the option's name ("Prefix", "Upstream", "Timeout", "Logger",
//     "FailOpen", "FailClosed", "MaxValueBytes", "LeaseTTL", "TokenTTL",
//     "EncryptionKey" or "DecryptionKeys") for an option whose value is
//     not valid, or that the constructor does not accept;
//   - "Option", for a nil Option.
type ConfigError struct {
	Field string
	Err   error
}

// Error returns "redisstore: <field>: <cause>".
func (e *ConfigError) Error() string { return "redisstore: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }
