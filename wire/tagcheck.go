package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why this file exists: kmsg v1.15.0 decodes a flexible message's tagged
// field section with
//
//	for num := b.Uvarint(); num > 0; num-- { ... }
//
// and keeps looping after its reader has run out of bytes, so a 33-byte
// frame with a tag count near 2^32 costs seconds to a minute of CPU before
// kmsg reports it malformed. checkTags walks a flexible request body the
// way kmsg will read it and refuses it before kmsg sees it if any tagged
// field count (or array length) cannot fit in the bytes that are left.
//
// The walk needs the layout of each request version. Rather than keep a
// hand-written copy of every schema in step with kmsg, the layout is taken
// from kmsg itself: the Go struct gives field order and types (reflection),
// and kmsg's encoder tells which fields a version carries (a field whose
// value change alters the encoding is present). Tagged fields are the
// exception: nothing in the Go types marks them, so they are listed in
// taggedFields (kmsg marks them "// tag N" in its generated source).
// TestTagCheckMatchesKmsg encodes randomly filled requests of every key and
// flexible version with kmsg and requires the walk to consume them exactly,
// which fails if this list or the derivation goes stale.

// taggedFields names every tagged field of kmsg's request types, as
// "StructType.Field": tag. Only struct-valued tags are walked into (they
// carry their own tagged sections); the others are skipped by size.
var taggedFields = map[string]uint32{
	"FetchRequest.ClusterID":                                0,
	"FetchRequest.ReplicaState":                             1,
	"FetchRequestTopicPartition.ReplicaDirectoryID":         0,
	"FetchRequestTopicPartition.HighWatermark":              1,
	"FetchSnapshotRequest.ClusterID":                        0,
	"FetchSnapshotRequestTopicPartition.ReplicaDirectoryID": 0,
	"BrokerHeartbeatRequest.OfflineLogDirs":                 0,
	"BrokerHeartbeatRequest.CordonedLogDirs":                1,
}

type opKind uint8

const (
	opFixed      opKind = iota // n bytes
	opCompact                  // compact string or bytes: uvarint length+1, then the bytes
	opArray                    // compact array: uvarint count+1, then elements
	opStruct                   // nested struct, inline
	opNullStruct               // nullable struct: int8 -1 for null, else the struct
)

type op struct {
	kind opKind
	n    int     // opFixed: size
	elem *layout // opArray, opStruct, opNullStruct
}

// layout is one struct (or array element) of one request version.
type layout struct {
	ops    []op
	tagged bool               // ends with a tagged field section
	tags   map[uint32]*layout // struct-valued tagged fields, walked into
	min    int                // fewest bytes an encoding can take
}

var layouts sync.Map // key<<16|version -> layoutResult

type layoutResult struct {
	l   *layout
	err error
}

func layoutFor(key, version int16) (*layout, error) {
	k := uint32(uint16(key))<<16 | uint32(uint16(version))
	if r, ok := layouts.Load(k); ok {
		r := r.(layoutResult)
		return r.l, r.err
	}
	l, err := buildLayout(key, version)
	layouts.Store(k, layoutResult{l, err})
	return l, err
}

// checkTags reports an error if body, a flexible request of key and
// version, has a tagged field count or array length that cannot fit in
// the bytes left where kmsg would read it. A nil error means kmsg's decode
// of body is bounded by its length.
func checkTags(key, version int16, body []byte) error {
	l, err := layoutFor(key, version)
	if err != nil {
		// Not expected (TestTagCheckMatchesKmsg builds every layout), but
		// without a layout the body cannot be decoded safely.
		return fmt.Errorf("%w: %v", ErrUnsupportedVersion, err)
	}
	if _, err := l.walk(body); err != nil {
		return fmt.Errorf("%w: %s v%d: %v", ErrMalformed, kmsg.NameForKey(key), version, err)
	}
	return nil
}

type walkError string

func (e walkError) Error() string { return string(e) }

const (
	errShort    = walkError("field runs past the end of the body")
	errVarint   = walkError("bad uvarint")
	errTagCount = walkError("tagged field count exceeds the bytes left")
	errArrayLen = walkError("array length exceeds the bytes left")
)

