package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The defaults of a [TokenStore]'s options.
const (
	// DefaultLeaseTTL is how long a [TokenStore]'s lease lasts, unless
	// [LeaseTTL] gives another: longer than the 30s the oauth2 layer
	// gives a refresh by default (oauth2.WithRefreshTimeout), with 10s
	// to spare.
	DefaultLeaseTTL = 40 * time.Second
	// DefaultTokenTTL is how long a [TokenStore] keeps a token after it
	// was last written, unless [TokenTTL] gives another.
	DefaultTokenTTL = 90 * 24 * time.Hour
)

// tokenOption is an [Option] that configures a [TokenStore] only.
type tokenOption interface {
	Option
	applyToken(*tokenOptions) error
}

// tokenOptions is what the token options configure.
type tokenOptions struct {
	leaseTTL time.Duration
	tokenTTL time.Duration
	encrypt  *tokenKey   // nil: plaintext
	decrypt  []*tokenKey // the other keys that decrypt
}

func tokenDefaults() tokenOptions {
	return tokenOptions{leaseTTL: DefaultLeaseTTL, tokenTTL: DefaultTokenTTL}
}

// notPacer is the error of a token option given to another constructor
// than [NewTokenStore].
func notPacer(field string) error {
	return &ConfigError{field, errors.New("is an option of NewTokenStore only")}
}

// LeaseTTL sets how long a [TokenStore]'s lease lasts (default
// [DefaultLeaseTTL]): how long the others wait for a holder that died
// before they refresh the token themselves. A holder's fetch must end a
// quarter of the lease (at most 5s) before it expires, so give a lease
// longer than the oauth2 layer's refresh timeout (oauth2.WithRefreshTimeout)
// by a few seconds, or the lease, not that timeout, bounds the token
// request. It must be at least 100ms.
func LeaseTTL(d time.Duration) Option { return leaseTTLOption(d) }

type leaseTTLOption time.Duration

func (l leaseTTLOption) apply(*options) error { return notPacer("LeaseTTL") }

func (l leaseTTLOption) applyToken(o *tokenOptions) error {
	if d := time.Duration(l); d < 100*time.Millisecond {
		return &ConfigError{"LeaseTTL", fmt.Errorf("must be at least 100ms, got %v", d)}
	}
	o.leaseTTL = time.Duration(l)
	return nil
}

func (l leaseTTLOption) String() string { return fmt.Sprintf("LeaseTTL(%v)", time.Duration(l)) }

// TokenTTL sets how long a [TokenStore] keeps the token after it was last
// written (default [DefaultTokenTTL]): every write sets the key's TTL
// again, so a token in use never expires, and one that no process has
// refreshed for that long is dropped with its refresh token, and must be
// saved again ([TokenStore.Save]). Make it longer than any quiet spell of
// the fleet, and no longer than the refresh token lasts. The TTL is not
// the access token's expiry, which would drop the refresh token with it.
// It must be at least a minute and not shorter than the [LeaseTTL].
func TokenTTL(d time.Duration) Option { return tokenTTLOption(d) }

type tokenTTLOption time.Duration

func (t tokenTTLOption) apply(*options) error { return notPacer("TokenTTL") }

func (t tokenTTLOption) applyToken(o *tokenOptions) error {
	if d := time.Duration(t); d < time.Minute {
		return &ConfigError{"TokenTTL", fmt.Errorf("must be at least a minute, got %v", d)}
	}
	o.tokenTTL = time.Duration(t)
	return nil
}

func (t tokenTTLOption) String() string { return fmt.Sprintf("TokenTTL(%v)", time.Duration(t)) }

// EncryptionKey makes a [TokenStore] encrypt the token it writes with key,
// 32 bytes, by AES-256-GCM with a random nonce per write, and read only
// tokens so encrypted: a token stored in plaintext is refused with
// [ErrTokenUnreadable]. Each value names its key by a key ID, one byte
// derived from the key, so that keys can rotate: see [DecryptionKeys].
// Every process that shares the token needs the key. The store keeps a
// copy of key; the option prints its key ID, never the key.
//
// Without it, the default, the token, its refresh token included, is
// stored in plaintext: whoever can read the Redis, or its backups and
// replicas, can use it.
func EncryptionKey(key []byte) Option {
	k, err := newTokenKey(key)
	return encryptionKeyOption{k, err}
}

type encryptionKeyOption struct {
	key *tokenKey
	err error
}

func (e encryptionKeyOption) apply(*options) error { return notPacer("EncryptionKey") }

func (e encryptionKeyOption) applyToken(o *tokenOptions) error {
	if e.err != nil {
		return &ConfigError{"EncryptionKey", e.err}
	}
	o.encrypt = e.key
	return nil
}

func (e encryptionKeyOption) String() string {
	if e.err != nil {
		return "EncryptionKey(invalid)"
	}
	return fmt.Sprintf("EncryptionKey(id 0x%02x)", e.key.id)
}

// DecryptionKeys gives a [TokenStore] that has an [EncryptionKey] the
// keys it used before, 32 bytes each, to read a token written with one of
// them; it writes with the EncryptionKey only. To rotate keys: give every
// process the new key with DecryptionKeys, then make the new key the
// EncryptionKey and the old one a DecryptionKey, and drop the old key
// once the token has been written again (after its next refresh, or
// [TokenStore.Save]). The last DecryptionKeys given wins. The store keeps
// copies of the keys; the option prints their key IDs, never the keys.
func DecryptionKeys(keys ...[]byte) Option {
	d := decryptionKeysOption{keys: make([]*tokenKey, len(keys))}
	for i, key := range keys {
		k, err := newTokenKey(key)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("key %d: %w", i, err)
		}
		d.keys[i] = k
	}
	return d
}

type decryptionKeysOption struct {
	keys []*tokenKey
	err  error
}

func (d decryptionKeysOption) apply(*options) error { return notPacer("DecryptionKeys") }

func (d decryptionKeysOption) applyToken(o *tokenOptions) error {
	if d.err != nil {
		return &ConfigError{"DecryptionKeys", d.err}
	}
	o.decrypt = d.keys
	return nil
}

func (d decryptionKeysOption) String() string {
	if d.err != nil {
		return "DecryptionKeys(invalid)"
	}
	ids := make([]string, len(d.keys))
	for i, k := range d.keys {
		ids[i] = fmt.Sprintf("id 0x%02x", k.id)
	}
	return "DecryptionKeys(" + strings.Join(ids, ", ") + ")"
}
