package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on hostile input (SPEC Q1).
const (
	// MaxFileSize is the largest configuration file accepted.
	MaxFileSize = 16 << 20
	// MaxNodes caps the YAML nodes visited while decoding, counting every
	// expansion of an alias, so that alias bombs cost bounded time.
	MaxNodes = 1 << 21
	// MaxDepth caps the nesting of the YAML document. The schema itself
	// needs fewer than 12 levels.
	MaxDepth = 64
	// maxMergeDepth caps nested YAML merge keys ("<<").
	maxMergeDepth = 8
)

// nodeBudget is MaxNodes; tests lower it to exercise the cap quickly.
var nodeBudget = MaxNodes

// Load reads and parses the file at path (see Parse).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// LoadAndValidate loads path, applies defaults and validates. It returns
// the Config (nil only when the YAML could not be walked at all), the
// warnings (V20, C4), and every error of Parse and Validate together,
// sorted by position and joined.
func LoadAndValidate(path string) (*Config, []*Diag, error) {
	c, err := Load(path)
	return finishValidate(c, err)
}

// ParseAndValidate is LoadAndValidate for data already in memory.
func ParseAndValidate(file string, data []byte) (*Config, []*Diag, error) {
	c, err := Parse(file, data)
	return finishValidate(c, err)
}

func finishValidate(c *Config, perr error) (*Config, []*Diag, error) {
	if c == nil {
		return nil, nil, perr
	}
	if perr != nil && len(Diagnostics(perr)) == 0 {
		return c, nil, perr
	}
	warns, verr := Validate(c)
	ds := append(Diagnostics(perr), Diagnostics(verr)...)
	return c, warns, joinDiags(ds)
}

// Parse decodes one YAML document strictly (SPEC §2, V0): unknown keys,
// wrong value types, malformed addresses, CIDRs, durations and enums are
// errors with the position of the offending key or value; every error is
// collected. Parse then applies defaults (ApplyDefaults).
//
// The returned error joins *Diag values (see Diagnostics). The Config is
// non-nil whenever the document could be walked, even with errors, so that
// Validate can report the remaining problems at once; it is nil for a YAML
// syntax error, a file over MaxFileSize, nesting over MaxDepth or more than
// MaxNodes nodes.
func Parse(file string, data []byte) (*Config, error) {
	d := &decoder{file: file, errPos: map[Pos]bool{}}
	if len(data) > MaxFileSize {
		return nil, &Diag{File: file, Line: 1, Col: 1, ID: "file", Rule: "V0",
			Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&root)
	switch {
	case errors.Is(err, io.EOF):
		root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	case err != nil:
		return nil, d.syntaxErr(err)
	default:
		var extra yaml.Node
		if err2 := dec.Decode(&extra); err2 == nil {
			return nil, &Diag{File: file, Line: extra.Line, Col: extra.Column, ID: "file", Rule: "V0",
				Msg: "more than one YAML document; a configuration is exactly one document"}
		} else if !errors.Is(err2, io.EOF) {
			return nil, d.syntaxErr(err2)
		}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			doc = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
		} else {
			doc = doc.Content[0]
		}
	}
	if depth := nodeDepth(doc); depth > MaxDepth {
		return nil, &Diag{File: file, Line: 1, Col: 1, ID: "file", Rule: "V0",
			Msg: fmt.Sprintf("YAML nested deeper than %d levels", MaxDepth)}
	}
	c := &Config{File: file}
	d.config(doc, c)
	if d.fatal != nil {
		return nil, d.fatal
	}
	c.parseErrs = d.errPos
	ApplyDefaults(c)
	return c, joinDiags(d.diags)
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func (d *decoder) syntaxErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil {
			line = n
			// yaml.v3 reports parser (not scanner) errors with the 0-based
			// line of the enclosing construct.
			rest := msg[strings.Index(msg, m[0])+len(m[0]):]
			rest = strings.TrimPrefix(rest, ": ")
			for _, p := range []string{"did not find expected", "found duplicate", "found incompatible", "found undefined tag"} {
				if strings.HasPrefix(rest, p) {
					line++
					break
				}
			}
		}
	}
	return &Diag{File: d.file, Line: line, Col: 1, ID: "yaml", Rule: "V0", Msg: "syntax: " + msg}
}

