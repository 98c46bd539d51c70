package readme

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository root, from this package's directory.
const root = "../.."

var marker = regexp.MustCompile(`^<!-- example: (\S+) (\S+) -->$`)

// snippet is one Go code block of the README and the region it copies.
type snippet struct {
	line       int // of the fence
	path, name string
	code       string
}

// readmeSnippets returns the README's Go blocks; a block without a marker
// is an error.
func readmeSnippets(readme string) ([]snippet, error) {
	var out []snippet
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		prev := i - 1
		for prev >= 0 && strings.TrimSpace(lines[prev]) == "" {
			prev--
		}
		var m []string
		if prev >= 0 {
			m = marker.FindStringSubmatch(strings.TrimSpace(lines[prev]))
		}
		if m == nil {
			return nil, fmt.Errorf("README.md:%d: a Go snippet without an <!-- example: path name --> marker on the line before", i+1)
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: the Go snippet is not closed", i+1)
		}
		out = append(out, snippet{line: i + 1, path: m[1], name: m[2], code: strings.Join(lines[i+1:end], "\n")})
		i = end
	}
	return out, nil
}

// region returns the lines between "// README: name" and "// README end"
// in src, with their common indentation removed.
func region(src, name string) (string, error) {
	var body []string
	in, found := false, false
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		l := sc.Text()
		switch t := strings.TrimSpace(l); {
		case t == "// README: "+name:
			if found {
				return "", fmt.Errorf("two regions named %q", name)
			}
			in, found = true, true
		case in && t == "// README end":
			in = false
		case in:
			body = append(body, l)
		}
	}
	if !found {
		return "", fmt.Errorf("no region named %q", name)
	}
	if in {
		return "", fmt.Errorf("region %q has no // README end", name)
	}
	// gofmt may want a blank line before the end marker: not part of it.
	for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
		body = body[:len(body)-1]
	}
	indent := -1
	for _, l := range body {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range body {
		if len(l) >= indent && indent > 0 {
			body[i] = l[indent:]
		}
	}
	return strings.Join(body, "\n"), nil
}

func TestREADMEGoSnippetsAreTheExampleRegionsTheyCopy(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets, err := readmeSnippets(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(snippets) == 0 {
		t.Fatal("README.md has no Go snippet: the markers are gone?")
	}
	for _, s := range snippets {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(s.path)))
		if err != nil {
			t.Errorf("README.md:%d: %v", s.line, err)
			continue
		}
		want, err := region(string(src), s.name)
		if err != nil {
			t.Errorf("README.md:%d: %s: %v", s.line, s.path, err)
			continue
		}
		if s.code != want {
			t.Errorf("README.md:%d: the snippet differs from region %q of %s; copy the region again:\n%s", s.line, s.name, s.path, want)
		}
	}
}

func TestTheCheckCatchesAMissingMarkerAndADriftedSnippet(t *testing.T) {
	if _, err := readmeSnippets("text\n\n```go\nx := 1\n```\n"); err == nil {
		t.Error("a Go snippet without a marker passed")
	}
	src := "func Example() {\n\t// README: r\n\tx := 1\n\tif x > 0 {\n\t\tx++\n\t}\n\n\t// README end\n}\n"
	got, err := region(src, "r")
	if err != nil || got != "x := 1\nif x > 0 {\n\tx++\n}" {
		t.Fatalf("region = %q, %v", got, err)
	}
	s, err := readmeSnippets("<!-- example: f.go r -->\n```go\nx := 2\n```\n")
	if err != nil || len(s) != 1 || s[0].code == got {
		t.Errorf("a drifted snippet matched its region: %+v, %v", s, err)
	}
	if _, err := region(src, "other"); err == nil {
		t.Error("a marker naming no region passed")
	}
}
