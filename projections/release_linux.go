package projections

import "syscall"

// dropResident tells the kernel that this process no longer needs the mapped pages of the views file from
// addr for size bytes. bbolt maps the file read-only and writes through the file descriptor, so the pages
// are clean copies of the file: they leave the process's resident set, stay in the page cache, and a later
// read maps them again.
func dropResident(addr uintptr, size int64) error {
	if addr == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
