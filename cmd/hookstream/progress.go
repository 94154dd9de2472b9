package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws a rebuild's progress on stderr: a bar when stderr is a terminal, a line a second
// otherwise. It shows counts only: the rebuild's rate is the one its summary reports.
type progressBar struct {
	w        io.Writer
	terminal bool
	last     time.Time
	drawn    bool
}

func newProgressBar(w io.Writer) *progressBar {
	terminal := false
	if f, ok := w.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	return &progressBar{w: w, terminal: terminal}
}

func (p *progressBar) update(applied, total uint64) {
	now := time.Now()
	if !p.terminal && now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	if !p.terminal {
		fmt.Fprintf(p.w, "rebuild: %d / %d messages\n", applied, total)
		return
	}
	const width = 30
	filled := width
	if total > 0 {
		filled = int(min(applied, total) * width / total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d / %d messages", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), applied, total)
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
