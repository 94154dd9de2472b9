package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// resetPeakRSS resets this process's peak resident set size (VmHWM) to its current size, so the peak read at
// the end of a phase is that phase's (Linux 4.0 and later).
func resetPeakRSS() error { return resetPeakRSSOf("self") }

// resetPeakRSSOf is resetPeakRSS for the process pid ("self": this one).
func resetPeakRSSOf(pid string) error {
	return os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0)
}

// peakRSS returns this process's peak resident set size in bytes (VmHWM).
func peakRSS() (int64, error) { return peakRSSOf("self") }

// peakRSSOf is peakRSS for the process pid ("self": this one).
func peakRSSOf(pid string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%s/status", pid)
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
