package engine

import (
	"context"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/projections"
	"github.com/prometheus/client_golang/prometheus"
)

// lagCollector reports, at scrape time, each stream's last sequence and each view's applied sequence and lag.
type lagCollector struct {
	store   *projections.Store
	broker  *broker.Broker
	applied *prometheus.Desc
	lag     *prometheus.Desc
	last    *prometheus.Desc
	pending *prometheus.Desc
	acks    *prometheus.Desc
}

func newLagCollector(store *projections.Store, b *broker.Broker) *lagCollector {
	return &lagCollector{
		store:   store,
		broker:  b,
		applied: prometheus.NewDesc("hookstream_projection_applied_sequence", "Stream sequence a view has applied.", []string{"view"}, nil),
		lag:     prometheus.NewDesc("hookstream_projection_lag_messages", "Stream messages a view has not applied yet.", []string{"view"}, nil),
		last:    prometheus.NewDesc("hookstream_stream_last_sequence", "Last sequence of a stream.", []string{"stream"}, nil),
		pending: prometheus.NewDesc("hookstream_consumer_pending_messages", "Messages a delivery consumer has not been given yet.", []string{"consumer"}, nil),
		acks:    prometheus.NewDesc("hookstream_consumer_ack_pending_messages", "Messages a delivery consumer is working on.", []string{"consumer"}, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.applied
	ch <- c.lag
	ch <- c.last
	ch <- c.pending
	ch <- c.acks
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for view, seq := range c.store.Applied() {
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(seq), view)
	}
	for view, lag := range c.store.Lag() {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), view)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, kind := range []string{broker.KindWebhooks, broker.KindTokens, broker.KindEvents, broker.KindDeliveries, broker.KindRetries, broker.KindHeld, broker.KindAttempts} {
		// The lookup is a STREAM.INFO request already: its answer is current, no second request needed.
		s, err := c.broker.Stream(ctx, kind)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.CachedInfo().State.LastSeq), kind)
	}
	for kind, name := range map[string]string{broker.KindEvents: delivery.RouterConsumer, broker.KindDeliveries: delivery.DeliveriesConsumer, broker.KindRetries: delivery.RetriesConsumer} {
		cons, err := c.broker.JS.Consumer(ctx, c.broker.Subjects.StreamName(kind), name) // one CONSUMER.INFO request
		if err != nil {
			continue
		}
		info := cons.CachedInfo()
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), name)
		ch <- prometheus.MustNewConstMetric(c.acks, prometheus.GaugeValue, float64(info.NumAckPending), name)
	}
}