// nodeDepth is the nesting depth of n, computed iteratively and without
// following aliases (they cannot add depth to the tree as written).
func nodeDepth(n *yaml.Node) int {
	type item struct {
		n *yaml.Node
		d int
	}
	max := 0
	stack := []item{{n, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.d > max {
			max = it.d
			if max > MaxDepth {
				return max
			}
		}
		for _, ch := range it.n.Content {
			stack = append(stack, item{ch, it.d + 1})
		}
	}
	return max
}

// ---------------------------------------------------------------------------
// decoder

type decoder struct {
	file   string
	diags  []*Diag
	nodes  int
	fatal  error
	errPos map[Pos]bool
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (d *decoder) errAt(p Pos, id, rule, format string, args ...any) {
	d.errPos[p] = true
	d.diags = append(d.diags, &Diag{File: d.file, Line: p.Line, Col: p.Col, ID: id, Rule: rule,
		Msg: fmt.Sprintf(format, args...)})
}

// visit counts a node and resolves aliases. It returns nil once the node
// budget is exhausted.
func (d *decoder) visit(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 16 {
			return nil
		}
		n = n.Alias
	}
	if n == nil || d.fatal != nil {
		return nil
	}
	d.nodes++
	if d.nodes > nodeBudget {
		d.fatal = &Diag{File: d.file, Line: n.Line, Col: n.Column, ID: "file", Rule: "V0",
			Msg: fmt.Sprintf("document expands to more than %d nodes (alias bomb?)", nodeBudget)}
		return nil
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a scalar " + n.ShortTag()
	}
	return "an unexpected node"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// obj reads one YAML mapping into a resource.
type obj struct {
	d      *decoder
	id     string
	pos    Pos
	keys   []entry        // the mapping's keys, explicit ones first
	kpos   map[string]Pos // the resource's KeyPos
	prefix string         // key prefix in kpos for nested objects
}

type entry struct {
	name string
	node *yaml.Node
	pos  Pos // value position as written
}

func (o *obj) find(key string) *entry {
	for i := range o.keys {
		if o.keys[i].name == key {
			return &o.keys[i]
		}
	}
	return nil
}

// val is the value node of key as written (nil when absent).
func (o *obj) val(key string) *yaml.Node {
	if e := o.find(key); e != nil {
		return e.node
	}
	return nil
}

// vpos is the position of key's value (the mapping's when absent).
func (o *obj) vpos(key string) Pos {
	if e := o.find(key); e != nil {
		return e.pos
	}
	return o.pos
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// object checks that n is a mapping with only allowed keys (handling YAML
// merge keys) and returns a reader; nil when n is not a mapping.
func (d *decoder) object(n *yaml.Node, written Pos, ctx string, kpos map[string]Pos, prefix string, allowed ...string) *obj {
	n = d.visit(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if !isNull(n) {
			d.errAt(written, ctx, "V0", "expected a mapping, got %s", kindName(n))
		}
		return nil
	}
	o := &obj{d: d, id: ctx, pos: posOf(n), kpos: kpos, prefix: prefix}
	allow := allowed
	// id first, so that every later message names the resource.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" && n.Content[i].Kind == yaml.ScalarNode && contains(allow, "id") {
			if v := d.visit(n.Content[i+1]); v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value != "" {
				o.id = v.Value
			}
		}
	}
	o.collect(n, allow, 0, true)
	return o
}

// collect records the keys of mapping n. Explicit keys are taken first and
// win over keys brought in by merge keys ("<<"), as YAML specifies; a key
// written twice in the same mapping is an error.
func (o *obj) collect(n *yaml.Node, allow []string, depth int, own bool) {
	d := o.d
	var merges []*yaml.Node
	var local []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		if d.fatal != nil {
			return
		}
		k, v := n.Content[i], n.Content[i+1]
		d.nodes++
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			if own {
				d.errAt(posOf(k), o.id, "V0", "mapping key must be a string, got %s", kindName(k))
			}
			continue
		}
		name := k.Value
		if !contains(allow, name) {
			if own {
				d.errAt(posOf(k), o.id, "V0", "unknown key %q (allowed: %s)", name, strings.Join(sortedKeys(allow), ", "))
			} else {
				d.errAt(posOf(k), o.id, "V0", "unknown key %q merged in (allowed: %s)", name, strings.Join(sortedKeys(allow), ", "))
			}
			continue
		}
		dup := false
		for _, l := range local {
			if l.name == name {
				d.errAt(posOf(k), o.id, "V0", "key %q given twice (first at line %d)", name, l.pos.Line)
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		local = append(local, entry{name, nil, posOf(k)})
		if o.find(name) != nil {
			continue // an explicit key (or an earlier merge) wins
		}
		o.keys = append(o.keys, entry{name, v, posOf(v)})
		if o.kpos != nil {
			o.kpos[o.prefix+name] = posOf(v)
		}
	}
	for _, m := range merges {
		o.merge(m, allow, depth+1)
	}
}

func (o *obj) merge(v *yaml.Node, allow []string, depth int) {
	d := o.d
	if depth > maxMergeDepth {
		d.errAt(posOf(v), o.id, "V0", "merge keys nested deeper than %d", maxMergeDepth)
		return
	}
	src := d.visit(v)
	if src == nil {
		return
	}
	switch src.Kind {
	case yaml.MappingNode:
		o.collect(src, allow, depth, false)
	case yaml.SequenceNode:
		for _, e := range src.Content {
			if m := d.visit(e); m != nil && m.Kind == yaml.MappingNode {
				o.collect(m, allow, depth, false)
			} else if m != nil {
				d.errAt(posOf(e), o.id, "V0", "merge value must be a mapping, got %s", kindName(m))
			}
		}
	default:
		d.errAt(posOf(v), o.id, "V0", "merge value must be a mapping, got %s", kindName(src))
	}
}

func sortedKeys(m []string) []string {
	out := append([]string(nil), m...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// scalar returns the resolved scalar value node of key, or nil when the key
// is absent or null; wrong kinds are reported.
func (o *obj) scalar(key string) *yaml.Node {
	if o == nil {
		return nil
	}
	raw := o.val(key)
	if raw == nil {
		return nil
	}
	n := o.d.visit(raw)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		o.bad(key, "V0", "%s: expected a scalar, got %s", key, kindName(n))
		return nil
	}
	return n
}

func (o *obj) bad(key, rule, format string, args ...any) {
	o.d.errAt(o.vpos(key), o.id, rule, format, args...)
}

func (o *obj) has(key string) bool { return o != nil && o.val(key) != nil }

func (o *obj) str(key string, dst *string) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad(key, "V0", "%s: expected a string, got %s (quote it)", key, kindName(n))
		return
	}
	*dst = n.Value
}

