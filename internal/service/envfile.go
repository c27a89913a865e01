package service

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ReadEnvFile reads a file of KEY=value lines, such as the dev stack's
// .data/secrets.env (scripts/secrets.sh): blank lines and # comments are
// skipped, an "export " prefix and quotes around the value are dropped.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read only
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		out[strings.TrimPrefix(k, "export ")] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
