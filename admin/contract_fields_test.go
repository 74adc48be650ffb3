package admin

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds/server"
)

// TestAPITypesMatchInternalJSON: the API's types have the JSON fields,
// tag options and kinds of the internal structs the API once encoded
// directly, all the way down. The golden files pin the answers for the
// fields the fixtures know; this catches the field added to
// analysis.State (or FileStatus, Proxy) later, which the fixtures do not
// set: it is either added to package api and its conversion, or listed
// in notInAPI, on purpose.
func TestAPITypesMatchInternalJSON(t *testing.T) {
	// notInAPI are internal JSON fields the API leaves out, as
	// "Type.jsonName".
	notInAPI := map[string]bool{}
	pairs := []struct{ internal, api any }{
		{analysis.State{}, api.Experiment{}},
		{files.FileStatus{}, api.PolicyFile{}},
		{files.WatcherStats{}, api.ReloadStats{}},
		{server.Proxy{}, api.Proxy{}},
	}
	for _, p := range pairs {
		matchJSON(t, reflect.TypeOf(p.internal), reflect.TypeOf(p.api), reflect.TypeOf(p.api).Name(), notInAPI)
	}
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	marshaler = reflect.TypeFor[json.Marshaler]()
)

func matchJSON(t *testing.T, in, out reflect.Type, path string, notInAPI map[string]bool) {
	t.Helper()
	for in.Kind() == reflect.Pointer && out.Kind() == reflect.Pointer {
		in, out = in.Elem(), out.Elem()
	}
	switch {
	case in.Implements(marshaler) || reflect.PointerTo(in).Implements(marshaler):
		return // its own JSON (metrics.Bucket): the golden files pin it
	case in == timeType || out == timeType:
		if in != out {
			t.Errorf("%s: %s in the API, %s inside", path, out, in)
		}
		return
	case in.Kind() != out.Kind():
		t.Errorf("%s: a %s in the API, a %s inside", path, out.Kind(), in.Kind())
		return
	}
	switch in.Kind() {
	case reflect.Slice:
		matchJSON(t, in.Elem(), out.Elem(), path+"[]", notInAPI)
	case reflect.Map:
		if in.Key().Kind() != out.Key().Kind() {
			t.Errorf("%s: keys are %s in the API, %s inside", path, out.Key().Kind(), in.Key().Kind())
		}
		ie := in.Elem()
		if ie.Kind() == reflect.Pointer && out.Elem().Kind() != reflect.Pointer {
			ie = ie.Elem() // Proxy.Types: the registry never holds a nil
		}
		matchJSON(t, ie, out.Elem(), path+"{}", notInAPI)
	case reflect.Struct:
		ins, outs := jsonFields(in), jsonFields(out)
		for name, f := range ins {
			g, ok := outs[name]
			switch {
			case !ok && notInAPI[in.Name()+"."+name]:
			case !ok:
				t.Errorf("%s.%s (%s.%s) is not in the API: add it to package api and the conversion, or to notInAPI", path, name, in, f.Name)
			case f.Tag.Get("json") != g.Tag.Get("json"):
				t.Errorf("%s.%s: tagged %q in the API, %q inside", path, name, g.Tag.Get("json"), f.Tag.Get("json"))
			default:
				matchJSON(t, f.Type, g.Type, path+"."+name, notInAPI)
			}
		}
		for name := range outs {
			if _, ok := ins[name]; !ok {
				t.Errorf("%s.%s is in the API only (fine if meant: then drop this check for it)", path, name)
			}
		}
	}
}

// jsonFields are a struct's fields encoding/json writes, by JSON name.
func jsonFields(st reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range st.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// TestAPIValuesMatchAnalysis: the stages, outcomes and actions the API
// names are those the runner uses (stages: those the metrics export).
func TestAPIValuesMatchAnalysis(t *testing.T) {
	strs := func(vs ...string) []string { return vs }
	var runnerStages, apiStages, controls, apiControls []string
	for _, s := range stages {
		runnerStages = append(runnerStages, string(s))
	}
	for _, s := range api.Stages {
		apiStages = append(apiStages, string(s))
	}
	for _, a := range analysis.Actions {
		controls = append(controls, string(a))
	}
	for _, a := range api.ControlActions {
		apiControls = append(apiControls, string(a))
	}
	for _, c := range []struct {
		what           string
		internal, want []string
	}{
		{"stages", runnerStages, apiStages},
		{"controls", controls, apiControls},
		{"outcomes", strs(string(analysis.Pass), string(analysis.Fail), string(analysis.Pending)), strs(string(api.Pass), string(api.Fail), string(api.Pending))},
		{"decisions",
			strs(string(analysis.Advance), string(analysis.Hold), string(analysis.Pause), string(analysis.RollBack), string(analysis.PromoteWinner), string(analysis.Finish), string(analysis.Halt)),
			strs(string(api.Advance), string(api.Hold), string(api.Pause), string(api.RollBack), string(api.PromoteWinner), string(api.Finish), string(api.Halt))},
	} {
		if !slices.Equal(c.internal, c.want) {
			t.Errorf("%s: the API names %v, the runner %v", c.what, c.want, c.internal)
		}
	}
	for _, s := range stages {
		if api.Stage(s).Done() != s.Done() || api.Stage(s).Ended() != s.Ended() {
			t.Errorf("stage %s: Done/Ended differ between the API and the runner", s)
		}
	}
}
