// Package hostile keeps every hostile case of issue 13 fixed: inputs and
// clients an attacker or a careless operator would try against `serve` and
// `validate`, each run against the real binary, in its own process, with
// its time bounded (a deadline on the process or the wait) and its memory
// bounded (peak resident memory from the kernel, against a generous
// bound), and each checked for a clear message: file and line, or peer
// and limit.
//
// The files half (files_test.go, half_written_test.go): a FIFO named
// *.yaml, a link to /dev/zero, a file just over the 4 MiB cap, 2,097,082
// duplicate hosts, a 4 MiB list of aliases, 10,000 files, and a file
// written in place by a writer that pauses mid-file. The clients half is
// in xds*_test.go.
//
// TestMain (main_test.go) builds shadowplane once into Binary; process
// helpers are in proc_test.go. `make test` runs the files half at a
// smaller scale (a tenth of the duplicate hosts and aliases, 5,000
// files); SHADOWPLANE_HOSTILE_FULL=1, which `make hostile` sets, runs
// the sizes, and serve over 10,000 files.
package hostile
