package service

import (
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/page"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// newPage builds the enrollment page from the page section over the
// self-service endpoints; nil when page.enabled is false (config
// validation makes sure the endpoints are on when it is true).
func (s *Service) newPage(c *config.Config, st store.Store) (*page.Page, error) {
	if !c.Page.Enabled || s.API == nil {
		return nil, nil
	}
	return page.New(page.Options{
		API:    s.API,
		Engine: s.Engine,
		Hasher: st,
		Path:   c.Page.Path,
		Paths: mfaapi.Paths{
			Types: c.API.TypesPath, Activate: c.API.ActivatePath, Verify: c.API.VerifyPath,
			Deactivate: c.API.DeactivatePath, Trigger: c.API.TriggerPath, RecoveryCodes: c.API.RecoveryCodesPath,
		},
		WebAuthnPaths: mfaapi.WebAuthnPaths{
			RegistrationOptions: c.API.WebAuthnRegistrationOptionsPath, Registration: c.API.WebAuthnRegistrationPath,
			Challenge: c.API.WebAuthnChallengePath, Verify: c.API.WebAuthnVerifyPath,
		},
		Logger: s.Log,
	})
}

// pageHandler serves the enrollment page on the HTTP listener in front of
// next.
func (s *Service) pageHandler(next http.Handler) http.Handler {
	if s.Page == nil {
		return next
	}
	return s.Page.Handler(next)
}