// uvarint32 reads a uvarint the way kmsg does: at most five bytes, the
// fifth holding only the top four bits of a uint32.
func uvarint32(b []byte) (uint32, []byte, error) {
	var x uint32
	for i := 0; i < 5; i++ {
		if i == len(b) {
			return 0, nil, errVarint
		}
		c := b[i]
		if i == 4 {
			if c > 0x0f {
				return 0, nil, errVarint
			}
			return x | uint32(c)<<28, b[5:], nil
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, b[i+1:], nil
		}
	}
	panic("unreachable")
}

// walk reads one encoding of l from the front of b, returning the rest.
// It accepts everything kmsg's encoder produces, and reads each field at
// the position kmsg's decoder would for as long as kmsg's reader is good.
func (l *layout) walk(b []byte) ([]byte, error) {
	var err error
	for i := range l.ops {
		o := &l.ops[i]
		switch o.kind {
		case opFixed:
			if len(b) < o.n {
				return nil, errShort
			}
			b = b[o.n:]
		case opCompact:
			var n uint32
			if n, b, err = uvarint32(b); err != nil {
				return nil, err
			}
			// 0 is null (or, for kmsg, an empty byte array).
			if n > 0 {
				if uint64(n-1) > uint64(len(b)) {
					return nil, errShort
				}
				b = b[n-1:]
			}
		case opArray:
			var n uint32
			if n, b, err = uvarint32(b); err != nil {
				return nil, err
			}
			count := int32(n) - 1 // as kmsg computes it; <= 0 reads no elements
			if count <= 0 {
				continue
			}
			if int64(count)*int64(o.elem.min) > int64(len(b)) {
				return nil, errArrayLen
			}
			for j := int32(0); j < count; j++ {
				if b, err = o.elem.walk(b); err != nil {
					return nil, err
				}
			}
		case opStruct:
			if b, err = o.elem.walk(b); err != nil {
				return nil, err
			}
		case opNullStruct:
			if len(b) < 1 {
				return nil, errShort
			}
			present := int8(b[0]) != -1
			b = b[1:]
			if present {
				if b, err = o.elem.walk(b); err != nil {
					return nil, err
				}
			}
		}
	}
	if !l.tagged {
		return b, nil
	}
	var n uint32
	if n, b, err = uvarint32(b); err != nil {
		return nil, err
	}
	// Every tagged field takes at least two bytes (its tag and its size).
	if uint64(n)*2 > uint64(len(b)) {
		return nil, errTagCount
	}
	for ; n > 0; n-- {
		var tag, size uint32
		if tag, b, err = uvarint32(b); err != nil {
			return nil, err
		}
		if size, b, err = uvarint32(b); err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(b)) {
			return nil, errShort
		}
		if sub := l.tags[tag]; sub != nil {
			if _, err := sub.walk(b[:size]); err != nil {
				return nil, err
			}
		}
		b = b[size:]
	}
	return b, nil
}

// buildLayout derives the layout of a flexible request version from kmsg.
func buildLayout(key, version int16) (*layout, error) {
	proto := kmsg.RequestForKey(key)
	if proto == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKey, key)
	}
	proto.SetVersion(version)
	if !proto.IsFlexible() {
		return &layout{}, nil
	}
	b := &builder{key: key, version: version}
	root := reflect.TypeOf(proto).Elem()
	l, _, err := b.structLayout(root, func(r reflect.Value) reflect.Value { return r })
	if err != nil {
		return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	return l, nil
}

type builder struct {
	key, version int16
}

// newRoot returns a fresh default request, as a settable struct value.
func (b *builder) newRoot() (kmsg.Request, reflect.Value) {
	r := kmsg.RequestForKey(b.key)
	r.SetVersion(b.version)
	return r, reflect.ValueOf(r).Elem()
}

// differs reports whether changing one field (located by nav from a fresh
// request and changed by set) changes the request's encoding.
func (b *builder) differs(nav func(reflect.Value) reflect.Value, set func(reflect.Value)) bool {
	r0, v0 := b.newRoot()
	nav(v0)
	r1, v1 := b.newRoot()
	set(nav(v1))
	return !bytes.Equal(r0.AppendTo(nil), r1.AppendTo(nil))
}

