package xds

import (
	runtime "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/policy"
)

// mirrorFractions maps the runtime key of each active mirror of app to its
// fraction in millionths.
func mirrorFractions(app *policy.App) map[string]uint32 {
	out := map[string]uint32{}
	for i := range app.Routes {
		r := &app.Routes[i]
		if m := activeMirror(app, r); m != nil {
			out[MirrorRuntimeKey(app.Name, r.Name)] = millionths(*m.Percent)
		}
	}
	return out
}

// runtimeLayer is the RTDS layer. Envoy reads a struct value with
// numerator and denominator as a FractionalPercent, which is what a mirror
// policy's runtime_fraction looks up. The layer is always served, even
// empty, because Envoy holds its start-up until every declared layer
// arrives.
func runtimeLayer(fractions map[string]uint32) *runtime.Runtime {
	fields := make(map[string]*structpb.Value, len(fractions))
	for key, n := range fractions {
		fields[key] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"numerator":   structpb.NewNumberValue(float64(n)),
			"denominator": structpb.NewStringValue("MILLION"),
		}})
	}
	return &runtime.Runtime{Name: RuntimeLayerName, Layer: &structpb.Struct{Fields: fields}}
}
