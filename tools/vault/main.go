// Command vault builds the upstream Vault CLI and server from the
// github.com/hashicorp/vault module, for machines without a vault binary.
// scripts/deps.sh builds it once and caches the binary outside git.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