// structLayout derives the layout of struct type t, found in a request by
// nav. It reports whether the version carries any of t's fields.
func (b *builder) structLayout(t reflect.Type, nav func(reflect.Value) reflect.Value) (*layout, bool, error) {
	l := &layout{tagged: true}
	any := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Type == reflect.TypeOf(kmsg.Tags{}) {
			continue
		}
		if f.Name == "Version" && t == reflect.TypeOf(kmsg.RequestForKey(b.key)).Elem() {
			continue
		}
		fnav := func(r reflect.Value) reflect.Value { return nav(r).Field(i) }
		tag, isTagged := taggedFields[t.Name()+"."+f.Name]

		var o op
		present := false
		switch {
		case f.Type.Kind() == reflect.Struct:
			sub, ok, err := b.structLayout(f.Type, fnav)
			if err != nil {
				return nil, false, err
			}
			o, present = op{kind: opStruct, elem: sub}, ok
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			et := f.Type.Elem()
			enav := func(r reflect.Value) reflect.Value {
				p := fnav(r)
				if p.IsNil() {
					p.Set(newElem(et).Addr())
				}
				return p.Elem()
			}
			sub, ok, err := b.structLayout(et, enav)
			if err != nil {
				return nil, false, err
			}
			o, present = op{kind: opNullStruct, elem: sub}, ok
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			et := f.Type.Elem()
			enav := func(r reflect.Value) reflect.Value {
				s := fnav(r)
				if s.Len() == 0 {
					s.Set(reflect.Append(s, newElem(et)))
				}
				return s.Index(0)
			}
			sub, _, err := b.structLayout(et, enav)
			if err != nil {
				return nil, false, err
			}
			o = op{kind: opArray, elem: sub}
			present = b.differs(fnav, func(v reflect.Value) { v.Set(reflect.Append(v, newElem(et))) })
		default:
			var err error
			if o, err = scalarOp(f.Type); err != nil {
				return nil, false, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
			present = b.differs(fnav, mark)
		}
		if !present {
			continue
		}
		any = true
		if isTagged {
			if o.kind == opStruct {
				if l.tags == nil {
					l.tags = make(map[uint32]*layout)
				}
				l.tags[tag] = o.elem
			}
			continue
		}
		l.ops = append(l.ops, o)
	}
	l.min = 1 // the tag count
	for _, o := range l.ops {
		switch o.kind {
		case opFixed:
			l.min += o.n
		case opStruct:
			l.min += o.elem.min
		default:
			l.min++
		}
	}
	return l, any, nil
}

// scalarOp is the op for a field that is not a struct or array of structs.
func scalarOp(t reflect.Type) (op, error) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return op{kind: opFixed, n: 1}, nil
	case reflect.Int16, reflect.Uint16:
		return op{kind: opFixed, n: 2}, nil
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		return op{kind: opFixed, n: 4}, nil
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		return op{kind: opFixed, n: 8}, nil
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return op{kind: opFixed, n: t.Len()}, nil // uuid
		}
	case reflect.String:
		return op{kind: opCompact}, nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.String {
			return op{kind: opCompact}, nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return op{kind: opCompact}, nil // bytes
		}
		eo, err := scalarOp(t.Elem())
		if err != nil {
			return op{}, err
		}
		elem := &layout{ops: []op{eo}, min: 1}
		if eo.kind == opFixed {
			elem.min = eo.n
		}
		return op{kind: opArray, elem: elem}, nil
	}
	return op{}, fmt.Errorf("unsupported field type %s", t)
}

// newElem returns a default value of struct type t, addressable.
func newElem(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(interface{ Default() }); ok {
		d.Default()
	}
	return p.Elem()
}

// mark changes a scalar field's value so that its encoding changes if the
// version carries the field.
func mark(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Array:
		v.Index(0).SetUint(v.Index(0).Uint() + 1)
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Pointer: // *string
		s := "x"
		if !v.IsNil() {
			s = v.Elem().String() + "x"
		}
		v.Set(reflect.ValueOf(&s))
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	}
}
