package hostnet

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

// Call is one Host method call recorded by Fake.
type Call struct {
	Op    string // "create", "update", "remove", "detach", "teardown", "adopt"
	Key   string // port key ("" for teardown and adopt)
	Netns string
	Err   error // what the call returned
}

// FakeLink is the state of a link in Fake's model of the kernel.
type FakeLink struct {
	Spec PortSpec // configuration last applied
	Held bool     // a held port has it open
}

// Fake is an in-memory Host for tests that need no root: it models namespaces
// and persistent links with the same rules as Linux (creation, re-attach after
// Detach, deletion of the namespaces it created, Q4 vanishing), records every
// call and can be told to fail. Its devices are tuntest.Devices (vnet header as
// the spec says). All methods are safe for concurrent use (one mutex).
type Fake struct {
	mu      sync.Mutex
	calls   []Call
	ns      map[string]struct{}     // namespaces that exist
	created map[string]struct{}     // namespaces Fake created or adopted
	links   map[[2]string]*FakeLink // {netns, ifname} -> link
	ports   map[*Port]struct{}
	fail    func(op string, spec PortSpec) error
}

var _ Host = (*Fake)(nil)

// NewFake returns an empty Fake: no namespaces, no links.
func NewFake() *Fake {
	return &Fake{
		ns:      map[string]struct{}{},
		created: map[string]struct{}{},
		links:   map[[2]string]*FakeLink{},
		ports:   map[*Port]struct{}{},
	}
}

// SetFailure installs fn, consulted before create, update, remove and detach
// change anything; a non-nil result is returned (wrapped) and nothing changes.
// nil removes the hook.
func (f *Fake) SetFailure(fn func(op string, spec PortSpec) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// AddNamespace makes a namespace exist that Fake did not create (the user's).
func (f *Fake) AddNamespace(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ns[name] = struct{}{}
}

// DeleteNamespace simulates `ip netns del` by someone else (SPEC Q4): the
// namespace and every link in it vanish.
func (f *Fake) DeleteNamespace(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ns, name)
	for k := range f.links {
		if k[0] == name {
			delete(f.links, k)
		}
	}
}

// DeleteLink simulates `ip link del` by someone else (SPEC Q4).
func (f *Fake) DeleteLink(netns, ifname string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.links, [2]string{netns, ifname})
}

// Namespaces lists the namespaces that exist, sorted.
func (f *Fake) Namespaces() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedKeys(f.ns)
}

// Link returns a copy of the link at netns/ifname.
func (f *Fake) Link(netns, ifname string) (FakeLink, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[[2]string{netns, ifname}]
	if !ok {
		return FakeLink{}, false
	}
	c := *l
	c.Spec = cloneSpec(c.Spec)
	return c, true
}

// Calls returns the calls recorded so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Held returns the keys of the ports Fake holds, sorted.
func (f *Fake) Held() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p := range f.ports {
		out = append(out, p.Spec.Key)
	}
	sort.Strings(out)
	return out
}

func (f *Fake) recordLocked(op, key, netns string, err error) error {
	f.calls = append(f.calls, Call{Op: op, Key: key, Netns: netns, Err: err})
	return err
}

func (f *Fake) failLocked(op string, spec *PortSpec) error {
	if f.fail == nil {
		return nil
	}
	if err := f.fail(op, *spec); err != nil {
		return stepError(spec, op, err)
	}
	return nil
}

// Create implements Host.
func (f *Fake) Create(spec PortSpec) (*Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.createLocked(cloneSpec(spec))
	return p, f.recordLocked("create", spec.Key, spec.Netns, err)
}

func (f *Fake) createLocked(spec PortSpec) (*Port, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("port %s: invalid spec: %w", spec.Key, err)
	}
	if err := f.failLocked("create", &spec); err != nil {
		return nil, err
	}
	k := [2]string{spec.Netns, spec.IfName}
	if l, ok := f.links[k]; ok && l.Held {
		return nil, stepError(&spec, "create", errors.New("interface already held by another port"))
	}
	p := &Port{}
	if spec.Netns != "" {
		if _, ok := f.ns[spec.Netns]; !ok {
			f.ns[spec.Netns] = struct{}{}
			f.created[spec.Netns] = struct{}{}
			p.CreatedNetns = true
		}
	}
	if _, ok := f.links[k]; ok {
		p.Reattached = true
	}
	f.links[k] = &FakeLink{Spec: spec, Held: true}
	p.Spec = spec
	dev := tuntest.New(spec.IfName, 0)
	dev.SetVnetHdr(spec.VnetHdr)
	p.Dev = dev
	f.ports[p] = struct{}{}
	return p, nil
}

