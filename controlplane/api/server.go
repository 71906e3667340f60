package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// Backend is what the API needs from the daemon (controlplane/agent
// implements it). Config, Snapshot, Stats, Conntrack and HealthStates are
// called from any goroutine, concurrently. Apply, Reload and ResetOverlay
// are called by the Server one at a time (Server.mu); the agent serialises
// them with its own reloads.
type Backend interface {
	// ConfigPath is the configuration file (R1 --config).
	ConfigPath() string
	// Config is the running effective configuration (file + overlay). It
	// is never modified once returned; the API changes copies.
	Config() *config.Config
	// Overlay is the persisted list of API operations (R5).
	Overlay() *Overlay
	// Apply applies a validated candidate atomically, like a reload
	// (compile, reconcile ports, publish). An error means nothing changed.
	Apply(cfg *config.Config) error
	// Reload re-reads the file, replays the overlay (LoadEffective), applies
	// the result and prunes operations that no longer apply
	// (Overlay.Replace with the dropped ones). An error means nothing
	// changed; validation errors are *config.Diag values (joined).
	Reload() error
	// ResetOverlay drops the overlay and re-applies the file alone.
	ResetOverlay() error
	// Snapshot is the published forwarding snapshot (nil before start).
	Snapshot() *dataplane.Snapshot
	// Stats is the counter registry (R8).
	Stats() *stats.Registry
	// Conntrack is the flow table (nil when no ENI has security groups).
	Conntrack() *conntrack.Table
	// HealthStates is every probed next hop (health.Prober.States).
	HealthStates() []health.State
}

// Error is the body of an error reply, {"code", "message", "errors"}, and
// the error the Client returns for it. Status is the HTTP status.
type Error struct {
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Errors  []string `json:"errors,omitempty"`
}

// Error renders the message followed by each error on its own line.
func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return e.Message
	}
	return e.Message + "\n" + strings.Join(e.Errors, "\n")
}

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errNotReady = newError(http.StatusServiceUnavailable, CodeNotReady, "vrouterd has no running configuration yet")

// statusOf maps an OpError code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case CodeNotFound, CodeUnknownAction:
		return http.StatusNotFound
	case CodeConflict, CodeDependencyViolation:
		return http.StatusConflict
	case CodeValidationFailed, CodeInvalidConfig:
		return http.StatusUnprocessableEntity
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// asAPIError converts any error of a handler to an *Error.
func asAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return &Error{Status: statusOf(oe.Code), Code: oe.Code, Message: oe.Msg, Errors: []string{oe.Error()}}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// maxBody bounds a request body.
const maxBody = 4 << 20

// Server serves the API over HTTP/JSON on a unix socket (SPEC R5):
// `POST /v1/<Action>` with the parameters as a JSON object.
//
// Synchronisation: mu serialises every change — the mutating actions,
// Reload and StateReset — so that a candidate is always built from the
// configuration it replaces and two changes never interleave. The agent's
// SIGHUP handler must reload through Server.Reload for the same reason.
// Read-only actions take no lock. ln and srv are set once by Serve and
// guarded by lifeMu.
type Server struct {
	b   Backend
	log *zap.Logger
	now func() time.Time

	mu sync.Mutex // serialises mutations, Reload and StateReset

	lifeMu sync.Mutex
	ln     net.Listener
	srv    *http.Server
	served chan struct{}
}

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now (operation timestamps, flow ages, traces).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// NewServer returns a Server over b. Nothing listens until Serve.
func NewServer(b Backend, log *zap.Logger, opts ...Option) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{b: b, log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve listens on the unix socket socketPath (mode 0660) and serves in
// the background; it returns once the socket accepts connections. A stale
// socket left by a previous process is removed; a socket another live
// process is serving is an error.
func (s *Server) Serve(socketPath string) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.ln != nil {
		return errors.New("api: already serving")
	}
	if err := removeStaleSocket(socketPath); err != nil {
		return err
	}
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", socketPath, err)
	}
	if err := os.Chmod(socketPath, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("api: chmod %s: %w", socketPath, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(s.log)}
	s.served = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", zap.Error(err))
		}
	}(s.srv, s.served)
	s.log.Info("api listening", zap.String("socket", socketPath))
	return nil
}

// removeStaleSocket removes path when it is a socket nobody serves.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("api: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, 500*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("api: %s is in use by another process (is vrouterd already running?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("api: remove stale socket: %w", err)
	}
	return nil
}

