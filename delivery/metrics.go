package delivery

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the delivery engine's Prometheus metrics.
type Metrics struct {
	EventsRouted   prometheus.Counter
	EventsRejected prometheus.Counter
	Deliveries     *prometheus.CounterVec
	Latency        prometheus.Histogram
	Alerts         *prometheus.CounterVec
	RateLimited    prometheus.Counter
	RateWaiting    prometheus.Gauge
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		EventsRouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_routed_total", Help: "Events fanned out into delivery tasks.",
		}),
		EventsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_rejected_total", Help: "Messages on event subjects that are not valid events.",
		}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_deliveries_total", Help: "Delivery attempts by outcome (success, failed, retry_scheduled, diverted, held, queued_in_order, parked, skipped, filtered, paused).",
		}, []string{"outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookstream_attempt_latency_seconds", Help: "Latency of delivery attempts (request to response or timeout).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_alerts_total", Help: "Failure alerts sent, by outcome.",
		}, []string{"outcome"}),
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_rate_limit_waits_total", Help: "Delivery tries that waited for their start under their webhook's rate limit.",
		}),
		RateWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookstream_rate_limit_waiting", Help: "Delivery tries waiting now for their start under their webhook's rate limit.",
		}),
	}
	reg.MustRegister(m.EventsRouted, m.EventsRejected, m.Deliveries, m.Latency, m.Alerts, m.RateLimited, m.RateWaiting)
	return m
}
