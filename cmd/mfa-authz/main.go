// Command mfa-authz is an Envoy external authorization service that puts
// multi-factor step-up in front of existing HTTP services.
//
//	mfa-authz serve   --config FILE
//	mfa-authz enroll  totp --user ID --config FILE [--output json] [--qr FILE.png] [--force]
//	mfa-authz policy  check   --config FILE
//	mfa-authz policy  explain --config FILE METHOD URL
//	mfa-authz migrate --from DIR --to REDIS_URL --config FILE [--users FILE] [--force]
//	mfa-authz version
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `mfa-authz: MFA step-up for Envoy's external authorization

Usage:
  mfa-authz serve   --config FILE                 serve ext_authz Check over gRPC
  mfa-authz enroll  totp --user ID --config FILE  enroll a user's TOTP authenticator
  mfa-authz enroll  email|sms --user ID --destination DEST --config FILE
                                                  enroll a user's e-mail or SMS factor
  mfa-authz user    show|disable|reset|recovery-codes --user ID --config FILE
                                                  administer a user's MFA
  mfa-authz migrate --from DIR --to REDIS_URL --config FILE
                                                  copy enrollments from the embedded store to Redis
  mfa-authz policy  check --config FILE           validate and list the policy rules
  mfa-authz policy  explain --config FILE METHOD URL
                                                  show how a request is matched
  mfa-authz version                               print the version

Run 'mfa-authz COMMAND --help' for a command's flags.
`

// exitUsage is the exit status for bad flags or arguments; other failures exit 1.
const exitUsage = 2

// errUsage marks errors that are the caller's misuse of the command line.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(args[1:], stdout, stderr)
	case "enroll":
		err = enrollCmd(args[1:], stdout, stderr)
	case "policy":
		err = policyCmd(args[1:], stdout, stderr)
	case "user":
		err = userCmd(args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "mfa-authz %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "mfa-authz: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mfa-authz: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "mfa-authz: %v\n", err)
		return 1
	}
}

// newFlagSet returns a flag set whose errors are returned, not fatal, and
// whose --help prints the command's usage line and flags.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mfa-authz %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, wrapping flag errors as usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w: %v", fs.Name(), errUsage, err)
	}
	return nil
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// writeJSON writes v as one line of JSON. HTML escaping is off, so that an
// otpauth URI keeps its "&" as a user copies it, rather than "\u0026".
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
