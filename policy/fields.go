package policy

import (
	"reflect"
	"strings"
)

// yamlField is a field of a model struct as it is spelled in YAML.
type yamlField struct {
	name string
	typ  reflect.Type
}

// yamlFields lists the YAML fields of a struct type in declaration order,
// with ",inline" structs flattened into their parent the way yaml.v3 does.
// The decoder uses it to check numbers and to suggest field names, and the
// schema test uses it so the JSON Schema cannot drift from the structs.
func yamlFields(t reflect.Type) []yamlField {
	var fields []yamlField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			fields = append(fields, yamlFields(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields = append(fields, yamlField{name: name, typ: f.Type})
	}
	return fields
}

// yamlFieldType returns the type of the YAML field name of struct type t.
func yamlFieldType(t reflect.Type, name string) (reflect.Type, bool) {
	for _, f := range yamlFields(t) {
		if f.name == name {
			return f.typ, true
		}
	}
	return nil, false
}

// modelStruct strips pointers and slices down to a struct type declared in
// this package, the types a policy document is made of.
func modelStruct(t reflect.Type) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[App]().PkgPath() {
		return nil, false
	}
	return t, true
}

// modelStructs is every struct type reachable from App through YAML
// fields, by the name yaml.v3 prints in its errors ("policy.Route").
func modelStructs() map[string]reflect.Type {
	seen := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if _, ok := seen[t.String()]; ok {
			return
		}
		seen[t.String()] = t
		for _, f := range yamlFields(t) {
			if st, ok := modelStruct(f.typ); ok {
				walk(st)
			}
		}
	}
	walk(reflect.TypeFor[App]())
	return seen
}