func (o *obj) integer(key string, dst *int) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!int" {
		o.bad(key, "V0", "%s: expected an integer, got %s", key, kindName(n))
		return
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < -1<<31 || v > 1<<31-1 {
		o.bad(key, "V0", "%s: integer %s out of range", key, n.Value)
		return
	}
	*dst = int(v)
}

func (o *obj) boolean(key string, dst *bool) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	var v bool
	if n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		o.bad(key, "V0", "%s: expected true or false, got %s", key, kindName(n))
		return
	}
	*dst = v
}

func (o *obj) boolPtr(key string, dst **bool) {
	if o.scalar(key) == nil {
		return
	}
	var v bool
	before := len(o.d.diags)
	o.boolean(key, &v)
	if len(o.d.diags) == before {
		*dst = &v
	}
}

func (o *obj) duration(key string, dst *time.Duration) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad(key, "V0", "%s: expected a duration in Go syntax such as 200ms or 3s, got %s", key, kindName(n))
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		o.bad(key, "V0", "%s: %q is not a duration in Go syntax (e.g. 200ms, 3s)", key, n.Value)
		return
	}
	*dst = v
}

func parseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, "not an IPv4 address"
	}
	if !a.Is4() {
		return netip.Addr{}, "IPv6 is not supported yet (F13)"
	}
	return a, ""
}

func parsePrefix(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, "not a CIDR (ADDRESS/LENGTH)"
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, "IPv6 is not supported yet (F13)"
	}
	return p, ""
}

func (o *obj) addr(key string, dst *netip.Addr) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad(key, "V0", "%s: expected an IPv4 address, got %s", key, kindName(n))
		return
	}
	a, why := parseAddr(n.Value)
	if why != "" {
		o.bad(key, "V0", "%s: %q: %s", key, n.Value, why)
		return
	}
	*dst = a
}

func (o *obj) prefixVal(key string, dst *netip.Prefix) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad(key, "V0", "%s: expected a CIDR, got %s", key, kindName(n))
		return
	}
	p, why := parsePrefix(n.Value)
	if why != "" {
		o.bad(key, "V0", "%s: %q: %s", key, n.Value, why)
		return
	}
	*dst = p
}

func enumVal[T ~string](o *obj, key, rule string, dst *T, allowed ...T) {
	n := o.scalar(key)
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad(key, "V0", "%s: expected a string, got %s", key, kindName(n))
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == n.Value {
			*dst = a
			return
		}
		names[i] = string(a)
	}
	o.bad(key, rule, "%s: %q is not one of %s", key, n.Value, strings.Join(names, ", "))
}

// seq returns the resolved elements of a list (with their written
// positions), or nil when absent or null.
func (o *obj) seq(key string) ([]*yaml.Node, []Pos) {
	if o == nil {
		return nil, nil
	}
	raw := o.val(key)
	if raw == nil {
		return nil, nil
	}
	n := o.d.visit(raw)
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		o.bad(key, "V0", "%s: expected a list, got %s", key, kindName(n))
		return nil, nil
	}
	pos := make([]Pos, len(n.Content))
	for i, e := range n.Content {
		pos[i] = posOf(e)
	}
	return n.Content, pos
}

