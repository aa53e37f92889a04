package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/sse"
)

// Read an LLM-style token stream: a POST whose answer arrives as events,
// ended by a "[DONE]" marker.
func ExampleStream() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{"Hello", ",", " world", "!"} {
			chunk, _ := json.Marshal(map[string]string{"text": tok})
			fmt.Fprintf(w, "event: token\ndata: %s\n\n", chunk)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, ": done\ndata: [DONE]\n\n")
	}))
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL))
	defer s.Close(ctx)

	prompt := map[string]string{"prompt": "Say hello"}
	var answer strings.Builder
	for ev, err := range sse.Stream(ctx, s, http.MethodPost, "/v1/chat", sse.Request(courier.JSON(prompt))) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		if ev.Data == "[DONE]" {
			break // the end of the answer; breaking closes the stream
		}
		var tok struct{ Text string }
		if err := json.Unmarshal([]byte(ev.Data), &tok); err != nil {
			fmt.Println("error:", err)
			break
		}
		answer.WriteString(tok.Text)
	}
	fmt.Println(answer.String())
	// Output: Hello, world!
}
