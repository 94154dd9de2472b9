package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/tracing"
)

func TestSendCarriesTheTrace(t *testing.T) {
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	s := New(Config{Timeout: 5 * time.Second, AllowPrivate: true, MaxConnsPerHost: 1, UserAgent: "test"})
	// A fixed trace header configured on the endpoint gives way to the event's.
	ep := &hookstream.Endpoint{URL: srv.URL, Headers: map[string][]string{"Traceparent": {"fixed"}, "Tracestate": {"fixed=1"}}}

	tc, _ := tracing.Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1")
	if r := s.Send(context.Background(), ep, "msg_1", []byte(`{}`), tc); r.Err != nil {
		t.Fatal(r.Err)
	}
	h := <-got
	if h.Get("Traceparent") != tc.Traceparent() || h.Get("Tracestate") != "rojo=1" {
		t.Fatalf("sent %q %q", h.Get("Traceparent"), h.Get("Tracestate"))
	}
	tc.State = ""
	if r := s.Send(context.Background(), ep, "msg_2", []byte(`{}`), tc); r.Err != nil {
		t.Fatal(r.Err)
	}
	if h := <-got; h.Get("Traceparent") != tc.Traceparent() || h.Values("Tracestate") != nil {
		t.Fatalf("sent %q %q", h.Get("Traceparent"), h.Values("Tracestate"))
	}
}
