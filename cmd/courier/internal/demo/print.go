package demo

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ANSI styles.
const (
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	reset  = "\x1b[0m"
)

// printer writes the tour's lines, aligned, with or without colors. Hooks
// print from the request's goroutine, so writes are serialized.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	err   error // the first write error
}

// Column widths of a step line.
const (
	numWidth    = 2
	titleWidth  = 12
	methodWidth = 4
	pathWidth   = 20
	statusWidth = 3
)

// indent lines a detail up under a step line's method column.
var indent = strings.Repeat(" ", numWidth+2+titleWidth+1)

// paint wraps s in style when colors are on.
func (p *printer) paint(style, s string) string {
	if !p.color || style == "" {
		return s
	}
	return style + s + reset
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

// step prints a step's line: its number and title, the request, the
// status and what it shows.
func (p *printer) step(n int, title, method, path, status, detail string) {
	style := green
	switch code, _ := strconv.Atoi(status); {
	case code == 0 || code >= 400:
		style = red
	case code >= 300:
		style = yellow
	}
	p.printf("%*d  %s %-*s %-*s %s  %s\n",
		numWidth, n,
		p.paint(bold, pad(title, titleWidth)),
		methodWidth, method,
		pathWidth, path,
		p.paint(style, pad(status, statusWidth)),
		detail)
}

// detail prints a dim line under the step above.
func (p *printer) detail(format string, args ...any) {
	p.printf("%s%s\n", indent, p.paint(dim, fmt.Sprintf(format, args...)))
}

// pad pads s with spaces to width, so that colors do not count.
func pad(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// ms formats a latency for people: 0.42ms, 3.1ms, 301ms, 1.2s.
func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// abbrev shows the start and end of a secret and its length, never the
// whole of it.
func abbrev(secret string) string {
	if len(secret) < 12 {
		return fmt.Sprintf("… (%d chars)", len(secret))
	}
	return fmt.Sprintf("%s…%s (%d chars)", secret[:4], secret[len(secret)-2:], len(secret))
}
