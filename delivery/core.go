package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/delivery/sender"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
)

// Config bounds the delivery work.
type Config struct {
	// Timeout is how long one attempt may take.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback, private and link-local addresses.
	AllowPrivate bool
	// MaxInFlight bounds the attempts in flight on this instance.
	MaxInFlight int
	// MaxPerEndpoint bounds the attempts in flight to one webhook's endpoint, so a slow endpoint cannot take
	// every slot.
	MaxPerEndpoint int
	// UserAgent is sent with every delivery.
	UserAgent string
	// Buckets says which retries wait in buckets rather than in a schedule of their own (zero: the defaults).
	Buckets RetryBuckets
	// Tracer exports spans of routing and of each attempt; nil: none.
	Tracer *tracing.Tracer
}

// Views are the read models delivery consults.
type Views struct {
	Webhooks *projections.Webhooks
	Events   *projections.Events
	Attempts *projections.Attempts
	Diverted *projections.Diverted
}

// Core is one instance's delivery: the router fans events out, the dispatcher runs every try under the
// instance's limits, holds release suspended webhooks' events, and jobs run recover and replay requests.
// The scheduler and the recorder are where tasks wait and outcomes are written.
type Core struct {
	Router     *Router
	Dispatcher *Dispatcher
	Holds      *Holds
	Jobs       *Jobs
	Scheduler  *Scheduler
	Recorder   *Recorder
}

// New assembles the delivery core. suspender suspends a webhook after a final failure; releaser ends a
// webhook's holding once its held events are delivered. A core's parts run once each: a supervisor that
// restarts delivery assembles a new core, with the same metrics.
func New(cfg Config, b *broker.Broker, store *projections.Store, v Views, suspender Suspender, releaser Releaser,
	metrics *Metrics, log *slog.Logger) *Core {
	scheduler := NewScheduler(b, cfg.Buckets)
	recorder := NewRecorder(b, v.Attempts, v.Diverted)
	d := &Dispatcher{
		cfg: cfg, scheduler: scheduler, parker: scheduler, broker: b, metrics: metrics, log: log,
		tries: &deliverer{
			sender: sender.New(sender.Config{Timeout: cfg.Timeout, AllowPrivate: cfg.AllowPrivate,
				MaxConnsPerHost: cfg.MaxPerEndpoint, UserAgent: cfg.UserAgent}),
			webhooks: v.Webhooks, recorder: recorder, scheduler: scheduler, suspender: suspender, metrics: metrics,
			tracer: cfg.Tracer, log: log,
		},
		global: make(chan struct{}, cfg.MaxInFlight),
		lanes:  map[string]*lane{},
		limits: newRateLimits(b),
		rateOf: func(tenant, webhook string) int {
			if wh := v.Webhooks.Current(tenant, webhook); wh != nil {
				return wh.Endpoint.RateLimit
			}
			return 0
		},
	}
	return &Core{
		Router: &Router{broker: b, store: store, webhooks: v.Webhooks, recorder: recorder, scheduler: scheduler,
			dispatcher: d, metrics: metrics, tracer: cfg.Tracer, log: log, inFlight: map[broker.Msg]*routedEvent{}, filters: filters{}},
		Dispatcher: d,
		Holds:      newHolds(b, store, v, releaser, d, scheduler, log),
		Jobs: &Jobs{broker: b, store: store, events: v.Events, attempts: v.Attempts, webhooks: v.Webhooks, deliver: d.Deliver,
			scheduler: scheduler, recorder: recorder, log: log, locks: map[string]*sync.Mutex{}},
		Scheduler: scheduler,
		Recorder:  recorder,
	}
}

// Runs are the core's long-running parts by name, each to run until its context ends.
func (c *Core) Runs() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"router": c.Router.Run, "dispatcher": c.Dispatcher.Run, "holds": c.Holds.Run, "jobs": c.Jobs.Run,
	}
}
