//go:build !linux

package bench

import (
	"errors"
	"time"
)

const noProc = "peak RSS and CPU time of the in-process engine are read from /proc (Linux only)"

func resetPeakRSS() error             { return errors.New(noProc) }
func peakRSS() (int64, error)         { return 0, errors.New(noProc) }
func cpuTime() (time.Duration, error) { return 0, errors.New(noProc) }

func resetPeakRSSOf(string) error     { return errors.New(noProc) }
func peakRSSOf(string) (int64, error) { return 0, errors.New(noProc) }
