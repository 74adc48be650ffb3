package bootstrap

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// CommandLine is the shell command that prints the bootstrap for o, with
// every flag explicit (the admin address included, so its exposure shows).
func CommandLine(o Options) string {
	o = o.withDefaults()
	args := []string{"shadowplane", "bootstrap",
		"--xds", o.XDSAddress,
		"--node", o.NodeID,
		"--cluster", o.NodeCluster,
		"--admin", o.AdminAddress,
	}
	if o.Delta {
		args = append(args, "--delta")
	}
	args = append(args, o.TLS.commandFlags()...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote returns s unchanged when a POSIX shell reads it as one word,
// and single-quoted otherwise.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ParseCommand is the inverse of CommandLine: it reads the Options from a
// "shadowplane bootstrap ..." command line, as recorded in the header of a
// generated YAML file. It understands the quoting CommandLine writes
// (plain words, POSIX single quotes and backslash escapes), not full shell
// syntax.
func ParseCommand(line string) (Options, error) {
	words, err := shellSplit(line)
	if err != nil {
		return Options{}, err
	}
	if len(words) < 2 || words[0] != "shadowplane" || words[1] != "bootstrap" {
		return Options{}, fmt.Errorf("command %q does not start with \"shadowplane bootstrap\"", line)
	}
	var o Options
	fs := flag.NewFlagSet("shadowplane bootstrap", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse(words[2:]); err != nil {
		return Options{}, fmt.Errorf("command %q: %w", line, err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("command %q: unexpected arguments %q", line, fs.Args())
	}
	return o, nil
}

// shellSplit splits s into words at unquoted spaces, honouring single
// quotes and backslash escapes outside them.
func shellSplit(s string) ([]string, error) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		quoted  bool
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			word.WriteRune(r)
			escaped = false
		case quoted && r == '\'':
			quoted = false
		case quoted:
			word.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '"' || r == '$' || r == '`':
			return nil, fmt.Errorf("command %q: only single quotes are supported, found %q", s, r)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("command has an unterminated single quote")
	}
	if escaped {
		return nil, errors.New("command ends in a backslash")
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