func (o *obj) strList(key string, dst *[]string) {
	elems, pos := o.seq(key)
	if elems == nil {
		if o.has(key) && o.d.fatal == nil {
			if n := o.d.visit(o.val(key)); n != nil && n.Kind == yaml.SequenceNode {
				*dst = []string{} // explicitly empty list
			}
		}
		return
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		n := o.d.visit(e)
		if n == nil {
			return
		}
		k := fmt.Sprintf("%s[%d]", key, i)
		o.kpos[o.prefix+k] = pos[i]
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			o.d.errAt(pos[i], o.id, "V0", "%s: expected a string, got %s", k, kindName(n))
			continue
		}
		out = append(out, n.Value)
	}
	*dst = out
}

func (o *obj) addrList(key string, dst *[]netip.Addr) {
	elems, pos := o.seq(key)
	out := make([]netip.Addr, 0, len(elems))
	for i, e := range elems {
		n := o.d.visit(e)
		if n == nil {
			return
		}
		k := fmt.Sprintf("%s[%d]", key, i)
		o.kpos[o.prefix+k] = pos[i]
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			o.d.errAt(pos[i], o.id, "V0", "%s: expected an IPv4 address, got %s", k, kindName(n))
			continue
		}
		a, why := parseAddr(n.Value)
		if why != "" {
			o.d.errAt(pos[i], o.id, "V0", "%s: %q: %s", k, n.Value, why)
			continue
		}
		out = append(out, a)
	}
	if len(elems) > 0 {
		*dst = out
	}
}

// sub reads a nested mapping whose keys go into the parent's KeyPos under
// "key.".
func (o *obj) sub(key string, allowed ...string) *obj {
	if o == nil || !o.has(key) {
		return nil
	}
	s := o.d.object(o.val(key), o.vpos(key), o.id, o.kpos, o.prefix+key+".", allowed...)
	if s != nil {
		s.id = o.id
	}
	return s
}

// ---------------------------------------------------------------------------
// schema

