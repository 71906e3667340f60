package hostnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live, as with `ip netns`: each is
// an nsfs bind mount at NetnsDir/NAME.
const NetnsDir = "/run/netns"

// ErrGoexit is returned by InNetns when fn ended its goroutine with
// runtime.Goexit (for example t.FailNow) instead of returning.
var ErrGoexit = errors.New("hostnet: function passed to InNetns called runtime.Goexit")

// validNetnsName reports why name cannot name a namespace file in NetnsDir.
func validNetnsName(name string) error {
	switch {
	case name == "":
		return errors.New("empty namespace name")
	case name == "." || name == "..":
		return fmt.Errorf("invalid namespace name %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("invalid namespace name %q: contains '/' or NUL", name)
	case len(name) > 255:
		return fmt.Errorf("invalid namespace name %q: longer than 255 bytes", name)
	}
	return nil
}

func netnsPath(name string) string { return filepath.Join(NetnsDir, name) }

// isNsfs reports whether path is a mounted network-namespace file (nsfs).
func isNsfs(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// NetnsExists reports whether the named namespace exists, i.e. NetnsDir/name is
// a mounted nsfs file (a bare file left by an interrupted `ip netns add` is not a
// namespace).
func NetnsExists(name string) bool {
	if validNetnsName(name) != nil {
		return false
	}
	return isNsfs(netnsPath(name))
}

// prepareNetnsDir creates NetnsDir and makes it a shared mount point, the way
// iproute2 does, so that namespace mounts propagate to other mount namespaces.
func prepareNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	madeMount := false
	for {
		err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || madeMount {
			return fmt.Errorf("make %s a shared mount: %w", NetnsDir, err)
		}
		// Not a mount point yet: bind it onto itself, then retry.
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s onto itself: %w", NetnsDir, err)
		}
		madeMount = true
	}
}

// EnsureNetns creates the named namespace if it does not exist (like
// `ip netns add`) and reports whether it did. The namespace is created on a
// dedicated OS thread that is discarded afterwards, so the caller's namespace is
// never touched. Its loopback interface is brought up, as on a fresh instance.
// A file at the namespace's path that is not a mounted namespace is an error.
func EnsureNetns(name string) (created bool, err error) {
	if err := validNetnsName(name); err != nil {
		return false, err
	}
	path := netnsPath(name)
	if isNsfs(path) {
		return false, nil
	}
	if err := prepareNetnsDir(); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			if isNsfs(path) { // created concurrently
				return false, nil
			}
			return false, fmt.Errorf("%s exists but is not a network namespace", path)
		}
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it leaves the caller's namespace for
		// good, and the runtime terminates it when this goroutine exits.
		runtime.LockOSThread()
		errc <- unshareAndMount(path)
	}()
	if err := <-errc; err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return false, fmt.Errorf("create namespace %q: %w", name, err)
	}
	return true, nil
}

// unshareAndMount runs on a locked, disposable thread: it moves the thread into
// a new network namespace, pins it at path and brings up its loopback.
func unshareAndMount(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", path, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// DeleteNetns deletes the named namespace like `ip netns del`: it unmounts and
// removes NetnsDir/name. The namespace itself disappears (with every interface
// in it) once no process, thread or descriptor holds it any more. A missing
// namespace is an error wrapping fs.ErrNotExist.
func DeleteNetns(name string) error {
	if err := validNetnsName(name); err != nil {
		return err
	}
	path := netnsPath(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return fmt.Errorf("delete namespace %q: %w", name, fs.ErrNotExist)
		case errors.Is(err, unix.EINVAL):
			// Not mounted: a stale file from an interrupted creation. Remove it.
		default:
			return fmt.Errorf("delete namespace %q: unmount: %w", name, err)
		}
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete namespace %q: %w", name, fs.ErrNotExist)
		}
		return fmt.Errorf("delete namespace %q: %w", name, err)
	}
	return nil
}

// openNetns opens the named namespace ("" = the calling thread's own).
func openNetns(name string) (int, error) {
	if name == "" {
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open own namespace: %w", err)
		}
		return fd, nil
	}
	if err := validNetnsName(name); err != nil {
		return -1, err
	}
	fd, err := unix.Open(netnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("namespace %q: %w", name, fs.ErrNotExist)
		}
		return -1, fmt.Errorf("open namespace %q: %w", name, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return -1, fmt.Errorf("namespace %q: %w (not a mounted namespace)", name, fs.ErrNotExist)
	}
	return fd, nil
}

// InNetns runs fn on a locked OS thread inside the named namespace ("" = the
// caller's current namespace) and returns fn's error. fn runs on a separate
// goroutine: sockets and devices it opens keep that namespace, but goroutines
// it starts do not inherit it. The thread is restored afterwards; if restoring
// fails it stays locked and is discarded when the goroutine exits, so no other
// goroutine ever runs in the wrong namespace. A panic in fn is re-raised in the
// caller.
func InNetns(name string, fn func() error) error {
	fd, err := openNetns(name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return inNetnsFd(fd, fn)
}

type inNetnsResult struct {
	err      error
	panicked bool
	pval     any
}

// inNetnsFd is InNetns for an open namespace descriptor.
func inNetnsFd(target int, fn func() error) error {
	ch := make(chan inNetnsResult, 1)
	go func() {
		runtime.LockOSThread()
		var (
			res      inNetnsResult
			orig     = -1
			entered  bool
			returned bool
		)
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					res.panicked, res.pval = true, r
				} else if res.err == nil {
					res.err = ErrGoexit
				}
			}
			unlock := true
			if entered {
				if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
					// Keep the thread locked: the runtime destroys it when
					// this goroutine exits.
					unlock = false
					res.err = errors.Join(res.err, fmt.Errorf("hostnet: restore namespace (thread discarded): %w", err))
				}
			}
			if orig >= 0 {
				unix.Close(orig)
			}
			if unlock {
				runtime.UnlockOSThread()
			}
			ch <- res
		}()
		var err error
		orig, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res.err = fmt.Errorf("hostnet: open own namespace: %w", err)
			returned = true
			return
		}
		same, err := sameFile(orig, target)
		if err != nil {
			res.err = err
			returned = true
			return
		}
		if !same {
			if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
				res.err = fmt.Errorf("hostnet: enter namespace: %w", err)
				returned = true
				return
			}
			entered = true
		}
		res.err = fn()
		returned = true
	}()
	res := <-ch
	if res.panicked {
		panic(res.pval)
	}
	return res.err
}

func sameFile(a, b int) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		return false, fmt.Errorf("hostnet: stat namespace: %w", err)
	}
	if err := unix.Fstat(b, &sb); err != nil {
		return false, fmt.Errorf("hostnet: stat namespace: %w", err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
