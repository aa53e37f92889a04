// Package sse reads Server-Sent Events (text/event-stream) through a
// courier session, as one sequence of events that survives dropped
// connections:
//
//	s, err := courier.New(courier.WithBaseURL("https://api.example.com"))
//	if err != nil { ... }
//	for ev, err := range sse.Stream(ctx, s, "GET", "/v1/updates") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.ID, ev.Data)
//	}
//
// A POST (an LLM's token stream, say) gives its body with [Request]:
//
//	sse.Stream(ctx, s, "POST", "/v1/chat", sse.Request(courier.JSON(prompt)))
//
// # Parsing
//
// The stream is read by the "event stream interpretation" rules of the
// WHATWG HTML standard:
//   - bytes are decoded as UTF-8, each invalid sequence becoming U+FFFD, and
//     one byte order mark at the start is ignored;
//   - a line ends with LF, CR or CRLF, mixed freely (a CRLF split between
//     two reads is one line end);
//   - a line that starts with ':' is a comment; otherwise the text up to the
//     first ':' is the field name and the rest, less one leading space, its
//     value; a line without ':' is a field name with an empty value;
//   - "data" appends its value and "\n" to the event's data, "event" sets
//     its type, "id" sets the last event ID (unless the value holds NUL,
//     then the field is ignored), and "retry" sets the reconnection delay
//     in milliseconds (only when the value is all ASCII digits); other
//     fields are ignored;
//   - a blank line dispatches the event, its data less the last "\n", its
//     type "message" when no event field set one; an event without data
//     lines is not dispatched, though its id still becomes the last event
//     ID; an event that the stream ends before a blank line is discarded.
//
// A line or an event's data larger than [MaxEventSize] (1 MiB by default)
// ends the stream with [ErrEventTooLarge], never silently.
//
// # Reconnecting
//
// When the connection drops (a read error, or the server ends the
// response), [Stream] waits the server's retry delay (3s by default, with
// 20% jitter) and sends the request again with Last-Event-ID, as a browser's
// EventSource does. A request that is not idempotent (a POST) is sent again
// only when it carries an Idempotency-Key header; otherwise the drop ends
// the stream with a [*DropError]. Since a server that ends the response on
// purpose (as LLM APIs do after their last token) looks the same as a drop,
// such a stream ends with a DropError that matches io.EOF: break out of the
// loop at the stream's own end marker, or take errors.Is(err, io.EOF) as
// the end. At most [MaxReconnects] reconnects in a row may fail to deliver
// an event, and each reconnect after a connection that delivered none is
// paid for from the session's retry budget ([courier.Resend]), as a retry
// is: when many streams lose a server that is down, the budget, shared by
// all requests to the host, stops them reconnecting, and the server is not
// flooded as it comes back. A server ends the stream for good by answering
// 204.
//
// Between reads the session's Timeouts.BodyIdle bounds the wait: a stream
// whose server sends nothing (not even a comment as a heartbeat) for that
// long counts as dropped, with courier.ErrTimeout.
package sse