// Close stops accepting connections, waits up to 5 s for calls in
// progress and removes the socket. It is safe to call more than once.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.served
	s.srv, s.ln = nil, nil
	return err
}

// ServeHTTP implements http.Handler: POST /v1/<Action>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok || action == "" || strings.Contains(action, "/") {
		writeError(w, newError(http.StatusNotFound, CodeUnknownAction, "no such endpoint %s; use POST /v1/<Action>", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST /v1/%s", action))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, newError(http.StatusBadRequest, CodeInvalidParameter, "reading the request: %v", err))
		return
	}
	if len(body) > maxBody {
		writeError(w, newError(http.StatusRequestEntityTooLarge, CodeInvalidParameter, "request body larger than %d bytes", maxBody))
		return
	}
	res, err := s.Do(action, body)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	data, err := json.Marshal(res)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, CodeInternal, "encoding the reply: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, e *Error) {
	data, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(append(data, '\n'))
}

// runtimeActions are the non-configuration endpoints.
var runtimeActions = map[string]func(s *Server, raw []byte) (any, error){
	"Reload": func(s *Server, raw []byte) (any, error) {
		return noParams(raw, func() (any, error) { return s.Reload() })
	},
	"StateShow":  func(s *Server, raw []byte) (any, error) { return noParams(raw, s.stateShow) },
	"StateReset": func(s *Server, raw []byte) (any, error) { return noParams(raw, s.stateReset) },
	"Stats":      func(s *Server, raw []byte) (any, error) { return noParams(raw, s.stats) },
	"Health":     func(s *Server, raw []byte) (any, error) { return noParams(raw, s.health) },
	"Flows":      (*Server).flows,
	"Trace":      (*Server).trace,
}

func noParams(raw []byte, f func() (any, error)) (any, error) {
	var p struct{}
	if err := decodeStrict(raw, &p); err != nil {
		return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "this action takes no parameters: %v", err)
	}
	return f()
}

