package tracing

import (
	"context"
	"strings"
	"testing"
)

const sample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseAndFormat(t *testing.T) {
	c, ok := Parse(sample, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	if !ok {
		t.Fatal("valid traceparent refused")
	}
	if got := c.Traceparent(); got != sample {
		t.Fatalf("round trip: %s", got)
	}
	if c.State != "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE" || !c.Sampled() {
		t.Fatalf("state %q, flags %x", c.State, c.Flags)
	}
	child := c.WithSpan(NewSpanID())
	if child.TraceID != c.TraceID || child.SpanID == c.SpanID || child.Flags != c.Flags || child.State != c.State {
		t.Fatalf("child %+v of %+v", child, c)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		"",
		"garbage",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     // short
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx", // version 00 with more
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // forbidden version
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // later version, no dash before more
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
	} {
		if c, ok := Parse(s, ""); ok {
			t.Errorf("Parse(%q) = %+v, want refused", s, c)
		}
	}
}

func TestParseLaterVersion(t *testing.T) {
	c, ok := Parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "")
	if !ok || c.Traceparent() != sample {
		t.Fatalf("later version: %+v %v", c, ok)
	}
}

func TestBadTracestateDropped(t *testing.T) {
	for _, state := range []string{"a=b\nc=d", strings.Repeat("x", MaxTracestateLength+1)} {
		c, ok := Parse(sample, state)
		if !ok || c.State != "" {
			t.Errorf("tracestate %.20q: kept %v, state %.20q", state, ok, c.State)
		}
	}
}

func TestDeriveIsStable(t *testing.T) {
	a, b := Derive("01JD0000000000000000000001"), Derive("01JD0000000000000000000001")
	if a != b || !a.Valid() || !a.Sampled() {
		t.Fatalf("%+v %+v", a, b)
	}
	if Derive("01JD0000000000000000000002").TraceID == a.TraceID {
		t.Fatal("two keys, one trace")
	}
	if _, ok := Parse(a.Traceparent(), ""); !ok {
		t.Fatal("derived context does not parse")
	}
}

func TestNewTrace(t *testing.T) {
	a, b := NewTrace(), NewTrace()
	if !a.Valid() || a.TraceID == b.TraceID {
		t.Fatalf("%+v %+v", a, b)
	}
}

// A Tracer that is off costs an attempt nothing: no span, no attribute, no allocation.
func TestOffAllocatesNothing(t *testing.T) {
	var tr *Tracer
	parent := Derive("x")
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		s := tr.Start(ctx, "hookstream.attempt", KindClient, parent)
		if s.Recording() {
			t.Fatal("recording while off")
		}
		_ = s.Context(parent)
		s.End()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per span while off", allocs)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample, "rojo=1")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		c, ok := Parse(traceparent, tracestate)
		if !ok {
			if c != (Context{}) {
				t.Fatalf("refused with %+v", c)
			}
			return
		}
		again, ok := Parse(c.Traceparent(), c.State)
		if !ok || again != c {
			t.Fatalf("%q: formatted %q parses to %+v", traceparent, c.Traceparent(), again)
		}
		if c.State != "" && c.State != tracestate {
			t.Fatalf("tracestate changed: %q", c.State)
		}
	})
}

// BenchmarkAttemptWhenOff is what tracing adds to an attempt while no spans are exported: a no-op span and
// the traceparent value the request carries.
func BenchmarkAttemptWhenOff(b *testing.B) {
	var tr *Tracer
	parent, _ := Parse(sample, "rojo=1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s := tr.Start(ctx, "hookstream.attempt", KindClient, parent)
		_ = s.Context(parent).Traceparent()
		s.End()
	}
}

// BenchmarkDecodeTrace is what reading an event's trace context adds to decoding it: parsing a given one,
// or deriving one from the locator.
func BenchmarkDecodeTrace(b *testing.B) {
	b.Run("given", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Parse(sample, "rojo=1")
		}
	})
	b.Run("derived", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Derive("01JD3Q4V5W6X7Y8Z9A0B1C2D3E")
		}
	})
}
