// Package scripts holds the shell scripts that install, start and stop the
// local stack (deps.sh, up.sh, down.sh, test.sh, secrets.sh), run a load
// test against it (load.sh), and the tests that run them end to end. It
// has no Go API.
package scripts
