package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

const userSynopsis = "user show|disable|reset|recovery-codes --user ID --config FILE [--method M] [--output text|json]"

// userCmd is the administrator's view of one user: show the factors,
// disable one (or all), reset everything, or issue new recovery codes.
func userCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: mfa-authz %s\n", userSynopsis)
		if len(args) == 0 {
			return usageErr("user: name an action: show, disable, reset or recovery-codes")
		}
		return nil
	}
	action := args[0]
	switch action {
	case "show", "disable", "reset", "recovery-codes":
	default:
		return usageErr("user: unknown action %q (want show, disable, reset or recovery-codes)", action)
	}
	fs := newFlagSet("user "+action, userSynopsis, stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	user := fs.String("user", "", "user id; required")
	method := fs.String("method", "", "disable: the method to disable (totp, email, sms); empty disables all")
	output := fs.String("output", "text", "output format: text or json")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case *cfgPath == "":
		return usageErr("user %s: --config FILE is required", action)
	case *user == "":
		return usageErr("user %s: --user ID is required", action)
	case *output != "text" && *output != "json":
		return usageErr("user %s: --output must be text or json, got %q", action, *output)
	case fs.NArg() > 0:
		return usageErr("user %s: unexpected argument %q", action, fs.Arg(0))
	case *method != "" && disableable(*method) == nil:
		return usageErr("user %s: --method must be %s, got %q", action, orList(disableableNames()), *method)
	}
	st, err := openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch action {
	case "show":
		enr, err := st.Enrollment(ctx, *user)
		if errors.Is(err, store.ErrNotFound) {
			enr, err = &store.Enrollment{}, nil
		}
		if err != nil {
			return fmt.Errorf("user %q: %w", *user, err) // store errors name records, not users
		}
		return showUser(stdout, *user, enr, *output)
	case "disable", "reset":
		if action == "reset" {
			*method = ""
		}
		err := st.UpdateEnrollment(ctx, *user, func(cur *store.Enrollment) (*store.Enrollment, error) {
			if cur == nil {
				return nil, errNoEnrollment
			}
			if *method == "" {
				return nil, nil
			}
			return factor.Without(disableable(*method), cur), nil
		})
		if err != nil {
			return fmt.Errorf("user %q: %w", *user, err)
		}
		if _, sent := disableable(*method).(factor.Sent); sent {
			_ = st.UpdatePendingCode(ctx, *user, *method, func(*store.PendingCode) (*store.PendingCode, error) { return nil, nil })
		}
		what := "all MFA factors and recovery codes"
		if *method != "" {
			what = *method
		}
		fmt.Fprintf(stdout, "Disabled %s of user %q.\n", what, *user)
		return endSessions(ctx, st, *user, stdout)
	default: // recovery-codes
		codes, err := mfaapi.Regenerate(ctx, st, *user)
		if mfaapi.IsNotEnabled(err) {
			return fmt.Errorf("user %q has no enabled MFA method; recovery codes need one", *user)
		}
		if err != nil {
			return fmt.Errorf("user %q: %w", *user, err)
		}
		return printRecovery(stdout, *user, codes, *output)
	}
}

// errNoEnrollment refuses to disable or reset a user with nothing enrolled.
var errNoEnrollment = errors.New("no MFA enrollment")

// endSessions ends the user's verified session after disable or reset and
// says how far that reaches. A store whose sessions every replica reads on
// each protected request (store.SharedSessions: Redis) has the session
// deleted, which ends it everywhere at once (the store already does when a
// factor goes; this covers the rest). A running server on a store with a
// revocation log (store.RevocationLog: the embedded store) keeps its
// sessions in its own memory, out of this process's reach: a revocation
// written to the store tells it to drop the user's session (it polls
// every second).
func endSessions(ctx context.Context, st store.Store, user string, stdout io.Writer) error {
	switch st := st.(type) {
	case store.SharedSessions:
		if err := st.Sessions().DeleteSession(ctx, user); err != nil {
			return fmt.Errorf("the factors are removed, but the session of user %q could not be ended: %w", user, err)
		}
		fmt.Fprintf(stdout, "Ended the session of user %q on every replica.\n", user)
	case store.RevocationLog:
		if err := st.RevokeSessions(ctx, user); err != nil {
			return fmt.Errorf("the factors are removed, but the session of user %q could not be ended: %w", user, err)
		}
		fmt.Fprintf(stdout, "Ended the session of user %q (a running server drops it within a second).\n", user)
	}
	return nil
}

// openStore opens the store the config at cfgPath names, as the server does.
func openStore(cfgPath string) (store.Store, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	log, err := service.NewLogger(config.Log{Level: "warn", Format: "console"})
	if err != nil {
		return nil, err
	}
	return service.OpenStore(cfg.Storage, log)
}

