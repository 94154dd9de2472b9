package config

import (
	"errors"
	"strconv"
	"strings"
)

// byteSize is a flag for a size in bytes written as Go's GOMEMLIMIT is: a number of bytes, optionally
// followed by B, KiB, MiB, GiB or TiB.
type byteSize struct{ n *int64 }

var byteUnits = []struct {
	suffix string
	scale  int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseByteSize reads a size such as "256MiB", "1GiB" or "1048576".
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, scale = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/scale {
		return 0, errors.New("want a whole number of bytes, optionally with B, KiB, MiB, GiB or TiB, e.g. 256MiB")
	}
	return n * scale, nil
}

// FormatByteSize writes n in the largest unit that divides it.
func FormatByteSize(n int64) string {
	for _, u := range byteUnits {
		if n != 0 && n%u.scale == 0 && u.scale > 1 {
			return strconv.FormatInt(n/u.scale, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b byteSize) String() string {
	if b.n == nil {
		return "0"
	}
	return FormatByteSize(*b.n)
}

func (b byteSize) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b.n = n
	return nil
}