func (d *decoder) config(n *yaml.Node, c *Config) {
	c.KeyPos = map[string]Pos{}
	o := d.object(n, Pos{1, 1}, "config", c.KeyPos, "",
		"version", "region", "quotas", "vpcs", "instances", "multicast", "router_interfaces",
		"vbrs", "vpn_gateways", "cens", "classic", "internet", "eips", "nat_gateways", "conntrack")
	if o == nil {
		if d.fatal == nil && !isNull(n) {
			return
		}
		return
	}
	c.Pos = o.pos
	o.id = "version"
	o.integer("version", &c.Version)
	o.id = "region"
	o.str("region", &c.Region)
	o.id = "config"

	if o.has("quotas") {
		c.Quotas.KeyPos = map[string]Pos{}
		q := d.object(o.val("quotas"), o.vpos("quotas"), "quotas", c.Quotas.KeyPos, "",
			"vpcs_per_region", "vswitches_per_vpc", "route_tables_per_vpc", "custom_routes_per_table",
			"rules_per_group", "groups_per_eni", "classic_links_per_vpc", "mcast_groups_per_server",
			"mcast_members_per_group", "mcast_groups_per_member", "lb_next_hops_max")
		if q != nil {
			c.Quotas.Pos = q.pos
			q.integer("vpcs_per_region", &c.Quotas.VPCsPerRegion)
			q.integer("vswitches_per_vpc", &c.Quotas.VSwitchesPerVPC)
			q.integer("route_tables_per_vpc", &c.Quotas.RouteTablesPerVPC)
			q.integer("custom_routes_per_table", &c.Quotas.CustomRoutesPerTable)
			q.integer("rules_per_group", &c.Quotas.RulesPerGroup)
			q.integer("groups_per_eni", &c.Quotas.GroupsPerENI)
			q.integer("classic_links_per_vpc", &c.Quotas.ClassicLinksPerVPC)
			q.integer("mcast_groups_per_server", &c.Quotas.McastGroupsPerServer)
			q.integer("mcast_members_per_group", &c.Quotas.McastMembersPerGroup)
			q.integer("mcast_groups_per_member", &c.Quotas.McastGroupsPerMember)
			q.integer("lb_next_hops_max", &c.Quotas.LBNextHopsMax)
		}
	}
	if o.has("conntrack") {
		ct := &c.Conntrack
		ct.KeyPos = map[string]Pos{}
		q := d.object(o.val("conntrack"), o.vpos("conntrack"), "conntrack", ct.KeyPos, "",
			"max_entries", "tcp_established_timeout", "tcp_handshake_timeout", "tcp_closing_timeout",
			"udp_timeout", "udp_stream_timeout", "icmp_timeout")
		if q != nil {
			ct.Pos = q.pos
			q.integer("max_entries", &ct.MaxEntries)
			q.duration("tcp_established_timeout", &ct.TCPEstablishedTimeout)
			q.duration("tcp_handshake_timeout", &ct.TCPHandshakeTimeout)
			q.duration("tcp_closing_timeout", &ct.TCPClosingTimeout)
			q.duration("udp_timeout", &ct.UDPTimeout)
			q.duration("udp_stream_timeout", &ct.UDPStreamTimeout)
			q.duration("icmp_timeout", &ct.ICMPTimeout)
		}
	}
	forEach(o, "vpcs", func(i int, e *yaml.Node, p Pos) {
		if v := d.vpc(e, p, fmt.Sprintf("vpcs[%d]", i)); v != nil {
			c.VPCs = append(c.VPCs, v)
		}
	})
	forEach(o, "instances", func(i int, e *yaml.Node, p Pos) {
		if v := d.instance(e, p, fmt.Sprintf("instances[%d]", i)); v != nil {
			c.Instances = append(c.Instances, v)
		}
	})
	forEach(o, "multicast", func(i int, e *yaml.Node, p Pos) {
		g := &McastGroup{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("multicast[%d]", i), g.KeyPos, "", "vpc", "group", "server", "members", "igmp")
		if m == nil {
			return
		}
		g.Pos = m.pos
		m.str("vpc", &g.VPC)
		m.addr("group", &g.Group)
		if g.Group.IsValid() {
			m.id = g.Group.String()
		}
		m.str("server", &g.Server)
		m.addrList("members", &g.Members)
		m.boolean("igmp", &g.IGMP)
		c.Multicast = append(c.Multicast, g)
	})
	forEach(o, "router_interfaces", func(i int, e *yaml.Node, p Pos) {
		r := &RouterInterface{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("router_interfaces[%d]", i), r.KeyPos, "", "id", "name", "description", "vpc", "vbr", "peer")
		if m == nil {
			return
		}
		r.Pos = m.pos
		m.str("id", &r.ID)
		m.str("name", &r.Name)
		m.str("description", &r.Description)
		m.str("vpc", &r.VPC)
		m.str("vbr", &r.VBR)
		m.str("peer", &r.Peer)
		c.RouterInterfaces = append(c.RouterInterfaces, r)
	})
	forEach(o, "vbrs", func(i int, e *yaml.Node, p Pos) {
		b := &VBR{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("vbrs[%d]", i), b.KeyPos, "", "id", "name", "description", "port", "routes")
		if m == nil {
			return
		}
		b.Pos = m.pos
		m.str("id", &b.ID)
		m.str("name", &b.Name)
		m.str("description", &b.Description)
		m.port(&b.Port)
		b.Routes = d.routes(m)
		c.VBRs = append(c.VBRs, b)
	})
	forEach(o, "vpn_gateways", func(i int, e *yaml.Node, p Pos) {
		g := &VPNGateway{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("vpn_gateways[%d]", i), g.KeyPos, "", "id", "name", "description", "vpc", "port")
		if m == nil {
			return
		}
		g.Pos = m.pos
		m.str("id", &g.ID)
		m.str("name", &g.Name)
		m.str("description", &g.Description)
		m.str("vpc", &g.VPC)
		m.port(&g.Port)
		c.VPNGateways = append(c.VPNGateways, g)
	})
	forEach(o, "cens", func(i int, e *yaml.Node, p Pos) {
		n := &CEN{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("cens[%d]", i), n.KeyPos, "", "id", "name", "description", "attachments")
		if m == nil {
			return
		}
		n.Pos = m.pos
		m.str("id", &n.ID)
		m.str("name", &n.Name)
		m.str("description", &n.Description)
		m.strList("attachments", &n.Attachments)
		c.CENs = append(c.CENs, n)
	})
	if o.has("classic") {
		cl := &Classic{KeyPos: map[string]Pos{}}
		m := d.object(o.val("classic"), o.vpos("classic"), "classic", cl.KeyPos, "", "security_groups", "instances")
		if m != nil {
			cl.Pos = m.pos
			forEach(m, "security_groups", func(i int, e *yaml.Node, p Pos) {
				if g := d.classicGroup(e, p, fmt.Sprintf("classic.security_groups[%d]", i)); g != nil {
					cl.SecurityGroups = append(cl.SecurityGroups, g)
				}
			})
			forEach(m, "instances", func(i int, e *yaml.Node, p Pos) {
				ci := &ClassicInstance{KeyPos: map[string]Pos{}}
				q := d.object(e, p, fmt.Sprintf("classic.instances[%d]", i), ci.KeyPos, "",
					"id", "name", "description", "ip", "netns", "ifname", "mtu", "security_groups", "link")
				if q == nil {
					return
				}
				ci.Pos = q.pos
				q.str("id", &ci.ID)
				q.str("name", &ci.Name)
				q.str("description", &ci.Description)
				q.addr("ip", &ci.IP)
				q.str("netns", &ci.Netns)
				q.str("ifname", &ci.IfName)
				q.integer("mtu", &ci.MTU)
				q.strList("security_groups", &ci.SecurityGroups)
				q.str("link", &ci.Link)
				cl.Instances = append(cl.Instances, ci)
			})
			c.Classic = cl
		}
	}
	if o.has("internet") {
		in := &Internet{KeyPos: map[string]Pos{}}
		m := d.object(o.val("internet"), o.vpos("internet"), "internet", in.KeyPos, "", "port")
		if m != nil {
			in.Pos = m.pos
			m.port(&in.Port)
			c.Internet = in
		}
	}
	forEach(o, "eips", func(i int, e *yaml.Node, p Pos) {
		x := &EIP{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("eips[%d]", i), x.KeyPos, "", "id", "name", "description", "ip", "instance")
		if m == nil {
			return
		}
		x.Pos = m.pos
		m.str("id", &x.ID)
		m.str("name", &x.Name)
		m.str("description", &x.Description)
		m.addr("ip", &x.IP)
		m.str("instance", &x.Instance)
		c.EIPs = append(c.EIPs, x)
	})
	forEach(o, "nat_gateways", func(i int, e *yaml.Node, p Pos) {
		g := &NATGateway{KeyPos: map[string]Pos{}}
		m := d.object(e, p, fmt.Sprintf("nat_gateways[%d]", i), g.KeyPos, "", "id", "name", "description", "vpc", "snat", "dnat")
		if m == nil {
			return
		}
		g.Pos = m.pos
		m.str("id", &g.ID)
		m.str("name", &g.Name)
		m.str("description", &g.Description)
		m.str("vpc", &g.VPC)
		forEach(m, "snat", func(_ int, e *yaml.Node, p Pos) {
			s := &SNATEntry{KeyPos: map[string]Pos{}}
			q := d.object(e, p, m.id, s.KeyPos, "", "source", "eip")
			if q == nil {
				return
			}
			s.Pos = q.pos
			q.str("source", &s.Source)
			q.str("eip", &s.EIP)
			if strings.HasPrefix(s.Source, "vsw-") {
				s.SourceVSwitch = s.Source
			} else if s.Source != "" {
				pf, why := parsePrefix(s.Source)
				if why != "" {
					q.bad("source", "C6", "source: %q is neither a vsw- id nor a CIDR", s.Source)
				} else {
					s.SourceCIDR = pf
				}
			}
			g.SNAT = append(g.SNAT, s)
		})
		forEach(m, "dnat", func(_ int, e *yaml.Node, p Pos) {
			t := &DNATEntry{KeyPos: map[string]Pos{}}
			q := d.object(e, p, m.id, t.KeyPos, "", "eip", "protocol", "external_port", "internal_ip", "internal_port")
			if q == nil {
				return
			}
			t.Pos = q.pos
			q.str("eip", &t.EIP)
			enumVal(q, "protocol", "C6", &t.Protocol, ProtoTCP, ProtoUDP, ProtoAll)
			q.integer("external_port", &t.ExternalPort)
			q.addr("internal_ip", &t.InternalIP)
			q.integer("internal_port", &t.InternalPort)
			g.DNAT = append(g.DNAT, t)
		})
		c.NATGateways = append(c.NATGateways, g)
	})
}