func showUser(w io.Writer, user string, enr *store.Enrollment, output string) error {
	type shown struct {
		Method      string `json:"method"`
		Status      int    `json:"status"`
		Destination string `json:"destination,omitempty"`
	}
	out := struct {
		User          string  `json:"user"`
		Factors       []shown `json:"factors"`
		RecoveryCodes int     `json:"recovery_codes_unused"`
	}{User: user, Factors: []shown{}, RecoveryCodes: enr.UnusedRecoveryCodes()}
	for _, e := range builtin.Enrollable() {
		s := e.Status(enr)
		if s == mfaapi.StatusDisabled {
			continue
		}
		f := shown{Method: e.Name(), Status: s}
		if d, ok := e.(factor.Destined); ok {
			f.Destination = delivery.Mask(d.Destination(enr))
		}
		out.Factors = append(out.Factors, f)
	}
	if output == "json" {
		return writeJSON(w, out)
	}
	fmt.Fprintf(w, "User %q\n", user)
	if len(out.Factors) == 0 {
		fmt.Fprintln(w, "No MFA factor.")
	}
	names := map[int]string{mfaapi.StatusInProgress: "activation in progress", mfaapi.StatusEnabled: "enabled"}
	for _, f := range out.Factors {
		fmt.Fprintf(w, "  %-6s %s", f.Method, names[f.Status])
		if f.Destination != "" {
			fmt.Fprintf(w, " (%s)", f.Destination)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Unused recovery codes: %d\n", out.RecoveryCodes)
	return nil
}

func printRecovery(w io.Writer, user string, codes []string, output string) error {
	if output == "json" {
		return writeJSON(w, struct {
			User          string   `json:"user"`
			RecoveryCodes []string `json:"recovery_codes"`
		}{user, codes})
	}
	fmt.Fprintf(w, "Recovery codes for user %q (each works once; shown only now):\n", user)
	for _, c := range codes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	return nil
}

// enrollDestined enrolls a factor with a destination (e-mail, SMS) as
// enabled (the operator vouches for the destination) and, if it is the
// user's first enabled method, generates and prints recovery codes.
func enrollDestined(args []string, stdout, stderr io.Writer, f factor.Destined) error {
	method := f.Name()
	fs := newFlagSet("enroll "+method, "enroll "+method+" --user ID --destination DEST --config FILE [--output text|json] [--force]", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	user := fs.String("user", "", "user id; required")
	dest := fs.String("destination", "", "e-mail address (email) or E.164 phone number (sms); required")
	output := fs.String("output", "text", "output format: text or json")
	force := fs.Bool("force", false, "replace the user's existing factor of this method")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *cfgPath == "":
		return usageErr("enroll %s: --config FILE is required", method)
	case *user == "":
		return usageErr("enroll %s: --user ID is required", method)
	case *output != "text" && *output != "json":
		return usageErr("enroll %s: --output must be text or json, got %q", method, *output)
	case fs.NArg() > 0:
		return usageErr("enroll %s: unexpected argument %q", method, fs.Arg(0))
	case !f.ValidDestination(*dest):
		return usageErr("enroll %s: --destination must be %s, got %q", method, f.DestinationHint(), *dest)
	}
	st, err := openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var codes []string
	err = st.UpdateEnrollment(context.Background(), *user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		codes = nil // a store may call fn again after a conflicting write
		next := &store.Enrollment{}
		if cur != nil {
			c := *cur
			next = &c
		}
		if f.Status(next) != mfaapi.StatusDisabled && !*force {
			return nil, fmt.Errorf("user %q already has %s enrolled; use --force to replace it", *user, method)
		}
		first := len(next.Methods()) == 0
		f.Register(next, *dest, true, time.Now())
		var err error
		codes, err = otc.FirstRecovery(st, *user, next, first)
		return next, err
	})
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, struct {
			User          string   `json:"user"`
			Method        string   `json:"method"`
			Destination   string   `json:"destination"`
			RecoveryCodes []string `json:"recovery_codes,omitempty"`
		}{*user, method, *dest, codes})
	}
	fmt.Fprintf(stdout, "Enrolled %s for user %q: %s\n", method, *user, *dest)
	if codes != nil {
		return printRecovery(stdout, *user, codes, "text")
	}
	return nil
}

// disableable returns the factor called name that user disable takes: a
// shipped factor that needs no configuration and that an enrollment holds
// (recovery codes go with the last factor, not on their own); nil for any
// other name.
func disableable(name string) factor.Enrollable {
	f, ok := builtin.Registry().Lookup(name)
	if !ok {
		return nil
	}
	e, _ := f.(factor.Enrollable)
	return e
}

// disableableNames returns the names disableable takes, in preference order.
func disableableNames() []string {
	var names []string
	for _, n := range builtin.Registry().Names() {
		if disableable(n) != nil {
			names = append(names, n)
		}
	}
	return names
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
