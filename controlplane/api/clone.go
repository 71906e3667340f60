package api

import (
	"reflect"
	"sync"

	"github.com/vrouter/vrouter/controlplane/config"
)

// CloneConfig returns a deep copy of c on which an operation may be applied
// without disturbing readers of c (the running configuration is shared with
// the agent, the compiler and concurrent Describe calls). ApplyDefaults is
// run on the copy so that its lookup index and ENI view point into the copy.
//
// The copy is made by reflection so that fields added to the configuration
// model later are copied too. Three things are shared rather than copied,
// because nothing mutates them after parsing: the KeyPos position maps (an
// operation that edits a resource replaces its map, see editKeys), the
// immutable netip values, and unexported fields (the index and the primary
// ENI view, both rebuilt by ApplyDefaults, and the parser's error set).
func CloneConfig(c *config.Config) *config.Config {
	if c == nil {
		return nil
	}
	out := copyValue(reflect.ValueOf(c)).Interface().(*config.Config)
	config.ApplyDefaults(out)
	return out
}

var posMapType = reflect.TypeOf(map[string]config.Pos(nil))

// plainCache remembers, per type, whether a value of it can be copied by
// plain assignment (no exported pointer, slice or map inside).
var plainCache sync.Map // reflect.Type → bool

func plain(t reflect.Type) bool {
	if v, ok := plainCache.Load(t); ok {
		return v.(bool)
	}
	var p bool
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
		p = t == posMapType
	case reflect.Array:
		p = plain(t.Elem())
	case reflect.Struct:
		p = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.IsExported() && !plain(f.Type) {
				p = false
				break
			}
		}
	default:
		p = true
	}
	plainCache.Store(t, p)
	return p
}

// copyValue returns a deep copy of src (see CloneConfig for what is shared).
func copyValue(src reflect.Value) reflect.Value {
	t := src.Type()
	if plain(t) {
		return src
	}
	switch t.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return src
		}
		n := reflect.New(t.Elem())
		n.Elem().Set(copyValue(src.Elem()))
		return n
	case reflect.Slice:
		if src.IsNil() {
			return src
		}
		n := reflect.MakeSlice(t, src.Len(), src.Len())
		if plain(t.Elem()) {
			reflect.Copy(n, src)
			return n
		}
		for i := 0; i < src.Len(); i++ {
			n.Index(i).Set(copyValue(src.Index(i)))
		}
		return n
	case reflect.Map:
		if src.IsNil() {
			return src
		}
		n := reflect.MakeMapWithSize(t, src.Len())
		it := src.MapRange()
		for it.Next() {
			n.SetMapIndex(copyValue(it.Key()), copyValue(it.Value()))
		}
		return n
	case reflect.Array:
		n := reflect.New(t).Elem()
		for i := 0; i < src.Len(); i++ {
			n.Index(i).Set(copyValue(src.Index(i)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(t).Elem()
		n.Set(src) // unexported fields: shallow
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.IsExported() && !plain(f.Type) {
				n.Field(i).Set(copyValue(src.Field(i)))
			}
		}
		return n
	}
	return src
}
