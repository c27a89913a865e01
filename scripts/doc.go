// Package scripts holds the shell scripts that install, start and stop the
// local stack (deps.sh, up.sh, down.sh, test.sh, secrets.sh) and the test
// that runs them end to end. It has no Go API.
package scripts
