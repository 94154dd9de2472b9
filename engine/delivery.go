package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/commands"
	"github.com/hookstream/hookstream/delivery"
)

// newDelivery returns a maker of delivery cores. A core's parts run once each, so when any of them fails the
// whole core is stopped and a new one started; the metrics are registered once and shared.
func (e *Engine) newDelivery(cmd *commands.Service, metrics *delivery.Metrics) func() *delivery.Core {
	log := e.log.With("component", "delivery")
	cfg, v := e.cfg, e.views
	return func() *delivery.Core {
		return delivery.New(delivery.Config{
			Timeout:        cfg.DeliveryTimeout,
			AllowPrivate:   cfg.AllowPrivateDestinations,
			MaxInFlight:    cfg.MaxInFlight,
			MaxPerEndpoint: cfg.MaxInFlightPerEndpoint,
			UserAgent:      "hookstream/" + Version,
			Buckets:        delivery.RetryBuckets(cfg.RetryBuckets),
			Tracer:         e.tracer,
		}, e.broker, e.store, delivery.Views{Webhooks: v.webhooks, Events: v.events, Attempts: v.attempts, Diverted: v.diverted},
			cmd, cmd, metrics, log)
	}
}

// runDelivery returns the delivery component's run: once the views have caught up, it runs a set (first,
// then a new one from next at each restart) until ctx ends or one of its parts stops, which stops the others.
func (e *Engine) runDelivery(first *delivery.Core, next func() *delivery.Core) func(context.Context) error {
	unused := first
	return func(ctx context.Context) error {
		if !e.viewsUp.wait(ctx) {
			return nil
		}
		set := unused
		if set == nil {
			set = next()
		}
		unused = nil
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		type ended struct {
			part string
			err  error
		}
		parts := set.Runs()
		results := make(chan ended, len(parts))
		e.health.setRunning(time.Now())
		defer e.health.setRunning(time.Time{})
		for name, run := range parts {
			go func() { results <- ended{name, run(runCtx)} }()
		}
		var failed error
		for range parts {
			r := <-results
			if failed != nil || ctx.Err() != nil {
				continue
			}
			if r.err == nil {
				r.err = errors.New("returned before being stopped")
			}
			e.health.setPart(r.part)
			e.log.Error("delivery component stopped; restarting delivery", "component", r.part, "err", r.err)
			failed = fmt.Errorf("%s: %w", r.part, r.err)
			cancel()
		}
		return failed
	}
}

// deliveryConsumers are the durable consumers the delivery components pull from, by component.
func deliveryConsumers() []struct{ part, kind, name string } {
	return []struct{ part, kind, name string }{
		{"router", broker.KindEvents, delivery.RouterConsumer},
		{"dispatcher", broker.KindDeliveries, delivery.DeliveriesConsumer},
		{"dispatcher", broker.KindRetries, delivery.RetriesConsumer},
		{"jobs", broker.KindJobs, delivery.JobsConsumer},
	}
}

// checkDelivery fails when a delivery consumer is gone (deleted from outside, or lost with the stream): a
// pull consumer whose consumer was deleted stops pulling without a word, and only a restart recreates it.
// Answers other than "not found" (timeouts under load, NATS away) say nothing about the consumer.
func (e *Engine) checkDelivery(ctx context.Context) error {
	if !e.broker.Connected() || e.health.runningFor() < e.opts.CheckEvery {
		return nil // the set is still creating its consumers
	}
	for _, c := range deliveryConsumers() {
		infoCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		exists, err := e.broker.ConsumerExists(infoCtx, c.kind, c.name)
		cancel()
		if err == nil && !exists {
			e.health.setPart(c.part)
			return fmt.Errorf("%s: consumer %s is gone", c.part, c.name)
		}
	}
	return nil
}