// Actions returns every action name the server answers.
func Actions() []string {
	out := MutatingActions()
	for a := range describers {
		out = append(out, a)
	}
	for a := range runtimeActions {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Do runs one action with its JSON parameters and returns the reply (the
// JSON-able value that ServeHTTP encodes) or an error (*Error, or an
// *OpError that ServeHTTP maps to its status).
func (s *Server) Do(action string, params []byte) (any, error) {
	if _, ok := mutations[action]; ok {
		return s.mutate(action, params)
	}
	if f, ok := describers[action]; ok {
		return f(s, params)
	}
	if f, ok := runtimeActions[action]; ok {
		return f(s, params)
	}
	return nil, newError(http.StatusNotFound, CodeUnknownAction, "unknown action %q", action)
}

// MutationResponse is the reply of every mutating action.
type MutationResponse struct {
	Action     string   `json:"Action"`
	OverlayOps int      `json:"OverlayOps"` // operations in the overlay after this one
	Warnings   []string `json:"Warnings,omitempty"`
}

// mutate builds the candidate (running configuration + the new
// operation), validates it exactly like the file (SPEC §3, V4), applies it
// and appends the operation to the overlay (R5). If the overlay cannot be
// saved, the previous configuration is re-applied: a change is either
// applied and persisted, or neither.
func (s *Server) mutate(action string, raw []byte) (*MutationResponse, error) {
	m := mutations[action]()
	if err := decodeStrict(raw, m); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: err.Error(),
			Errors: []string{fmt.Sprintf("api:%s: params: V0: %v", action, err)}}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	running := s.b.Config()
	if running == nil {
		return nil, errNotReady
	}
	cand := CloneConfig(running)
	if err := m.apply(cand, &opCtx{action: action}); err != nil {
		s.log.Info("api change refused", zap.String("action", action), zap.Error(err))
		return nil, err
	}
	// Encoded after apply: an operation may complete its parameters (the
	// multicast server chosen by default, the groups a clear removed, M4)
	// so that the overlay's replay does exactly what was done.
	params, err := json.Marshal(m)
	if err != nil {
		return nil, newError(http.StatusInternalServerError, CodeInternal, "encoding the parameters: %v", err)
	}
	op := Op{Action: action, Params: params, Time: s.now().UTC()}
	config.ApplyDefaults(cand)
	warns, verr := config.Validate(cand)
	if verr == nil {
		verr = config.ValidateTransition(running, cand)
	}
	if verr != nil {
		e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidationFailed}
		for _, d := range config.Diagnostics(verr) {
			e.Errors = append(e.Errors, renderDiag(action, d))
		}
		if len(e.Errors) == 0 {
			e.Errors = []string{verr.Error()}
		}
		e.Message = fmt.Sprintf("%s rejected: the resulting configuration is invalid (%s); nothing changed", action, plural(len(e.Errors), "error"))
		s.log.Info("api change refused", zap.String("action", action), zap.Strings("errors", e.Errors))
		return nil, e
	}
	if err := s.b.Apply(cand); err != nil {
		e := newError(http.StatusInternalServerError, CodeInternal, "%s could not be applied; nothing changed: %v", action, err)
		for _, d := range config.Diagnostics(err) {
			e.Errors = append(e.Errors, renderDiag(action, d))
		}
		s.log.Warn("api change failed", zap.String("action", action), zap.Error(err))
		return nil, e
	}
	ov := s.b.Overlay()
	if err := ov.Append(op); err != nil {
		msg := fmt.Sprintf("%s was applied but could not be saved to the state directory, so it was rolled back: %v", action, err)
		if rerr := s.b.Apply(running); rerr != nil {
			msg = fmt.Sprintf("%s was applied but could not be saved to the state directory (%v), and rolling it back failed: %v", action, err, rerr)
		}
		s.log.Error("api change not persisted", zap.String("action", action), zap.Error(err))
		return nil, newError(http.StatusInternalServerError, CodeInternal, "%s", msg)
	}
	resp := &MutationResponse{Action: action, OverlayOps: ov.Len()}
	for _, w := range warns {
		resp.Warnings = append(resp.Warnings, renderDiag(action, w))
	}
	s.log.Info("api change applied", zap.String("action", action), zap.ByteString("params", params), zap.Int("overlay_ops", resp.OverlayOps))
	return resp, nil
}

// ReloadResponse is the reply of Reload.
type ReloadResponse struct {
	Reloaded   bool      `json:"Reloaded"`
	OverlayOps int       `json:"OverlayOps"`
	Dropped    []Dropped `json:"Dropped,omitempty"` // overlay operations that no longer apply (R5)
}

// Reload re-reads the configuration file and replays the overlay (R3, R5).
// It holds the same lock as API changes; the agent's SIGHUP handler calls
// it so that a reload never interleaves with a change. On an invalid file
// the error is an *Error listing every finding and nothing changed.
func (s *Server) Reload() (*ReloadResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ov := s.b.Overlay()
	gen0, _ := ov.pruned()
	if err := s.b.Reload(); err != nil {
		ds := config.Diagnostics(err)
		if len(ds) == 0 {
			// The backend logged it ("reload rejected").
			return nil, &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
				Message: "reload failed; the running configuration was kept", Errors: strings.Split(err.Error(), "\n")}
		}
		e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig,
			Message: fmt.Sprintf("reload rejected: %s is invalid (%s); the running configuration was kept", s.b.ConfigPath(), plural(len(ds), "error"))}
		for _, d := range ds {
			e.Errors = append(e.Errors, d.Error())
		}
		return nil, e
	}
	resp := &ReloadResponse{Reloaded: true, OverlayOps: ov.Len()}
	if gen1, dropped := ov.pruned(); gen1 != gen0 {
		resp.Dropped = dropped
	}
	return resp, nil
}

// StateShowResponse is the reply of StateShow: the overlay (R5).
type StateShowResponse struct {
	Path  string `json:"Path,omitempty"`
	Ops   []Op   `json:"Ops"`
	Count int    `json:"Count"`
}

func (s *Server) stateShow() (any, error) {
	ov := s.b.Overlay()
	ops := ov.Ops()
	if ops == nil {
		ops = []Op{}
	}
	return &StateShowResponse{Path: ov.Path(), Ops: ops, Count: len(ops)}, nil
}

// StateResetResponse is the reply of StateReset.
type StateResetResponse struct {
	Reset      bool `json:"Reset"`
	DroppedOps int  `json:"DroppedOps"`
}

func (s *Server) stateReset() (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.b.Overlay().Len()
	if err := s.b.ResetOverlay(); err != nil {
		e := newError(http.StatusInternalServerError, CodeInternal, "state reset failed: %v", err)
		for _, d := range config.Diagnostics(err) {
			e.Errors = append(e.Errors, d.Error())
		}
		return nil, e
	}
	s.log.Info("api overlay reset", zap.Int("dropped_ops", n))
	return &StateResetResponse{Reset: true, DroppedOps: n}, nil
}
