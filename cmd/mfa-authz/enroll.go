package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pquerna/otp"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	ftotp "github.com/mfa-authz/mfa-authz/authz/factor/totp"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

const enrollSynopsis = "enroll totp --user ID --config FILE [--output text|json] [--qr FILE.png] [--force]"

func enrollCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintf(stderr, "Usage: mfa-authz %s\n\nMethods: totp\nRun 'mfa-authz enroll totp --help' for the flags.\n", enrollSynopsis)
		if len(args) == 0 {
			return usageErr("enroll: name a method: totp")
		}
		return nil
	}
	f, _ := builtin.Registry().Lookup(args[0])
	switch f := f.(type) {
	case factor.Destined:
		return enrollDestined(args[1:], stdout, stderr, f)
	case factor.Generated:
		// The one generated factor, TOTP, has the flags below.
	default:
		return usageErr("enroll: unknown method %q: enroll %s", args[0], orList(enrollableNames()))
	}
	fs := newFlagSet("enroll totp", enrollSynopsis, stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	user := fs.String("user", "", "user id, as the identity config yields it (e.g. the JWT sub); required")
	output := fs.String("output", "text", "output format: text or json")
	qr := fs.String("qr", "", "also write the otpauth URI as a QR code PNG to this file")
	force := fs.Bool("force", false, "replace the user's existing TOTP secret")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case *cfgPath == "":
		return usageErr("enroll totp: --config FILE is required")
	case *user == "":
		return usageErr("enroll totp: --user ID is required")
	case *output != "text" && *output != "json":
		return usageErr("enroll totp: --output must be text or json, got %q", *output)
	case fs.NArg() > 0:
		return usageErr("enroll totp: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log, err := service.NewLogger(config.Log{Level: "warn", Format: "console"})
	if err != nil {
		return err
	}
	st, err := service.OpenStore(cfg.Storage, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return enrollTOTP(context.Background(), st, cfg.TOTP, *user, *force, *output, *qr, stdout)
}

// enrollTOTP creates the user's TOTP factor, keeping any other factor they
// have. When it is the user's first enabled factor, the user also gets
// recovery codes, printed once after the factor.
func enrollTOTP(ctx context.Context, st store.Store, tc totp.Config, user string, force bool, output, qrPath string, stdout io.Writer) error {
	enr, err := st.Enrollment(ctx, user)
	repair := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		enr = nil
	case errors.Is(err, store.ErrCorrupt) && force:
		// Replacing an unreadable record is how an operator repairs it.
		enr, repair = nil, true
	case err != nil:
		return err
	}
	var tf ftotp.Factor
	if enr != nil && tf.Status(enr) != factor.StatusDisabled && !force {
		return fmt.Errorf("user %q already has a TOTP secret; use --force to replace it", user)
	}
	act, err := tf.Generate(&factor.EnrollEnv{TOTP: tc}, user, time.Now())
	if err != nil {
		return err
	}
	shown, ok := act.Shown.(ftotp.Shown)
	if !ok {
		return fmt.Errorf("enroll totp: the factor showed %T, not a secret", act.Shown)
	}
	key := shown.Key
	// Write the QR code before storing the secret: a secret nobody could
	// see must never replace a working one.
	if qrPath != "" {
		if err := writeQR(qrPath, key); err != nil {
			return err
		}
	}
	var codes []string
	if repair {
		// The unreadable record cannot be updated, only replaced; nothing
		// of it can be trusted, so the new factor is the first one.
		next := &store.Enrollment{}
		act.Put(next, false)
		if codes, err = otc.FirstRecovery(st, user, next, true); err == nil {
			err = st.PutEnrollment(ctx, user, next, true)
		}
	} else {
		err = st.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
			codes = nil // a store may call fn again after a conflicting write
			next := &store.Enrollment{}
			if cur != nil {
				c := *cur
				next = &c
			}
			if tf.Status(next) != factor.StatusDisabled && !force {
				return nil, errEnrolledConcurrently
			}
			first := len(next.Methods()) == 0
			act.Put(next, false)
			var err error
			codes, err = otc.FirstRecovery(st, user, next, first)
			return next, err
		})
	}
	if err != nil {
		if qrPath != "" {
			_ = os.Remove(qrPath)
		}
		if errors.Is(err, errEnrolledConcurrently) {
			return fmt.Errorf("user %q was enrolled concurrently; run again with --force to replace it", user)
		}
		return err
	}
	if output == "json" {
		return writeJSON(stdout, struct {
			User          string   `json:"user"`
			Secret        string   `json:"secret"`
			URI           string   `json:"uri"`
			RecoveryCodes []string `json:"recovery_codes,omitempty"`
		}{user, shown.Secret, shown.URI, codes})
	}
	fmt.Fprintf(stdout, "Enrolled TOTP for user %q.\nSecret: %s\nURI:    %s\n", user, shown.Secret, shown.URI)
	if qrPath != "" {
		fmt.Fprintf(stdout, "QR:     %s\n", qrPath)
	}
	if codes != nil {
		return printRecovery(stdout, user, codes, "text")
	}
	return nil
}

var errEnrolledConcurrently = errors.New("enrolled concurrently")

func writeQR(path string, key *otp.Key) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--qr: %w", err)
	}
	if err := totp.QRPNG(f, key, 256); err != nil {
		f.Close()
		return fmt.Errorf("--qr %s: %w", path, err)
	}
	return f.Close()
}

// enrollableNames returns the methods enroll takes, in preference order:
// the shipped factors an operator can enroll without the user (a
// generated secret, or a destination the operator vouches for).
func enrollableNames() []string {
	var names []string
	for _, f := range builtin.Registry().Factors() {
		switch f.(type) {
		case factor.Generated, factor.Destined:
			names = append(names, f.Name())
		}
	}
	return names
}
