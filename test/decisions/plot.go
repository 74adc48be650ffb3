package decisions

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteSVG draws two panels against the route's rate (log scale): on the
// left, how often a candidate as good as its baseline was rolled back;
// on the right, how often a regression was caught. One colour per kind of
// case; the new rule solid, the old one dashed.
func WriteSVG(w io.Writer, rows []Row) error {
	const pw, ph, gap, left, top, bottom, legend = 420.0, 300.0, 70.0, 55.0, 40.0, 45.0, 290.0
	width := left + 2*pw + gap + legend
	groupCount := 0
	for i, r := range rows {
		if !r.Case.AtLimit && (i == 0 || rows[i-1].Case.Group != r.Case.Group) {
			groupCount++
		}
	}
	height := math.Max(top+ph+bottom, top+float64(groupCount)*30+30)
	minR, maxR := math.Inf(1), 0.0
	for _, r := range rows {
		minR, maxR = math.Min(minR, r.Case.RPS), math.Max(maxR, r.Case.RPS)
	}
	x := func(panel int, rps float64) float64 {
		x0 := left + float64(panel)*(pw+gap)
		return x0 + pw*(math.Log10(rps)-math.Log10(minR))/(math.Log10(maxR)-math.Log10(minR))
	}
	y := func(share float64) float64 { return top + ph*(1-share) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	titles := []string{"A/A: share of runs rolled back (wrong)", "Regressions: share of runs caught"}
	for p := range 2 {
		x0 := left + float64(p)*(pw+gap)
		fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">%s</text>`+"\n", x0, titles[p])
		for _, s := range []float64{0, 0.25, 0.5, 0.75, 1} {
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%.0f %%</text>`+"\n",
				x0, x0+pw, y(s), y(s), x0-6, y(s)+4, 100*s)
		}
		for _, rps := range Rates {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n",
				x(p, rps), x(p, rps), top, top+ph, x(p, rps), top+ph+16, rps)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">requests a second on the route</text>`+"\n", x0+pw/2, height-8)
	}
	// The 5 % and 95 % target lines.
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#2da44e" stroke-dasharray="2 3"/>`+"\n", left, left+pw, y(0.05), y(0.05))
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#2da44e" stroke-dasharray="2 3"/>`+"\n", left+pw+gap, left+2*pw+gap, y(0.95), y(0.95))

	colours := []string{"#1f6feb", "#d1242f", "#8250df", "#bf8700", "#1a7f37", "#cf222e", "#0969da", "#9a6700", "#6e7781", "#e16f24"}
	var groups []string
	for _, r := range rows {
		if !r.Case.AtLimit && !slices.Contains(groups, r.Case.Group) {
			groups = append(groups, r.Case.Group)
		}
	}
	for i, g := range groups {
		colour := colours[i%len(colours)]
		var bad bool
		pts := map[string][]string{}
		for _, r := range rows {
			if r.Case.Group != g {
				continue
			}
			bad = r.Case.Bad
			p := 0
			if bad {
				p = 1
			}
			for rule, t := range map[string]Tally{"new": r.New, "old": r.Old} {
				pts[rule] = append(pts[rule], fmt.Sprintf("%.1f,%.1f", x(p, r.Case.RPS), y(t.Rate(t.RolledBack))))
			}
		}
		for _, rule := range []string{"new", "old"} {
			dash := ""
			if rule == "old" {
				dash = ` stroke-dasharray="5 4" stroke-opacity="0.6"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", colour, dash, strings.Join(pts[rule], " "))
		}
		ly := top + float64(i)*30
		lx := left + 2*pw + gap + 20
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`, lx, lx+14, ly, ly, colour)
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2" stroke-dasharray="5 4" stroke-opacity="0.6"/>`, lx+16, lx+30, ly, ly, colour)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10">%s</text>`+"\n", lx+36, ly+4, escape(g))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10">solid: new rule; dashed: old rule</text>`+"\n", left+2*pw+gap+20, top+float64(len(groups))*30+10)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
