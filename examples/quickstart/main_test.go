package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"-> 42 Ada Lovelace",
		`-> 201 Created {"id":43,"name":"Grace Hopper"}`,
		"*StatusError 404, request id req-404-7f3a",
		"ErrTimeout=true DeadlineExceeded=true",
		"-> 30 bytes",
		"105 requests, 2 connections opened",
		"ErrClosed=true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
