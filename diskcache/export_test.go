package diskcache

import "time"

// SetClock makes s read the time from now.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// EntryPath is where s keeps key's entry.
func EntryPath(s *Store, key string) string { return s.path(fileName(key)) }

// Encode is the content of an entry file for key, expiring at expires
// (zero: never).
func Encode(key string, expires time.Time, value []byte) []byte {
	var ms int64
	if !expires.IsZero() {
		ms = expires.UnixMilli()
	}
	return encode(entry{key: key, expires: ms, value: value})
}

// HeaderSize is the size of an entry file's header.
const HeaderSize = headerSize

// Size is what s counts its entry files to add up to.
func Size(s *Store) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}
