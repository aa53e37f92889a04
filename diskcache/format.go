package diskcache

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// An entry file is a fixed header, then the key, then the value:
//
//	offset  size  field
//	     0     4  magic "CRDC"
//	     4     1  version (1)
//	     5     8  expiry, Unix milliseconds, big-endian (0: never)
//	    13     4  key length, big-endian
//	    17     8  value length, big-endian
//	    25     4  CRC-32C (Castagnoli) of bytes 0-24, the key and the value
//	    29        key, then value
//
// The lengths must account for the file exactly, and the checksum must
// match: anything else is a corrupt or foreign file.
const (
	magic      = "CRDC"
	version    = 1
	headerSize = 29
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is what decode returns for bytes that are not an entry.
var errCorrupt = errors.New("diskcache: corrupt entry")

// entry is one decoded entry file.
type entry struct {
	key string
	// expires is the expiry in Unix milliseconds; 0 is never.
	expires int64
	value   []byte
}

// expired reports whether e has expired at now.
func (e *entry) expired(now time.Time) bool {
	return e.expires != 0 && now.UnixMilli() >= e.expires
}

// expiryMillis is the expiry stored for a ttl set at now: 0 (never) for a
// ttl that is not positive.
func expiryMillis(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return max(now.Add(ttl).UnixMilli(), 1)
}

// fileSize is the size of the file that holds key and a value of n bytes.
func fileSize(key string, n int) int64 {
	return headerSize + int64(len(key)) + int64(n)
}

// header returns the header and key of an entry file; the value follows
// them.
func header(key string, expires int64, value []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(key))
	copy(b, magic)
	b[4] = version
	binary.BigEndian.PutUint64(b[5:], uint64(expires))
	binary.BigEndian.PutUint32(b[13:], uint32(len(key)))
	binary.BigEndian.PutUint64(b[17:], uint64(len(value)))
	crc := crc32.Update(0, crcTable, b[:25])
	crc = crc32.Update(crc, crcTable, []byte(key))
	crc = crc32.Update(crc, crcTable, value)
	binary.BigEndian.PutUint32(b[25:], crc)
	return append(b, key...)
}

// encode returns the whole entry file for e.
func encode(e entry) []byte {
	return append(header(e.key, e.expires, e.value), e.value...)
}

// decode parses an entry file. The entry's value is a slice of b.
func decode(b []byte) (entry, error) {
	if len(b) < headerSize || string(b[:4]) != magic || b[4] != version {
		return entry{}, errCorrupt
	}
	keyLen := uint64(binary.BigEndian.Uint32(b[13:]))
	valueLen := binary.BigEndian.Uint64(b[17:])
	rest := uint64(len(b) - headerSize)
	if keyLen > rest || valueLen != rest-keyLen {
		return entry{}, errCorrupt
	}
	crc := crc32.Update(0, crcTable, b[:25])
	crc = crc32.Update(crc, crcTable, b[headerSize:])
	if crc != binary.BigEndian.Uint32(b[25:]) {
		return entry{}, errCorrupt
	}
	body := b[headerSize:]
	return entry{
		key:     string(body[:keyLen]),
		expires: int64(binary.BigEndian.Uint64(b[5:])),
		value:   body[keyLen:len(body):len(body)],
	}, nil
}
