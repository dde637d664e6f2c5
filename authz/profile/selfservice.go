package profile

// Reasons of the self-service endpoints: their answers
// (activate, verify, deactivate, trigger, types) and the finer step-up
// outcomes of out-of-band and recovery codes.
const (
	// Expired: the one-time code expired, was used, or ran out of tries.
	Expired Reason = MalformedCode + 1 + iota
	// InvalidRecoveryCode: a recovery code that is not one of the user's
	// unused codes.
	InvalidRecoveryCode
	// TypeMissing: the request names no MFA type.
	TypeMissing
	// DeactivationFailed: a deactivation was refused (Glue collapses every
	// deactivation failure into it).
	DeactivationFailed
	// AlreadyEnabled: the MFA type is already activated.
	AlreadyEnabled
	// TypeNotFound: the MFA type is not one this service offers.
	TypeNotFound
	// CustomerNotFound and UserNotFound are Spryker's 5907 and 5908.
	CustomerNotFound
	UserNotFound
	// NoUserIdentifier: Spryker's 5909, the back-office variant of NoIdentity.
	NoUserIdentifier
	// InvalidBody: the JSON:API body is absent, truncated, not JSON, or of
	// the wrong data.type.
	InvalidBody
	// TooManySMS and TooManyEmails: the user's send limit is reached.
	TooManySMS
	TooManyEmails
	// TooManySMSPerTenant and TooManyEmailsPerTenant: the global limit is reached.
	TooManySMSPerTenant
	TooManyEmailsPerTenant
	// ResendCooldown: a code was sent to the user moments ago.
	ResendCooldown
	// InvalidPhoneNumber and InvalidEmail: no usable destination.
	InvalidPhoneNumber
	InvalidEmail
	// DeliveryFailed: the code could not be handed to the sender.
	DeliveryFailed
	// StepUpRequired: a user with an enabled factor must prove it before
	// adding another, or a stolen first factor could enroll its own.
	StepUpRequired
	// FactorNotActive: the MFA type is offered but not in the status the
	// endpoint needs (trigger or deactivate of a type that is not
	// enabled, verify of one that is not being activated).
	FactorNotActive
	// MethodNotAllowed: a self-service path asked with an HTTP method it
	// does not answer (405, with an Allow header).
	MethodNotAllowed
)

// SelfServiceReasons lists the self-service reasons, for tests and documentation.
var SelfServiceReasons = []Reason{
	Expired, InvalidRecoveryCode, TypeMissing, DeactivationFailed, AlreadyEnabled, TypeNotFound,
	CustomerNotFound, UserNotFound, NoUserIdentifier, InvalidBody, TooManySMS, TooManyEmails,
	TooManySMSPerTenant, TooManyEmailsPerTenant, ResendCooldown, InvalidPhoneNumber, InvalidEmail,
	DeliveryFailed, StepUpRequired, FactorNotActive, MethodNotAllowed,
}

var selfServiceNames = map[Reason]string{
	Expired:                "expired_code",
	InvalidRecoveryCode:    "invalid_recovery_code",
	TypeMissing:            "type_missing",
	DeactivationFailed:     "deactivation_failed",
	AlreadyEnabled:         "already_enabled",
	TypeNotFound:           "type_not_found",
	CustomerNotFound:       "customer_not_found",
	UserNotFound:           "user_not_found",
	NoUserIdentifier:       "no_user_identifier",
	InvalidBody:            "invalid_body",
	TooManySMS:             "too_many_sms",
	TooManyEmails:          "too_many_emails",
	TooManySMSPerTenant:    "too_many_sms_per_tenant",
	TooManyEmailsPerTenant: "too_many_emails_per_tenant",
	ResendCooldown:         "resend_cooldown",
	InvalidPhoneNumber:     "invalid_phone_number",
	InvalidEmail:           "invalid_email",
	DeliveryFailed:         "delivery_failed",
	StepUpRequired:         "step_up_required",
	FactorNotActive:        "factor_not_active",
	MethodNotAllowed:       "method_not_allowed",
}
