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
			j := commentEnd(query, i)
			b.WriteString(query[i:j])
			i = j
			continue
		case strings.HasPrefix(query[i:], `"""`):
			j := blockStringEnd(query, i)
			b.WriteString(query[i:j])
			i = j
			lastName = ""
			continue
		case c == '"':
			j := stringEnd(query, i)
			b.WriteString(query[i:j])
			i = j
			lastName = ""
			continue
		case isNameStart(c):
			j := nameEnd(query, i)
			lastName = query[i:j]
			b.WriteString(lastName)
			i = j
			continue
		case c == ':' && lastName == "expectedVersion":
			// The field's colon; look past white space for `:any`.
			if j, ok := anyAtomAfter(query, i); ok {
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

// The token scanners below take the index of a token's first byte and
// return the index just past it (at most len(query): an unterminated token
// runs to the end, for the parser to judge).

// commentEnd scans a # comment, which runs to the end of the line.
func commentEnd(query string, i int) int {
	j := strings.IndexAny(query[i:], "\r\n")
	if j < 0 {
		return len(query)
	}
	return i + j
}

// blockStringEnd scans a """ block string, in which only \""" escapes.
func blockStringEnd(query string, i int) int {
	n := len(query)
	j := i + 3
	for j < n && !strings.HasPrefix(query[j:], `"""`) {
		if strings.HasPrefix(query[j:], `\"""`) {
			j += 4
			continue
		}
		j++
	}
	return min(j+3, n)
}

// stringEnd scans a "..." string, which cannot span lines.
func stringEnd(query string, i int) int {
	n := len(query)
	j := i + 1
	for j < n && query[j] != '"' && query[j] != '\n' {
		if query[j] == '\\' {
			j++
		}
		j++
	}
	return min(j+1, n)
}

// nameEnd scans a name.
func nameEnd(query string, i int) int {
	j := i + 1
	for j < len(query) && isNameChar(query[j]) {
		j++
	}
	return j
}

// anyAtomAfter looks past the ignored tokens after the colon at i for a
// whole `:any`; j is where it starts.
func anyAtomAfter(query string, i int) (j int, ok bool) {
	n := len(query)
	j = i + 1
	for j < n && isIgnored(query[j]) {
		j++
	}
	return j, strings.HasPrefix(query[j:], ":any") && (j+4 == n || !isNameChar(query[j+4]))
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// isIgnored reports GraphQL's ignored tokens between a name and its colon.
func isIgnored(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' }