func forEach(o *obj, key string, f func(i int, e *yaml.Node, p Pos)) {
	elems, pos := o.seq(key)
	for i, e := range elems {
		if o.d.fatal != nil {
			return
		}
		f(i, e, pos[i])
	}
}

func (o *obj) port(dst *ExternalPort) {
	p := o.sub("port", "netns", "ifname", "ip", "peer_ip")
	if p == nil {
		return
	}
	p.str("netns", &dst.Netns)
	p.str("ifname", &dst.IfName)
	p.addr("ip", &dst.IP)
	p.addr("peer_ip", &dst.PeerIP)
}

func (d *decoder) vpc(n *yaml.Node, p Pos, ctx string) *VPC {
	v := &VPC{KeyPos: map[string]Pos{}}
	o := d.object(n, p, ctx, v.KeyPos, "", "id", "name", "description", "cidr", "classic_link", "vrouter",
		"vswitches", "route_tables", "security_groups")
	if o == nil {
		return nil
	}
	v.Pos = o.pos
	o.str("id", &v.ID)
	o.str("name", &v.Name)
	o.str("description", &v.Description)
	o.prefixVal("cidr", &v.CIDR)
	o.boolean("classic_link", &v.ClassicLink)
	if o.has("vrouter") {
		v.VRouter.KeyPos = map[string]Pos{}
		r := d.object(o.val("vrouter"), o.vpos("vrouter"), o.id, v.VRouter.KeyPos, "", "id", "name", "description")
		if r != nil {
			v.VRouter.Pos = r.pos
			r.str("id", &v.VRouter.ID)
			r.str("name", &v.VRouter.Name)
			r.str("description", &v.VRouter.Description)
		}
	}
	forEach(o, "vswitches", func(i int, e *yaml.Node, p Pos) {
		s := &VSwitch{KeyPos: map[string]Pos{}, VPC: v.ID}
		q := d.object(e, p, fmt.Sprintf("%s.vswitches[%d]", o.id, i), s.KeyPos, "", "id", "name", "description", "zone", "cidr", "route_table")
		if q == nil {
			return
		}
		s.Pos = q.pos
		q.str("id", &s.ID)
		q.str("name", &s.Name)
		q.str("description", &s.Description)
		q.str("zone", &s.Zone)
		q.prefixVal("cidr", &s.CIDR)
		q.str("route_table", &s.RouteTable)
		v.VSwitches = append(v.VSwitches, s)
	})
	forEach(o, "route_tables", func(i int, e *yaml.Node, p Pos) {
		t := &RouteTable{KeyPos: map[string]Pos{}, VPC: v.ID}
		q := d.object(e, p, fmt.Sprintf("%s.route_tables[%d]", o.id, i), t.KeyPos, "", "id", "name", "description", "type", "routes")
		if q == nil {
			return
		}
		t.Pos = q.pos
		q.str("id", &t.ID)
		q.str("name", &t.Name)
		q.str("description", &t.Description)
		enumVal(q, "type", "V12", &t.Type, TableCustom, TableSystem)
		t.Routes = d.routes(q)
		v.RouteTables = append(v.RouteTables, t)
	})
	forEach(o, "security_groups", func(i int, e *yaml.Node, p Pos) {
		g := &SecurityGroup{KeyPos: map[string]Pos{}, VPC: v.ID}
		q := d.object(e, p, fmt.Sprintf("%s.security_groups[%d]", o.id, i), g.KeyPos, "", "id", "name", "description", "inner_access", "rules")
		if q == nil {
			return
		}
		g.Pos = q.pos
		q.str("id", &g.ID)
		q.str("name", &g.Name)
		q.str("description", &g.Description)
		enumVal(q, "inner_access", "V16", &g.InnerAccess, PolicyAccept, PolicyDrop)
		g.Rules = d.rules(q)
		v.SecurityGroups = append(v.SecurityGroups, g)
	})
	return v
}

