package redisstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	xoauth2 "golang.org/x/oauth2"
)

// A stored token is one format byte, then:
//
//	formatPlain: the token as JSON (storedToken)
//	formatGCM:   the key ID (one byte), then the JSON sealed by
//	             AES-256-GCM: a random 12-byte nonce, the ciphertext and
//	             the 16-byte tag
//
// The additional data of the seal is the format byte, the key ID and the
// name of the token's key, so that a value moved to another token's key
// does not open.
const (
	formatPlain byte = 1
	formatGCM   byte = 2
)

// storedToken is the part of a token a TokenStore keeps: Extra is lost.
type storedToken struct {
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// A tokenKey is an AES-256-GCM key and its ID.
type tokenKey struct {
	id   byte
	aead cipher.AEAD
}

// String returns the key's ID, "id 0x2a": never the key.
func (k *tokenKey) String() string { return fmt.Sprintf("id 0x%02x", k.id) }

// newTokenKey returns the tokenKey of key, which must be 32 bytes. Its ID
// is the first byte of a SHA-256 of the key, which tells nothing useful
// about it. The AEAD keeps its own copy of key.
func newTokenKey(key []byte) (*tokenKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("must be 32 bytes (AES-256), got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(append([]byte("courier redisstore token key ID\x00"), key...))
	return &tokenKey{id: h[0], aead: aead}, nil
}

// codec encodes tokens for one key name, and decodes them.
type codec struct {
	name    string      // the token's key, bound to its values
	encrypt *tokenKey   // nil: plaintext
	decrypt []*tokenKey // encrypt first, then the older keys
}

func newCodec(name string, encrypt *tokenKey, older []*tokenKey) codec {
	c := codec{name: name, encrypt: encrypt}
	if encrypt != nil {
		c.decrypt = append([]*tokenKey{encrypt}, older...)
	}
	return c
}

// encode returns the value to store for tok.
func (c codec) encode(tok *xoauth2.Token) ([]byte, error) {
	body, err := json.Marshal(storedToken{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	})
	if err != nil {
		// Only an expiry outside years 0-9999 fails; the error does not
		// quote the token.
		return nil, fmt.Errorf("redisstore: encode token: %w", err)
	}
	if c.encrypt == nil {
		return append([]byte{formatPlain}, body...), nil
	}
	header := []byte{formatGCM, c.encrypt.id}
	return c.encrypt.aead.Seal(header, nil, body, c.aad(header)), nil
}

// decode returns the token a stored value holds. Its errors match
// ErrTokenUnreadable and hold no part of the value.
func (c codec) decode(raw []byte) (*xoauth2.Token, error) {
	if len(raw) == 0 {
		return nil, c.unreadable("the value is empty")
	}
	var body []byte
	switch raw[0] {
	case formatPlain:
		if c.encrypt != nil {
			return nil, c.unreadable("it is stored in plaintext, and the store has an EncryptionKey: save the token again (TokenStore.Save) to encrypt it")
		}
		body = raw[1:]
	case formatGCM:
		if len(raw) < 2 {
			return nil, c.unreadable("the value is truncated")
		}
		id := raw[1]
		if c.encrypt == nil {
			return nil, c.unreadable(fmt.Sprintf("it is encrypted (key ID 0x%02x), and the store has no EncryptionKey", id))
		}
		var err error
		if body, err = c.open(raw[:2], raw[2:]); err != nil {
			return nil, err
		}
	default:
		return nil, c.unreadable(fmt.Sprintf("unknown format %d", raw[0]))
	}
	var st storedToken
	if err := json.Unmarshal(body, &st); err != nil {
		// Not wrapped: a syntax error may quote the value.
		return nil, c.unreadable("the value is not a token")
	}
	return &xoauth2.Token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		Expiry:       st.Expiry,
	}, nil
}

// open decrypts sealed with the keys whose ID the header names.
func (c codec) open(header, sealed []byte) ([]byte, error) {
	id, tried := header[1], false
	for _, k := range c.decrypt {
		if k.id != id {
			continue
		}
		tried = true
		if body, err := k.aead.Open(nil, nil, sealed, c.aad(header)); err == nil {
			return body, nil
		}
	}
	if !tried {
		return nil, c.unreadable(fmt.Sprintf("it is encrypted with key ID 0x%02x, which neither the EncryptionKey nor the DecryptionKeys have", id))
	}
	return nil, c.unreadable(fmt.Sprintf("it does not decrypt with the key of ID 0x%02x: it was encrypted with another key of that ID, or altered, or copied from another token", id))
}

// aad returns the additional data of a seal under header.
func (c codec) aad(header []byte) []byte {
	return append(header[:len(header):len(header)], c.name...)
}

func (c codec) unreadable(why string) error {
	return fmt.Errorf("%w: %s: %s", ErrTokenUnreadable, c.name, why)
}
