package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// ProgressBar draws Progress on a terminal, one line redrawn in place. On anything but a terminal it draws
// nothing: redirected output stays clean.
type ProgressBar struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	drawn bool
}

// NewProgressBar returns a bar drawing on w when w is a terminal.
func NewProgressBar(w io.Writer) *ProgressBar {
	return &ProgressBar{w: w, on: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// Update draws p; it is an Options.Progress.
func (b *ProgressBar) Update(p Progress) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	const width = 30
	filled := width
	if p.Total > 0 {
		filled = int(min(p.Done, p.Total) * width / p.Total)
	}
	r := rate(p.Done, p.Elapsed)
	fmt.Fprintf(b.w, "\r\033[K%-22s [%s%s] %s / %s, %s/s", p.Stage, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		formatCount(p.Done), formatCount(p.Total), formatCount(int64(r)))
	b.drawn = true
}

// Finish clears the bar's line.
func (b *ProgressBar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}