func (d *decoder) routes(o *obj) []*RouteEntry {
	var out []*RouteEntry
	forEach(o, "routes", func(i int, e *yaml.Node, p Pos) {
		r := &RouteEntry{KeyPos: map[string]Pos{}, Type: EntryCustom}
		q := d.object(e, p, o.id, r.KeyPos, "", "dst", "next_hop", "next_hops", "name", "description", "health_check")
		if q == nil {
			return
		}
		r.Pos = q.pos
		q.prefixVal("dst", &r.Dst)
		q.str("next_hop", &r.NextHop)
		q.str("name", &r.Name)
		q.str("description", &r.Description)
		if q.has("next_hops") {
			elems, pos := q.seq("next_hops")
			r.NextHops = make([]NextHopRef, 0, len(elems))
			for j, e := range elems {
				var h NextHopRef
				hp := fmt.Sprintf("next_hops[%d].", j)
				r.KeyPos[fmt.Sprintf("next_hops[%d]", j)] = pos[j]
				w := d.object(e, pos[j], o.id, r.KeyPos, hp, "id", "weight")
				if w == nil {
					if d.fatal == nil {
						if n := d.visit(e); n != nil && isNull(n) {
							d.errAt(pos[j], o.id, "V0", "next_hops[%d]: expected a mapping {id, weight}, got null", j)
						}
					}
					continue
				}
				w.str("id", &h.ID)
				w.integer("weight", &h.Weight)
				r.NextHops = append(r.NextHops, h)
			}
		}
		if hc := q.sub("health_check", "interval", "timeout", "failures", "successes"); hc != nil {
			h := &HealthCheck{}
			hc.duration("interval", &h.Interval)
			hc.duration("timeout", &h.Timeout)
			hc.integer("failures", &h.Failures)
			hc.integer("successes", &h.Successes)
			r.HealthCheck = h
		}
		out = append(out, r)
	})
	return out
}

func (d *decoder) rules(o *obj) []*Rule {
	var out []*Rule
	forEach(o, "rules", func(i int, e *yaml.Node, p Pos) {
		r := &Rule{KeyPos: map[string]Pos{}}
		q := d.object(e, p, o.id, r.KeyPos, "", "direction", "policy", "priority", "protocol", "port_range",
			"source_cidr", "source_group", "dest_cidr", "dest_group", "description")
		if q == nil {
			return
		}
		r.Pos = q.pos
		enumVal(q, "direction", "V16", &r.Direction, DirIngress, DirEgress)
		enumVal(q, "policy", "V16", &r.Policy, PolicyAccept, PolicyDrop)
		q.integer("priority", &r.Priority)
		enumVal(q, "protocol", "V16", &r.Protocol, ProtoTCP, ProtoUDP, ProtoICMP, ProtoGRE, ProtoAll)
		q.portRange(&r.PortRange)
		for _, k := range []string{"source_cidr", "dest_cidr"} {
			if q.has(k) && !r.PeerCIDR.IsValid() {
				q.prefixVal(k, &r.PeerCIDR)
			}
		}
		for _, k := range []string{"source_group", "dest_group"} {
			if q.has(k) && r.PeerGroup == "" {
				q.str(k, &r.PeerGroup)
			}
		}
		q.str("description", &r.Description)
		out = append(out, r)
	})
	return out
}

