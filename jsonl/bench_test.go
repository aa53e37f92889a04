package jsonl_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/courierhttp/courier/jsonl"
)

// benchData is 10,000 NDJSON records of about 150 bytes.
func benchData() ([]byte, int) {
	const n = 10_000
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"user %d\",\"tags\":[\"a\",\"b\"],\"note\":%q}\n", i, i, strings.Repeat("z", 80))
	}
	return b.Bytes(), n
}

type benchRec struct {
	ID   int      `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	Note string   `json:"note"`
}

// BenchmarkValues compares Values with the loop one writes by hand, a
// bufio.Scanner and json.Unmarshal, over the same data. The hand loop
// stops silently at a 64 KiB line and does not skip blank lines or name
// the bad one, which Values does.
func BenchmarkValues(b *testing.B) {
	data, n := benchData()
	run := func(b *testing.B, read func() int) {
		b.SetBytes(int64(len(data)))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			if got := read(); got != n {
				b.Fatalf("read %d values, want %d", got, n)
			}
		}
		runtime.ReadMemStats(&after)
		values := float64(n) * float64(b.N)
		b.ReportMetric(values/b.Elapsed().Seconds(), "values/s")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/values, "allocs/value")
	}
	b.Run("jsonl.Values", func(b *testing.B) {
		run(b, func() int {
			got := 0
			for _, err := range jsonl.Values[benchRec](bytes.NewReader(data)) {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			return got
		})
	})
	b.Run("bufio.Scanner", func(b *testing.B) {
		run(b, func() int {
			got := 0
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				var v benchRec
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if err := sc.Err(); err != nil {
				b.Fatal(err)
			}
			return got
		})
	})
}
