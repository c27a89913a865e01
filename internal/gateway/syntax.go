package gateway

import "fmt"

// unclosedBefore finds the innermost '{', '(' or '[' still open at
// (line, column) of query, skipping strings and comments, and describes
// where it was opened. A missing closing brace (as in the docs'
// terminateCustomer example) is then easy to find.
func unclosedBefore(query string, line, column int) (string, bool) {
	type open struct {
		c         byte
		line, col int
	}
	var stack []open
	l, col := 1, 1
	for i := 0; i < len(query); i++ {
		if l > line || (l == line && col >= column) {
			break
		}
		c := query[i]
		switch c {
		case '#':
			for i < len(query) && query[i] != '\n' {
				i++
			}
			l, col = l+1, 1
			continue
		case '"':
			i++
			col++
			for i < len(query) && query[i] != '"' && query[i] != '\n' {
				if query[i] == '\\' {
					i++
					col++
				}
				i++
				col++
			}
		case '{', '(', '[':
			stack = append(stack, open{c, l, col})
		case '}', ')', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		if c == '\n' {
			l, col = l+1, 1
		} else {
			col++
		}
	}
	if len(stack) == 0 {
		return "", false
	}
	top := stack[len(stack)-1]
	closer := map[byte]byte{'{': '}', '(': ')', '[': ']'}[top.c]
	return fmt.Sprintf("the %q opened at line %d, column %d is not closed (missing %q?)", top.c, top.line, top.col, closer), true
}
