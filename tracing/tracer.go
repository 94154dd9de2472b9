package tracing

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config shapes a Tracer.
type Config struct {
	// URL is where spans are POSTed over OTLP/HTTP (see TracesURL); empty: no Tracer.
	URL string
	// Service and Version name this process in the exported resource.
	Service, Version string
}

// Tracer exports spans over OTLP/HTTP. A nil *Tracer is off: its spans are empty values, started and ended
// without allocating, and attempts still carry their trace context.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New returns a Tracer exporting to cfg.URL, or nil when cfg.URL is empty. The other standard
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression) apply as the exporter reads them.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.URL))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.Service)}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(attrs...)))
	return &Tracer{provider: p, tracer: p.Tracer("github.com/hookstream/hookstream")}, nil
}

// TracesURL returns the URL spans are POSTed to for an OTLP endpoint: a collector's base URL (no path) gets
// the standard /v1/traces; a URL with a path is used as given.
func TracesURL(endpoint string) (string, error) {
	if endpoint == "" {
		return "", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("OTLP endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("OTLP endpoint %q: must be an http or https URL", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// Span kinds, as OpenTelemetry names them.
const (
	KindServer   = trace.SpanKindServer
	KindConsumer = trace.SpanKindConsumer
	KindClient   = trace.SpanKindClient
)

// Start begins a span named name as a child of parent (a root span when parent is invalid). The span's
// context goes in no context.Context: a caller hands on what it needs explicitly, with Span.Context.
func (t *Tracer) Start(ctx context.Context, name string, kind trace.SpanKind, parent Context) Span {
	if t == nil {
		return Span{}
	}
	if parent.Valid() {
		state, _ := trace.ParseTraceState(parent.State) // a tracestate otel refuses is still passed on as given
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: parent.TraceID, SpanID: parent.SpanID, TraceFlags: trace.TraceFlags(parent.Flags), TraceState: state, Remote: true,
		}))
	}
	_, s := t.tracer.Start(ctx, name, trace.WithSpanKind(kind))
	return Span{s: s}
}

// Span is a span in progress. The zero Span, from a nil Tracer, does nothing.
type Span struct {
	s trace.Span
}

// Recording reports whether attributes set on the span are kept: check it before building them, so a
// Tracer that is off builds none.
func (s Span) Recording() bool { return s.s != nil && s.s.IsRecording() }

// SetAttributes adds attributes to the span.
func (s Span) SetAttributes(kv ...attribute.KeyValue) {
	if s.s != nil {
		s.s.SetAttributes(kv...)
	}
}

// Fail marks the span as failed with a message.
func (s Span) Fail(message string) {
	if s.s != nil {
		s.s.SetStatus(codes.Error, message)
	}
}

// End ends the span.
func (s Span) End() {
	if s.s != nil {
		s.s.End()
	}
}

// Context returns the trace context for what the span sends on: parent's trace, flags and tracestate with
// the span's id; without a Tracer, a new span id in parent's trace, or a new trace when parent is invalid.
func (s Span) Context(parent Context) Context {
	if s.s == nil {
		if !parent.Valid() {
			return NewTrace()
		}
		return parent.WithSpan(NewSpanID())
	}
	sc := s.s.SpanContext()
	return Context{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Flags: byte(sc.TraceFlags()), State: parent.State}
}
