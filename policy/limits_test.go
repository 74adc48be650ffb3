package policy

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// duplicateHosts is an app whose hosts list n copies of "a", written
// "[a,a,…]": two bytes a host, so 2,000,000 of them stay under the 4 MiB
// file cap.
func duplicateHosts(n int) []byte {
	var b bytes.Buffer
	b.WriteString("kind: App\nname: a\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\nroutes: [{split: [{variant: v1}]}]\nhosts: [a")
	b.WriteString(strings.Repeat(",a", n-1))
	b.WriteString("]\n")
	return b.Bytes()
}

func BenchmarkParseDuplicateHosts(b *testing.B) {
	data := duplicateHosts(2_000_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ParseFile("dup.yaml", data)
	}
}

// appDoc is a valid app document with extra fields appended.
func appDoc(name string, port int, extra string) string {
	return fmt.Sprintf("kind: App\nname: %s\nport: %d\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\nroutes: [{split: [{variant: v1}]}]\n%s", name, port, extra)
}

// list writes n items "item0, item1, …" as a flow list.
func list(n int, item func(i int) string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = item(i)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func TestDuplicateHostsBounded(t *testing.T) {
	data := duplicateHosts(2_000_000)
	if len(data) >= 4<<20 {
		t.Fatalf("test file is %d bytes, over the 4 MiB cap", len(data))
	}
	f, ps := ParseFile("dup.yaml", data)
	want := []Problem{{File: "dup.yaml", Line: 5, Message: "hosts: 2000000 hosts, more than the maximum of 1000"}}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("problems = %v, want %v", ps, want)
	}
	if len(f.Apps) != 0 {
		t.Errorf("apps = %d, want none", len(f.Apps))
	}
}

func TestLimits(t *testing.T) {
	host := func(i int) string { return fmt.Sprintf("h%d.example", i) }
	for _, tc := range []struct {
		name string
		data string
		want Problem // the only problem
	}{
		{"hosts", appDoc("a", 80, "hosts: "+list(MaxHostsPerApp+1, host)+"\n"),
			Problem{Line: 6, Message: "hosts: 1001 hosts, more than the maximum of 1000"}},
		{"routes", "kind: App\nname: a\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\nroutes: " +
			list(MaxRoutesPerApp+1, func(i int) string { return fmt.Sprintf("{name: r%d, split: [{variant: v1}]}", i) }) + "\n",
			Problem{Line: 4, Message: "routes: 1001 routes, more than the maximum of 1000"}},
		{"variants", "kind: App\nname: a\nroutes: [{split: [{variant: v1}]}]\nvariants: " +
			list(MaxVariantsPerApp+1, func(i int) string { return fmt.Sprintf("{name: v%d, endpoints: [\"127.0.0.1:1\"]}", i) }) + "\n",
			Problem{Line: 4, Message: "variants: 1001 variants, more than the maximum of 1000"}},
		{"headers", "kind: App\nname: a\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\nroutes:\n  - split: [{variant: v1}]\n    match:\n      headers: " +
			list(MaxHeadersPerMatch+1, func(i int) string { return fmt.Sprintf("{name: x-%d, present: true}", i) }) + "\n",
			Problem{Line: 7, Message: "routes[0].match.headers: 101 headers, more than the maximum of 100"}},
		{"endpoints", "kind: App\nname: a\nroutes: [{split: [{variant: v1}]}]\nvariants:\n  - name: v1\n    endpoints: " +
			list(MaxListItems+1, func(i int) string { return `"127.0.0.1:1"` }) + "\n",
			Problem{Line: 6, Message: "variants[0].endpoints: 1001 items, more than the maximum of 1000"}},
		{"methods, duplicates not reported one by one", "kind: App\nname: a\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\nroutes:\n  - split: [{variant: v1}]\n    match:\n      methods: " +
			list(MaxListItems+1, func(i int) string { return "GET" }) + "\n",
			Problem{Line: 7, Message: "routes[0].match.methods: 1001 items, more than the maximum of 1000"}},
		{"mapping entries", "kind: Metric\nname: m\ntargets:\n" + strings.Repeat("", 0) + func() string {
			var b strings.Builder
			for i := range MaxListItems + 1 {
				fmt.Fprintf(&b, "  v%d: []\n", i)
			}
			return b.String()
		}(), Problem{Line: 3, Message: "1001 entries, more than the maximum of 1000 in targets"}},
		{"documents", strings.Repeat("---\nkind: Metric\n", MaxDocumentsPerFile+1),
			Problem{Line: 2*MaxDocumentsPerFile + 1, Message: "more than the maximum of 2000 documents in one file: split it"}},
		{"apps", func() string {
			docs := make([]string, MaxAppsPerFile+1)
			for i := range docs {
				docs[i] = appDoc(fmt.Sprintf("a%d", i), 80, "")
			}
			return strings.Join(docs, "---\n")
		}(), Problem{Line: 6*MaxAppsPerFile + 1, Message: "more than the maximum of 1000 apps in one file: split it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := ParseFile("x.yaml", []byte(tc.data))
			tc.want.File = "x.yaml"
			if len(ps) != 1 || ps[0] != tc.want {
				if len(ps) > 3 {
					ps = ps[:3]
				}
				t.Errorf("problems = %v, want only %v", ps, tc.want)
			}
		})
	}
	// At the cap is fine.
	if _, ps := ParseFile("x.yaml", []byte(appDoc("a", 80, "hosts: "+list(MaxHostsPerApp, host)+"\n"))); len(ps) != 0 {
		t.Errorf("%d hosts: %v", MaxHostsPerApp, ps[:min(3, len(ps))])
	}
}