func (o *obj) portRange(dst *PortRange) {
	n := o.scalar("port_range")
	if n == nil {
		return
	}
	if n.ShortTag() != "!!str" {
		o.bad("port_range", "V0", "port_range: expected a string A/B, got %s", kindName(n))
		return
	}
	pr, ok := ParsePortRange(n.Value)
	if !ok {
		o.bad("port_range", "V16", "port_range: %q is not A/B (e.g. 22/22, 1/65535, -1/-1)", n.Value)
		return
	}
	*dst = pr
}

// ParsePortRange parses "A/B" (V16); it checks the syntax only.
func ParsePortRange(s string) (PortRange, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return PortRange{}, false
	}
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || x < -1 || y < -1 || x > 65535 || y > 65535 {
		return PortRange{}, false
	}
	return PortRange{x, y}, true
}

func (d *decoder) instance(n *yaml.Node, p Pos, ctx string) *Instance {
	in := &Instance{KeyPos: map[string]Pos{}}
	o := d.object(n, p, ctx, in.KeyPos, "", "id", "name", "description", "vswitch", "zone", "ip", "secondary_ips",
		"security_groups", "netns", "ifname", "mtu", "source_dest_check", "enis")
	if o == nil {
		return nil
	}
	in.Pos = o.pos
	o.str("id", &in.ID)
	o.str("name", &in.Name)
	o.str("description", &in.Description)
	o.str("vswitch", &in.VSwitch)
	o.str("zone", &in.Zone)
	o.addr("ip", &in.IP)
	o.addrList("secondary_ips", &in.SecondaryIPs)
	o.strList("security_groups", &in.SecurityGroups)
	o.str("netns", &in.Netns)
	o.str("ifname", &in.IfName)
	o.integer("mtu", &in.MTU)
	o.boolPtr("source_dest_check", &in.SourceDestCheck)
	forEach(o, "enis", func(i int, e *yaml.Node, p Pos) {
		x := &ENI{KeyPos: map[string]Pos{}, InstanceID: in.ID}
		q := d.object(e, p, fmt.Sprintf("%s.enis[%d]", o.id, i), x.KeyPos, "", "id", "name", "description", "vswitch", "ip",
			"security_groups", "ifname", "source_dest_check", "netns")
		if q == nil {
			return
		}
		x.Pos = q.pos
		q.str("id", &x.ID)
		q.str("name", &x.Name)
		q.str("description", &x.Description)
		q.str("vswitch", &x.VSwitch)
		q.addr("ip", &x.IP)
		q.strList("security_groups", &x.SecurityGroups)
		q.str("ifname", &x.IfName)
		q.boolPtr("source_dest_check", &x.SourceDestCheckSet)
		q.str("netns", &x.Netns)
		in.ENIs = append(in.ENIs, x)
	})
	return in
}

func (d *decoder) classicGroup(n *yaml.Node, p Pos, ctx string) *ClassicSecurityGroup {
	g := &ClassicSecurityGroup{KeyPos: map[string]Pos{}}
	o := d.object(n, p, ctx, g.KeyPos, "", "id", "name", "description", "rules", "classic_link_rules")
	if o == nil {
		return nil
	}
	g.Pos = o.pos
	o.str("id", &g.ID)
	o.str("name", &g.Name)
	o.str("description", &g.Description)
	g.Rules = d.rules(o)
	forEach(o, "classic_link_rules", func(i int, e *yaml.Node, p Pos) {
		r := &ClassicLinkRule{KeyPos: map[string]Pos{}}
		q := d.object(e, p, o.id, r.KeyPos, "", "vpc_security_groups", "mode", "policy", "protocol", "port_range", "priority", "description")
		if q == nil {
			return
		}
		r.Pos = q.pos
		q.strList("vpc_security_groups", &r.VPCSecurityGroups)
		enumVal(q, "mode", "C5", &r.Mode, ModeBoth, ModeClassicToVPC, ModeVPCToClassic)
		enumVal(q, "policy", "C5", &r.Policy, PolicyAccept, PolicyDrop)
		enumVal(q, "protocol", "C5", &r.Protocol, ProtoTCP, ProtoUDP, ProtoICMP, ProtoGRE, ProtoAll)
		q.portRange(&r.PortRange)
		q.integer("priority", &r.Priority)
		q.str("description", &r.Description)
		g.ClassicLinkRules = append(g.ClassicLinkRules, r)
	})
	return g
}
