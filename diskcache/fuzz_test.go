package diskcache

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzDecode: decode never panics, and what it accepts is exactly what
// encode writes for the entry it returns. Each input is tried as it is and
// with the checksum it would need, so that the fuzzer gets past the
// checksum to the lengths.
func FuzzDecode(f *testing.F) {
	good := encode(entry{key: "courier:cache:v1:0123456789abcdef", expires: 1893456000000, value: []byte("courier-cache/1\n\x00\x00\x00\x02{}")})
	f.Add(good)
	f.Add(encode(entry{}))
	f.Add(good[:headerSize])
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte("CRDC\x01"))
	f.Add([]byte("not an entry"))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b)
		if len(b) >= headerSize {
			roundTrip(t, withChecksum(b))
		}
	})
}

func roundTrip(t *testing.T, b []byte) {
	e, err := decode(b)
	if err != nil {
		return
	}
	if again := encode(e); !bytes.Equal(again, b) {
		t.Fatalf("decode(%q) = %+v, which encodes as %q", b, e, again)
	}
}

// withChecksum is a copy of b, at least a header long, with the checksum
// that its other bytes need.
func withChecksum(b []byte) []byte {
	b = bytes.Clone(b)
	crc := crc32.Update(0, crcTable, b[:25])
	crc = crc32.Update(crc, crcTable, b[headerSize:])
	binary.BigEndian.PutUint32(b[25:], crc)
	return b
}