func TestProblemsCapped(t *testing.T) {
	// 1,000 bad hosts, each a problem.
	data := appDoc("a", 80, "hosts: "+list(1000, func(i int) string { return fmt.Sprintf("Bad_%d", i) })+"\n")
	_, ps := ParseFile("x.yaml", []byte(data))
	if len(ps) != MaxProblemsPerFile+1 {
		t.Fatalf("%d problems, want %d", len(ps), MaxProblemsPerFile+1)
	}
	if want := `hosts[0]: "bad_0" is not a valid host`; !strings.Contains(ps[0].Error(), want) {
		t.Errorf("first problem = %v, want %s…", ps[0], want)
	}
	last := ps[len(ps)-1]
	if want := (Problem{File: "x.yaml", Message: "and 900 more problems"}); last != want {
		t.Errorf("last problem = %v, want %v", last, want)
	}
	if got := last.Error(); got != "x.yaml: and 900 more problems" {
		t.Errorf("last problem prints %q", got)
	}

	// Across files in Assemble, per file.
	var files []File
	for i, name := range []string{"a.yaml", "b.yaml"} {
		f, ps := ParseFile(name, []byte(appDoc(fmt.Sprintf("app%d", i), 80, "hosts: "+list(500, func(i int) string { return fmt.Sprintf("h%d", i) })+"\n")))
		if len(ps) != 0 {
			t.Fatal(ps[0])
		}
		files = append(files, f)
	}
	_, ps = Assemble(files)
	if len(ps) != MaxProblemsPerFile+1 || ps[len(ps)-1].Message != "and 400 more problems" || ps[0].File != "b.yaml" {
		t.Errorf("Assemble: %d problems, last %v", len(ps), ps[len(ps)-1])
	}
}

// TestHostConflictOrder checks that the first earlier app whose claim on a
// host conflicts is the one named, across ports.
func TestHostConflictOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports []int
		want  string // the problem of the last app; "" for none
	}{
		{"other ports do not conflict", []int{80, 81, 82}, ""},
		{"grpc app conflicts with the first", []int{80, 81, 0}, `host "h" is already claimed by app "a0" at line 1; the hosts of a proxyless gRPC app (port 0) must be unique`},
		{"grpc app before", []int{81, 0, 80}, `host "h" is already claimed by app "a1" at line 8; the hosts of a proxyless gRPC app (port 0) must be unique`},
		{"same port before grpc", []int{80, 0, 80}, `host "h" on port 80 is already claimed by app "a0" at line 1`},
		{"grpc before same port", []int{0, 80, 80}, `host "h" is already claimed by app "a0" at line 1; the hosts of a proxyless gRPC app (port 0) must be unique`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files []File
			for i, port := range tc.ports {
				f, ps := ParseFile("x.yaml", []byte(appDoc(fmt.Sprintf("a%d", i), port, "hosts: [h]\n")))
				if len(ps) != 0 {
					t.Fatal(ps)
				}
				f.Apps[0].Source.Line = 1 + 7*i
				f.lines = nil
				files = append(files, File{Path: "x.yaml", Apps: f.Apps})
			}
			// One file: the apps are checked against each other in order.
			var all File
			all.Path = "x.yaml"
			for _, f := range files {
				all.Apps = append(all.Apps, f.Apps...)
			}
			var last []Problem
			for _, p := range all.conflicts() {
				if p.Line == 1+7*(len(tc.ports)-1) {
					last = append(last, p)
				}
			}
			switch {
			case tc.want == "" && len(last) != 0:
				t.Errorf("problems = %v, want none", last)
			case tc.want != "" && (len(last) != 1 || !strings.Contains(last[0].Message, tc.want)):
				t.Errorf("problems = %v, want %s", last, tc.want)
			}
		})
	}
}

