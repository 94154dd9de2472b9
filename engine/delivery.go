package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/commands"
	"github.com/hookstream/hookstream/delivery"
	"github.com/nats-io/nats.go/jetstream"
)

// deliverySet is one generation of the delivery components. A worker cannot run twice, and the others are
// wired to it, so when any of them fails the whole set is stopped and a new one started.
type deliverySet struct {
	router *delivery.Router
	worker *delivery.Worker
	holds  *delivery.Holds
	jobs   *delivery.Jobs
}

// parts names the set's runs.
func (s *deliverySet) parts() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{"router": s.router.Run, "worker": s.worker.Run, "holds": s.holds.Run, "jobs": s.jobs.Run}
}

// newDelivery returns a maker of delivery sets.
func (e *Engine) newDelivery(cmd *commands.Service, metrics *delivery.Metrics) func() *deliverySet {
	log := e.log.With("component", "delivery")
	cfg, v := e.cfg, e.views
	return func() *deliverySet {
		holds := delivery.NewHolds(e.broker, v.webhooks, cmd, log)
		worker := delivery.NewWorker(delivery.WorkerConfig{
			Timeout:        cfg.DeliveryTimeout,
			AllowPrivate:   cfg.AllowPrivateDestinations,
			MaxInFlight:    cfg.MaxInFlight,
			MaxPerEndpoint: cfg.MaxInFlightPerEndpoint,
			UserAgent:      "hookstream/" + Version,
			Buckets:        delivery.RetryBuckets(cfg.RetryBuckets),
		}, e.broker, v.webhooks, v.attempts, v.diverted, cmd, holds, metrics, log)
		holds.SetWorker(worker)
		return &deliverySet{
			router: delivery.NewRouter(e.broker, e.store, v.webhooks, v.attempts, holds, worker, metrics, log),
			worker: worker,
			holds:  holds,
			jobs:   delivery.NewJobs(e.broker, e.store, v.events, v.attempts, v.webhooks, worker, log),
		}
	}
}

// runDelivery returns the delivery component's run: once the views have caught up, it runs a set (first,
// then a new one from next at each restart) until ctx ends or one of its parts stops, which stops the others.
func (e *Engine) runDelivery(first *deliverySet, next func() *deliverySet) func(context.Context) error {
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
		parts := set.parts()
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
		{"worker", broker.KindDeliveries, "deliveries"},
		{"worker", broker.KindRetries, "retries"},
		{"jobs", broker.KindJobs, "jobs"},
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
		_, err := e.broker.JS.Consumer(infoCtx, e.broker.Subjects.StreamName(c.kind), c.name)
		cancel()
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			e.health.setPart(c.part)
			return fmt.Errorf("%s: consumer %s is gone", c.part, c.name)
		}
	}
	return nil
}
