package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Bucket is one cumulative bucket of a histogram: how many observations
// were at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// bucketJSON writes the bound as Prometheus writes le ("0.1", "+Inf"):
// JSON has no infinity.
type bucketJSON struct {
	Le    string  `json:"le"`
	Count float64 `json:"count"`
}

// MarshalJSON writes {"le": "0.1", "count": 3}.
func (b Bucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(bucketJSON{Le: formatBound(b.UpperBound), Count: b.Count})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var j bucketJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	ub, err := parseBound(j.Le)
	if err != nil {
		return err
	}
	*b = Bucket{UpperBound: ub, Count: j.Count}
	return nil
}

// normalBuckets returns buckets sorted by bound, equal bounds merged and
// counts made monotonic, scaled by scale into the metric's unit; an error
// when there is no +Inf bucket.
func normalBuckets(bs []bucket, scale float64) ([]Bucket, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	sorted := append([]bucket(nil), bs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].upper < sorted[j].upper })
	if !math.IsInf(sorted[len(sorted)-1].upper, +1) {
		return nil, fmt.Errorf("histogram has no +Inf bucket")
	}
	sorted = coalesce(sorted)
	monotonic(sorted)
	out := make([]Bucket, len(sorted))
	for i, b := range sorted {
		ub := b.upper
		if !math.IsInf(ub, 0) && scale != 0 {
			ub *= scale
		}
		out[i] = Bucket{UpperBound: ub, Count: b.count}
	}
	return out, nil
}
