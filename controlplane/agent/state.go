package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files in the state directory.
const (
	namespacesFile = "namespaces.json" // namespaces a previous run created (Q7)
	flowsFile      = "flows.bin"       // tracked flows saved by --on-exit keep (Q7)
	flowMetaFile   = "flows.json"      // the policy generation the saved flows were verified under
)

// flowMeta accompanies saved flows.
type flowMeta struct {
	PolicyKey uint64 `json:"policy_key"`
	PolicyGen uint32 `json:"policy_gen"`
}

func (a *Agent) loadFlowMeta() (flowMeta, bool) {
	var m flowMeta
	if a.opts.StateDir == "" {
		return m, false
	}
	data, err := os.ReadFile(a.statePath(flowMetaFile))
	if err != nil {
		return m, false
	}
	_ = os.Remove(a.statePath(flowMetaFile))
	return m, json.Unmarshal(data, &m) == nil
}

// writeFileAtomic writes data to path through a temporary file that is
// fsynced and renamed, then fsyncs the directory (R5: atomic write + fsync).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (a *Agent) loadNamespaces() []string {
	data, err := os.ReadFile(a.statePath(namespacesFile))
	if err != nil {
		return nil
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return nil
	}
	return names
}

func (a *Agent) saveNamespaces(names []string) error {
	if a.opts.StateDir == "" {
		return nil
	}
	if len(names) == 0 {
		err := os.Remove(a.statePath(namespacesFile))
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	data, _ := json.Marshal(names)
	if err := writeFileAtomic(a.statePath(namespacesFile), data); err != nil {
		return fmt.Errorf("save namespaces: %v", err)
	}
	return nil
}

// saveFlows writes the conntrack table for the next start (Q7).
func (a *Agent) saveFlows() error {
	if a.opts.StateDir == "" || a.ct == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := a.ct.Save(&buf); err != nil {
		return err
	}
	s := a.eng.Snapshot()
	meta, _ := json.Marshal(flowMeta{PolicyKey: s.PolicyKey, PolicyGen: s.PolicyGen})
	if err := writeFileAtomic(a.statePath(flowMetaFile), meta); err != nil {
		return err
	}
	return writeFileAtomic(a.statePath(flowsFile), buf.Bytes())
}

// restoreFlows loads flows saved by a --on-exit keep stop, once.
func (a *Agent) restoreFlows() (int, error) {
	if a.opts.StateDir == "" {
		return 0, nil
	}
	data, err := os.ReadFile(a.statePath(flowsFile))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer os.Remove(a.statePath(flowsFile))
	return a.ct.Restore(bytes.NewReader(data), time.Now().UnixNano())
}

func (a *Agent) removeFlowFile() {
	if a.opts.StateDir != "" {
		_ = os.Remove(a.statePath(flowsFile))
		_ = os.Remove(a.statePath(flowMetaFile))
	}
}