// Update implements Host.
func (f *Fake) Update(p *Port, spec PortSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recordLocked("update", spec.Key, spec.Netns, f.updateLocked(p, cloneSpec(spec)))
}

func (f *Fake) updateLocked(p *Port, spec PortSpec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("port %s: invalid spec: %w", spec.Key, err)
	}
	if _, ok := f.ports[p]; !ok {
		return fmt.Errorf("port %s: update: port not held", spec.Key)
	}
	if spec.Netns != p.Spec.Netns {
		return stepError(&spec, "update", fmt.Errorf("namespace changes from %q: %w", p.Spec.Netns, ErrNeedsRecreate))
	}
	if spec.VnetHdr != p.Spec.VnetHdr {
		return stepError(&spec, "update", fmt.Errorf("vnet header changes: %w", ErrNeedsRecreate))
	}
	if err := f.failLocked("update", &spec); err != nil {
		return err
	}
	oldK := [2]string{p.Spec.Netns, p.Spec.IfName}
	newK := [2]string{spec.Netns, spec.IfName}
	l, ok := f.links[oldK]
	if !ok {
		return stepError(&spec, "find link", errLinkGone)
	}
	if oldK != newK {
		if _, taken := f.links[newK]; taken {
			return stepError(&spec, "rename "+p.Spec.IfName, errors.New("name in use"))
		}
		delete(f.links, oldK)
		f.links[newK] = l
	}
	l.Spec = spec
	p.Spec = spec
	return nil
}

// Remove implements Host.
func (f *Fake) Remove(p *Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recordLocked("remove", p.Spec.Key, p.Spec.Netns, f.removeLocked(p))
}

func (f *Fake) removeLocked(p *Port) error {
	if _, ok := f.ports[p]; !ok {
		return fmt.Errorf("port %s: remove: port not held", p.Spec.Key)
	}
	if err := f.failLocked("remove", &p.Spec); err != nil {
		return err
	}
	delete(f.ports, p)
	_ = p.Dev.Close()
	delete(f.links, [2]string{p.Spec.Netns, p.Spec.IfName}) // gone already is fine (Q4)
	ns := p.Spec.Netns
	if _, ok := f.created[ns]; ok && ns != "" {
		for o := range f.ports {
			if o.Spec.Netns == ns {
				return nil
			}
		}
		f.deleteNamespaceLocked(ns)
	}
	return nil
}

func (f *Fake) deleteNamespaceLocked(ns string) {
	delete(f.created, ns)
	delete(f.ns, ns)
	for k := range f.links {
		if k[0] == ns {
			delete(f.links, k)
		}
	}
}

// Detach implements Host.
func (f *Fake) Detach(p *Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recordLocked("detach", p.Spec.Key, p.Spec.Netns, f.detachLocked(p))
}

func (f *Fake) detachLocked(p *Port) error {
	if _, ok := f.ports[p]; !ok {
		return fmt.Errorf("port %s: detach: port not held", p.Spec.Key)
	}
	if err := f.failLocked("detach", &p.Spec); err != nil {
		return err
	}
	delete(f.ports, p)
	_ = p.Dev.Close()
	if l, ok := f.links[[2]string{p.Spec.Netns, p.Spec.IfName}]; ok {
		l.Held = false
	}
	return nil
}

// Teardown implements Host.
func (f *Fake) Teardown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	ports := make([]*Port, 0, len(f.ports))
	for p := range f.ports {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Spec.Key < ports[j].Spec.Key })
	for _, p := range ports {
		if err := f.recordLocked("remove", p.Spec.Key, p.Spec.Netns, f.removeLocked(p)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range sortedKeys(f.created) {
		f.deleteNamespaceLocked(ns)
	}
	return f.recordLocked("teardown", "", "", errors.Join(errs...))
}

// CreatedNamespaces implements Host.
func (f *Fake) CreatedNamespaces() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedKeys(f.created)
}

// AdoptNamespaces implements Host.
func (f *Fake) AdoptNamespaces(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if validNetnsName(n) == nil {
			f.created[n] = struct{}{}
		}
	}
	f.recordLocked("adopt", "", "", nil)
}

// LinkGone implements Host.
func (f *Fake) LinkGone(p *Port) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Spec.Netns != "" {
		if _, ok := f.ns[p.Spec.Netns]; !ok {
			return true
		}
	}
	_, ok := f.links[[2]string{p.Spec.Netns, p.Spec.IfName}]
	return !ok
}

// FakeDevice returns the in-memory device behind a Fake port, for tests that
// inject or collect packets.
func FakeDevice(p *Port) (*tuntest.Device, bool) {
	d, ok := p.Dev.(*tuntest.Device)
	return d, ok
}
