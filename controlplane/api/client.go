package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// maxReply bounds a reply the Client reads (a large flow dump).
const maxReply = 256 << 20

// Client calls the API over its unix socket (vrouterctl, tests). It is safe
// for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the API socket at path socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:      2,
		DisableKeepAlives: false,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// Socket returns the socket path the client talks to.
func (c *Client) Socket() string { return c.socket }

// Call runs action with params (any JSON-able value; nil means none; a
// json.RawMessage or []byte is sent as is) and decodes the reply into out
// (nil discards it; a *json.RawMessage receives the raw reply). An error
// reply of the API is returned as *Error with its status, code, message
// and errors; failing to reach the daemon is a plain error.
func (c *Client) Call(ctx context.Context, action string, params any, out any) error {
	var body []byte
	switch p := params.(type) {
	case nil:
		body = []byte("{}")
	case json.RawMessage:
		body = p
	case []byte:
		body = p
	default:
		var err error
		if body, err = json.Marshal(params); err != nil {
			return fmt.Errorf("%s: encoding parameters: %w", action, err)
		}
	}
	u := url.URL{Scheme: "http", Host: "vrouterd", Path: "/v1/" + action}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach vrouterd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return fmt.Errorf("%s: reading the reply: %w", action, err)
	}
	if len(data) > maxReply {
		return fmt.Errorf("%s: reply larger than %d bytes", action, maxReply)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{}
		if err := json.Unmarshal(data, e); err != nil || e.Code == "" {
			e = &Error{Code: resp.Status, Message: string(bytes.TrimSpace(data))}
		}
		e.Status = resp.StatusCode
		return e
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], bytes.TrimSpace(data)...)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decoding the reply: %w", action, err)
	}
	return nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }
