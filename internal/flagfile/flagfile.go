// Package flagfile fills a flag set from a YAML file whose keys are the
// flag names: the --config file of every framecast command. It runs after
// the command line and the environment, so a flag already set keeps its
// value (flags > FRAMECAST_* environment > file), and every value goes
// through the flag's own Set, checked exactly as on the command line.
package flagfile

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast/internal/flagvalue"
)

// Flag is the name of the flag that names the file; the file may not set
// it (one file, no includes).
const Flag = "config"

// Fill sets every flag of fs not set yet (fs.Visit: the command line, and
// whatever the caller set with fs.Set) from the YAML file at path, a
// mapping of flag names to values:
//
//	brokers: 127.0.0.1:9092
//	max-in-flight: 8
//	max-buffered-bytes: 64MiB
//	source: [a=synthetic:, b=synthetic:]
//
// A scalar reaches the flag as written (30s, 64MiB, true); a list sets a
// repeatable flag (flagvalue.List) once per item. An empty file sets
// nothing. Unknown keys, keys given twice, lists or mappings for a
// single-valued flag, values the flag refuses and files that are not such a
// mapping are errors, each naming the file and line, all joined together.
// Flags set from the file count as set (fs.Visit sees them).
func Fill(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w: name an existing YAML file", Flag, err)
	}
	return fill(fs, path, data)
}

func fill(fs *flag.FlagSet, path string, data []byte) error {
	m, err := mapping(data)
	if err != nil {
		return fmt.Errorf("--%s %s: %w", Flag, path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	seen := map[string]int{}
	for i := 0; m != nil && i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		fail := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("--%s %s line %d: %s", Flag, path, k.Line, fmt.Sprintf(format, a...)))
		}
		name, first := k.Value, seen[k.Value]
		if first == 0 {
			seen[name] = k.Line
		}
		f := fs.Lookup(name)
		switch {
		case k.Kind != yaml.ScalarNode:
			fail("keys are flag names, such as brokers: 127.0.0.1:9092")
			continue
		case first > 0:
			fail("%q given twice (first on line %d): keep one", name, first)
			continue
		case name == Flag:
			fail("%q: a --%s file cannot name another; remove the key", name, Flag)
			continue
		case f == nil:
			fail("unknown key %q: %s has no such flag%s (`%s --help` lists them)", name, fs.Name(), suggest(fs, name), fs.Name())
			continue
		}
		texts, err := values(f, v)
		if err != nil {
			fail("%s: %v", name, err)
			continue
		}
		if set[name] {
			continue
		}
		for _, s := range texts {
			if err := fs.Set(name, s); err != nil {
				fail("invalid value %q for %s: %v", s, name, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// mapping decodes the file's one document: nil when the file is empty (or
// holds only comments), else its top-level mapping.
func mapping(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("not valid YAML (%v): fix the file, or see the README's --config example", err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document (---): keep one mapping of flag names to values")
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of flag names to values, such as brokers: 127.0.0.1:9092", m.Line)
	}
	return m, nil
}

// values is what node v sets flag f to: one text for a scalar, one per
// item of a list for a repeatable flag.
func values(f *flag.Flag, v *yaml.Node) ([]string, error) {
	_, repeatable := f.Value.(*flagvalue.List)
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil, errors.New("no value: give one, or remove the key for the default")
	case v.Kind == yaml.ScalarNode:
		return []string{v.Value}, nil
	case v.Kind == yaml.SequenceNode && repeatable:
		texts := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item = deref(item); item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return nil, fmt.Errorf("line %d: each item of the list must be one value", item.Line)
			}
			texts = append(texts, item.Value)
		}
		return texts, nil
	case v.Kind == yaml.SequenceNode:
		return nil, errors.New("takes one value, not a list (lists are for repeatable flags such as source)")
	}
	return nil, errors.New("takes a value, not a mapping: write it as on the command line (30s, 64MiB, true)")
}

// deref follows an alias (*name) to its anchor's node.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// suggest names the flag of fs closest to name, if one is close enough to
// be a typo: "; did you mean \"brokers\"?".
func suggest(fs *flag.FlagSet, name string) string {
	bare := strings.TrimLeft(name, "-")
	best, bestDist := "", len(bare)/3+2
	fs.VisitAll(func(f *flag.Flag) {
		if d := distance(bare, f.Name); d < bestDist && f.Name != Flag {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance between a and b, in bytes (flag
// names are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Value is the scalar value of key in the file at path, for a caller that
// must know one flag before it can build the flag set (bench's mode). A
// file that cannot be read or decoded, or a key that is missing or not a
// scalar, gives ok false: Fill reports the file's problems later.
func Value(path, key string) (value string, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	m, err := mapping(data)
	if err != nil || m == nil {
		return "", false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if v := deref(m.Content[i+1]); m.Content[i].Value == key && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			return v.Value, true
		}
	}
	return "", false
}
