//go:build !linux

package projections

// dropResident does nothing where madvise is not available through package syscall.
func dropResident(uintptr, int64) error { return nil }
