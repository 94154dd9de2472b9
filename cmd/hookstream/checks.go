package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookstream/hookstream/config"
)

// checkWritable writes and removes a probe file in the data folder and, for the embedded server, in its nats/
// folder, creating them as serve would: a folder serve cannot write is reported at once, with its cause,
// rather than as a server that never becomes ready.
func checkWritable(c *config.Config) error {
	dirs := []string{c.Data}
	if c.NATS == "" {
		dirs = append(dirs, filepath.Join(c.Data, "nats"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data folder %s cannot be written: %w", c.Data, err)
		}
		f, err := os.CreateTemp(dir, ".write-probe-*")
		if err != nil {
			return fmt.Errorf("data folder %s cannot be written: %w", c.Data, err)
		}
		f.Close()
		if err := os.Remove(f.Name()); err != nil {
			return fmt.Errorf("data folder %s: remove write probe: %w", c.Data, err)
		}
	}
	return nil
}

// checkStore refuses a data folder without an embedded server's JetStream store: rebuild reads one, and must
// create nothing (no store, no views file) in a folder named by mistake.
func checkStore(data string) error {
	if _, err := os.Stat(data); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data folder %s does not exist: nothing to rebuild from", data)
	} else if err != nil {
		return fmt.Errorf("data folder %s: %w", data, err)
	}
	info, err := os.Stat(filepath.Join(data, "nats", "jetstream"))
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil || errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data folder %s holds no JetStream store (nats/jetstream): nothing to rebuild from; --data must name the folder serve used", data)
	default:
		return fmt.Errorf("data folder %s: %w", data, err)
	}
}
