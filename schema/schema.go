// Package schema holds the GraphQL schema of the gateway.
package schema

import _ "embed"

// SDL is the GraphQL schema, as served.
//
//go:embed customers.graphql
var SDL string
