package gateway

import "strings"

// RewriteAnyAtom turns the docs' `expectedVersion: :any` (an Elixir atom,
// not GraphQL) into `expectedVersion: ANY` before the query is parsed,
// because partners paste the docs' examples. The rewrite is deliberately
// narrow: only an `:any` that is the value of an `expectedVersion` field,
// outside strings, block strings and comments, and not followed by more
// name characters. Everything else is left for the parser to judge.
func RewriteAnyAtom(query string) (string, bool) {
	if !strings.Contains(query, ":any") {
		return query, false
	}
	var b strings.Builder
	changed := false
	i, n := 0, len(query)
	lastName := "" // the most recent name token outside strings and comments
	for i < n {
		c := query[i]
		switch {
		case c == '#':
			j := strings.IndexAny(query[i:], "\r\n")
			if j < 0 {
				j = n - i
			}
			b.WriteString(query[i : i+j])
			i += j
			continue
		case strings.HasPrefix(query[i:], `"""`):
			j := i + 3
			for j < n && !strings.HasPrefix(query[j:], `"""`) {
				if strings.HasPrefix(query[j:], `\"""`) {
					j += 4
					continue
				}
				j++
			}
			j = min(j+3, n)
			b.WriteString(query[i:j])
			i = j
			lastName = ""
			continue
		case c == '"':
			j := i + 1
			for j < n && query[j] != '"' && query[j] != '\n' {
				if query[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, n)
			b.WriteString(query[i:j])
			i = j
			lastName = ""
			continue
		case isNameStart(c):
			j := i + 1
			for j < n && isNameChar(query[j]) {
				j++
			}
			lastName = query[i:j]
			b.WriteString(lastName)
			i = j
			continue
		case c == ':' && lastName == "expectedVersion":
			// The field's colon; look past white space for `:any`.
			j := i + 1
			for j < n && isIgnored(query[j]) {
				j++
			}
			if strings.HasPrefix(query[j:], ":any") && (j+4 == n || !isNameChar(query[j+4])) {
				b.WriteString(query[i:j])
				b.WriteString("ANY")
				i = j + 4
				changed = true
				lastName = ""
				continue
			}
		}
		if !isIgnored(c) {
			lastName = ""
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), changed
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// isIgnored reports GraphQL's ignored tokens between a name and its colon.
func isIgnored(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' }
