package courierotel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/courierotel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func ExampleOptions() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("server got a traceparent:", r.Header.Get("Traceparent") != "")
	}))
	defer api.Close()

	spans := tracetest.NewSpanRecorder() // in a service: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	opts, err := courierotel.Options(courierotel.WithTracerProvider(tp), courierotel.WithPropagators(propagation.TraceContext{}))
	if err != nil {
		panic(err)
	}
	s, _ := courier.New(append(opts, courier.WithBaseURL(api.URL))...)
	defer s.Close(context.Background())

	s.Get(context.Background(), "/users/42")
	for _, sp := range spans.Ended() {
		fmt.Println(sp.Name(), sp.SpanKind(), sp.Parent().IsValid())
	}
	// Output:
	// server got a traceparent: true
	// GET client true
	// GET client false
}
