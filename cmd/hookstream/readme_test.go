package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommandsExist checks that every hookstream command the README's shell examples run exists and
// takes the flags they give it, so the quick start cannot drift from the CLI.
func TestReadmeCommandsExist(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(readme, -1)
	invocation := regexp.MustCompile(`(?:^|[\s(])(?:\./)?hookstream (\w+)((?: [^#\n]*)?)`)
	flagName := regexp.MustCompile(`(?:^|\s)--?([a-z][a-z-]*)`)
	seen := 0
	for _, block := range blocks {
		for _, line := range strings.Split(string(block[1]), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range invocation.FindAllStringSubmatch(line, -1) {
				cmd, rest := m[1], m[2]
				seen++
				var out, errOut bytes.Buffer
				if code := run([]string{cmd, "-h"}, &out, &errOut, func(string) string { return "" }); code != 0 {
					t.Errorf("README runs %q: exit %d: %s", "hookstream "+cmd, code, errOut.String())
					continue
				}
				usage := out.String() + errOut.String()
				for _, f := range flagName.FindAllStringSubmatch(rest, -1) {
					if !strings.Contains(usage, "  -"+f[1]+" ") && !strings.Contains(usage, "  -"+f[1]+"\n") {
						t.Errorf("README runs hookstream %s --%s, which it does not take", cmd, f[1])
					}
				}
			}
		}
	}
	if seen < 5 {
		t.Errorf("found only %d hookstream commands in the README's examples", seen)
	}
}
