package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/projections"
)

// RebuildStats describes a finished rebuild.
type RebuildStats struct {
	// Messages is the number of stream messages the views applied (summed over the views).
	Messages uint64
	Elapsed  time.Duration
	// Differences lists how the existing views differ from the rebuilt ones (Verify only).
	Differences []string
}

// RebuildOptions qualify a rebuild.
type RebuildOptions struct {
	// Verify rebuilds into a scratch file and compares it with the existing views instead of replacing them.
	Verify bool
	// Progress, when set, is called a few times a second with the messages applied so far and the total.
	Progress func(applied, total uint64)
}

// Rebuild recreates every view from the streams, replacing the views file (or, with Verify, comparing it).
// The server must be stopped: the file lock refuses a rebuild while another process has the file open.
func Rebuild(ctx context.Context, cfg *config.Config, log *slog.Logger, opts RebuildOptions) (RebuildStats, error) {
	path := filepath.Join(cfg.Data, ViewsFile)
	// Before anything else: a running server holds the file, and must not share its data folder.
	if err := projections.CheckUnlocked(path); err != nil {
		return RebuildStats{}, err
	}
	b, err := OpenBroker(ctx, cfg, log, true)
	if err != nil {
		return RebuildStats{}, err
	}
	defer b.Close()
	target := path
	if opts.Verify {
		target = path + ".verify"
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return RebuildStats{}, fmt.Errorf("remove %s: %w", target, err)
	}
	stats, err := build(ctx, b, target, log, opts.Progress)
	if err != nil || !opts.Verify {
		return stats, err
	}
	defer os.Remove(target)
	stats.Differences, err = projections.Compare(path, target)
	return stats, err
}

// build replays every stream into a new views file at path.
func build(ctx context.Context, b *broker.Broker, path string, log *slog.Logger, progress func(applied, total uint64)) (RebuildStats, error) {
	start := time.Now()
	store, err := projections.Open(path, b.JS, projections.Options{StreamName: b.Subjects.StreamName, NoSync: true}, log)
	if err != nil {
		return RebuildStats{}, err
	}
	views := newViews(store, b.Subjects).all()
	var total uint64
	for _, v := range views {
		s, err := b.Stream(ctx, v.Stream())
		if err != nil {
			store.Close()
			return RebuildStats{}, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			store.Close()
			return RebuildStats{}, fmt.Errorf("stream info: %w", err)
		}
		total += info.State.Msgs
	}
	if err := store.Start(ctx, views...); err != nil {
		store.Close()
		return RebuildStats{}, err
	}
	done := make(chan error, 1)
	go func() { done <- store.WaitCaughtUp(ctx) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			applied := sum(store.Applied())
			if progress != nil {
				progress(applied, total)
			}
			if cerr := store.Close(); err == nil {
				err = cerr
			}
			return RebuildStats{Messages: applied, Elapsed: time.Since(start)}, err
		case <-tick.C:
			if progress != nil {
				progress(sum(store.Applied()), total)
			}
		}
	}
}

// views are every read model. Adding a view is adding it here.
type views struct {
	webhooks *projections.Webhooks
	tokens   *projections.Tokens
	events   *projections.Events
	attempts *projections.Attempts
	diverted *projections.Diverted
}

func newViews(store *projections.Store, subjects broker.Subjects) views {
	return views{webhooks: projections.NewWebhooks(store), tokens: projections.NewTokens(store),
		events: projections.NewEvents(store, subjects), attempts: projections.NewAttempts(store), diverted: projections.NewDiverted(store)}
}

func (v views) all() []projections.View {
	return []projections.View{v.webhooks, v.tokens, v.events, v.attempts, v.diverted}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
