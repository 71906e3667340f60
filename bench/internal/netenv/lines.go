package netenv

import (
	"bytes"
	"strings"
	"sync"
)

// LineWriter is an io.Writer for a child's stdout or stderr that splits the
// stream into lines, hands each complete line to OnLine (called from the
// goroutine that copies the child's output, in order) and keeps the last Keep
// lines for error messages. It is safe for concurrent use.
type LineWriter struct {
	// OnLine, if set, sees every complete line without its newline.
	OnLine func(line string)
	// Keep is how many trailing lines Tail returns (0 means 20).
	Keep int

	mu      sync.Mutex
	partial []byte
	tail    []string
}

// Write implements io.Writer; it never fails.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			break
		}
		line := string(append(w.partial, p[:i]...))
		w.partial = w.partial[:0]
		p = p[i+1:]
		w.lineLocked(line)
	}
	return n, nil
}

func (w *LineWriter) lineLocked(line string) {
	keep := w.Keep
	if keep <= 0 {
		keep = 20
	}
	w.tail = append(w.tail, line)
	if len(w.tail) > keep {
		w.tail = w.tail[len(w.tail)-keep:]
	}
	if w.OnLine != nil {
		w.OnLine(line)
	}
}

// Tail returns the last lines seen (and an unterminated last line), joined
// with newlines.
func (w *LineWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := append([]string(nil), w.tail...)
	if len(w.partial) > 0 {
		lines = append(lines, string(w.partial))
	}
	return strings.Join(lines, "\n")
}