// TestAliasBomb checks that "billion laughs" documents, small in the file
// but huge once their aliases are expanded, are refused promptly, with
// one problem, before they are decoded.
func TestAliasBomb(t *testing.T) {
	head := "kind: App\nname: a\nvariants: [{name: v1, endpoints: [\"127.0.0.1:1\"]}]\n"
	ten := func(alias string) string { return "[" + strings.Repeat(alias+", ", 9) + alias + "]" }

	// The classic: ten lists of ten of the list before, 10^10 strings.
	var classic strings.Builder
	classic.WriteString(head + "routes: [{split: [{variant: v1}]}]\nhosts: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&classic, "x%d: &x%d %s\n", i, i, ten(fmt.Sprintf("*x%d", i-1)))
	}
	classic.WriteString("x: *x9\n")

	// Shaped like the model, so that every expansion decodes: 1,000
	// routes, each of 1,000 backends, from under 4 KiB.
	var routes strings.Builder
	routes.WriteString(head + "b: &b {variant: v1, weight: 1}\n")
	routes.WriteString("r: &r {split: [" + strings.Repeat("*b, ", 999) + "*b]}\n")
	routes.WriteString("routes: [" + strings.Repeat("*r, ", 999) + "*r]\n")

	for name, data := range map[string]string{"classic": classic.String(), "routes": routes.String()} {
		t.Run(name, func(t *testing.T) {
			_, ps := ParseFile("bomb.yaml", []byte(data))
			want := Problem{File: "bomb.yaml", Line: 1, Message: "the document expands to more than 1000000 values once its aliases (*name) are expanded: write the values out, or use fewer aliases"}
			if len(ps) != 1 || ps[0] != want {
				t.Errorf("problems = %v, want only %v", ps[:min(len(ps), 5)], want)
			}
		})
	}

	// Aliases within bounds still work.
	ok := head + "routes: [{split: [{variant: v1}]}]\nhosts: &h [a.example, b.example]\n"
	if _, ps := ParseFile("ok.yaml", []byte(ok)); len(ps) != 0 {
		t.Errorf("aliases: %v", ps)
	}
}

func TestLongMessageShortened(t *testing.T) {
	host := strings.Repeat("é", 1<<20)
	_, ps := ParseFile("x.yaml", []byte(appDoc("a", 80, "hosts: ["+host+"]\n")))
	if len(ps) != 1 {
		t.Fatalf("%d problems", len(ps))
	}
	msg := ps[0].Message
	if len(msg) > MaxMessageBytes+100 || !strings.HasPrefix(msg, `hosts[0]: "éé`) || !strings.HasSuffix(msg, "bytes more)") || !utf8.ValidString(msg) {
		t.Errorf("message of %d bytes: %.80s…%s", len(msg), msg, msg[max(0, len(msg)-40):])
	}
}

// TestRefusedDocumentKeepsStep checks that documents after one refused
// before decoding are still decoded, and their problems placed, right.
func TestRefusedDocumentKeepsStep(t *testing.T) {
	data := appDoc("a", 80, "hosts: "+list(MaxHostsPerApp+1, func(int) string { return "a" })+"\n") +
		"---\n---\n" + appDoc("b", 80, "colour: red\n") + "---\nkind: Nope\n---\n" + appDoc("c", 80, "hosts: [Bad_]\n")
	_, ps := ParseFile("x.yaml", []byte(data))
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
	}
	want := []string{
		"x.yaml:6: hosts: 1001 hosts, more than the maximum of 1000",
		`x.yaml:14: unknown field "colour"; known fields: apiVersion, kind, name, hosts, port, proxies, shadowHostSuffix, variants, routes`,
		"x.yaml:16: kind \"Nope\" is not supported: want App, Experiment or Metric",
		`x.yaml:23: hosts[0]: "bad_" is not a valid host: use a lower-case DNS name, optionally starting with "*."`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
