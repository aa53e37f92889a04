package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/courierhttp/courier/jsonl"
)

type result struct {
	values []any
	err    string
}

func read(data []byte, oneByte, seq bool) result {
	var r result
	src := iotest.OneByteReader(bytes.NewReader(data))
	if !oneByte {
		src = bytes.NewReader(data)
	}
	for v, err := range jsonl.Values[any](src, jsonl.MaxLineSize(256), jsonl.Seq(seq)) {
		if err != nil {
			var le *jsonl.LineError
			if !errors.As(err, &le) || len(le.Excerpt) > 100+len("…") {
				panic("error is not a *LineError with a short excerpt: " + err.Error())
			}
			r.err += err.Error() + "\n"
			continue
		}
		r.values = append(r.values, v)
	}
	return r
}

// FuzzValues: no panic; reading one byte at a time gives what reading at
// once gives; the values read, written back one per line, read back the
// same.
func FuzzValues(f *testing.F) {
	for _, s := range []string{
		"{\"id\":1}\n{\"id\":2}\n", "{\"a\":[1,2,{\"b\":null}]}\r\n\r\n\"s\"\n3.5\ntrue", "{\"a\":1} x\n",
		"\x1e{\"a\":1}\n\x1e42", "\n\n \t\n", "{\"a\":\"\\u00e9\\ud83d\"}\n", "[" + string(bytes.Repeat([]byte("1,"), 200)) + "1]\n",
		"\xff\xfe\n", "{\"id\":1}\n{\"id\":",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, seq bool) {
		all := read(data, false, seq)
		one := read(data, true, seq)
		if !reflect.DeepEqual(all, one) {
			t.Fatalf("Values(%q) at once = %+v; one byte at a time = %+v", data, all, one)
		}
		var b bytes.Buffer
		for _, v := range all.values {
			line, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("json.Marshal(%#v): %v", v, err)
			}
			if len(line) > 256 {
				return // over the limit written back (escapes grow a string)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		back := read(b.Bytes(), false, false)
		if back.err != "" || !reflect.DeepEqual(back.values, all.values) {
			t.Fatalf("values of %q written back as %q read %+v, want %+v", data, b.Bytes(), back, all.values)
		}
	})
}
