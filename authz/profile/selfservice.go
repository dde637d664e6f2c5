package profile

import "net/http"

// Reasons of the MFA lifecycle: the answers of the self-service endpoints
// (activate, verify, deactivate, trigger, types) and the finer step-up
// outcomes of out-of-band and recovery codes.
const (
	// Expired: the one-time code expired, was used, or ran out of tries.
	Expired Reason = Unavailable + 1 + iota
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
)

// LifecycleReasons lists the lifecycle reasons, for tests and documentation.
var LifecycleReasons = []Reason{
	Expired, InvalidRecoveryCode, TypeMissing, DeactivationFailed, AlreadyEnabled, TypeNotFound,
	CustomerNotFound, UserNotFound, NoUserIdentifier, InvalidBody, TooManySMS, TooManyEmails,
	TooManySMSPerTenant, TooManyEmailsPerTenant, ResendCooldown, InvalidPhoneNumber, InvalidEmail,
	DeliveryFailed, StepUpRequired,
}

var lifecycleNames = map[Reason]string{
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
}

// Glue texts of the lifecycle. 5902–5909 are Spryker's table; 5913 and
// above are mfa-authz's extensions, like 5910–5912.
var glueLifecycle = map[Reason]GlueError{
	Expired:                {http.StatusForbidden, "5901", "%s is invalid."},
	InvalidRecoveryCode:    {http.StatusForbidden, "5901", "%s is invalid."},
	TypeMissing:            {http.StatusBadRequest, "5902", "MFA type is missing."},
	DeactivationFailed:     {http.StatusBadRequest, "5903", "Failed to deactivate MFA."},
	AlreadyEnabled:         {http.StatusBadRequest, "5904", "MFA type already activated."},
	TypeNotFound:           {http.StatusNotFound, "5906", "MFA type is not found."},
	CustomerNotFound:       {http.StatusNotFound, "5907", "Customer not found."},
	UserNotFound:           {http.StatusNotFound, "5908", "User not found."},
	NoUserIdentifier:       {http.StatusForbidden, "5909", "No user identifier provided."},
	InvalidBody:            {http.StatusBadRequest, "5913", "Request body is missing or is not a valid JSON:API document."},
	TooManySMS:             {http.StatusTooManyRequests, "5914", "Too many MFA codes requested. Try again later."},
	TooManyEmails:          {http.StatusTooManyRequests, "5914", "Too many MFA codes requested. Try again later."},
	TooManySMSPerTenant:    {http.StatusTooManyRequests, "5915", "MFA codes cannot be sent right now. Try again later."},
	TooManyEmailsPerTenant: {http.StatusTooManyRequests, "5915", "MFA codes cannot be sent right now. Try again later."},
	ResendCooldown:         {http.StatusTooManyRequests, "5916", "An MFA code was sent a moment ago. Wait before requesting another."},
	InvalidPhoneNumber:     {http.StatusBadRequest, "5917", "The destination for MFA codes is missing or invalid."},
	InvalidEmail:           {http.StatusBadRequest, "5917", "The destination for MFA codes is missing or invalid."},
	DeliveryFailed:         {http.StatusBadGateway, "5918", "The MFA code could not be sent. Try again later."},
	StepUpRequired:         {http.StatusForbidden, "5919", "Verify an enabled MFA type before adding another."},
}

// Problem types of the lifecycle, named after the provider vocabulary
// (transaction_expired, invalid_recovery_code, invalid_body,
// already_enrolled, method_not_found, too_many_sms, too_many_sms_per_tenant,
// invalid_phone_number, error_sending_sms) in INVERS's style.
var problemLifecycle = map[Reason]ProblemType{
	Expired: {"/problems/mfa/transaction-expired", http.StatusUnauthorized,
		"MFA code expired.", "The MFA code has expired or was already used. Please request a new code."},
	InvalidRecoveryCode: {"/problems/mfa/invalid-recovery-code", http.StatusUnauthorized,
		"Recovery code invalid.", "The provided recovery code is invalid or was already used."},
	TypeMissing: {"/problems/mfa/field-required", http.StatusBadRequest,
		"MFA type missing.", "The request body must name the MFA type in data.attributes.type."},
	DeactivationFailed: {"/problems/mfa/deactivation-failed", http.StatusBadRequest,
		"MFA deactivation failed.", "The MFA factor could not be deactivated."},
	AlreadyEnabled: {"/problems/mfa/factor-already-enrolled", http.StatusConflict,
		"MFA factor already enrolled.", "The requested MFA factor is already enrolled for this user."},
	TypeNotFound: {"/problems/mfa/method-not-found", http.StatusNotFound,
		"MFA type not found.", "The requested MFA type is not supported."},
	CustomerNotFound: {"/problems/mfa/user-not-found", http.StatusNotFound,
		"User not found.", "The user could not be found."},
	UserNotFound: {"/problems/mfa/user-not-found", http.StatusNotFound,
		"User not found.", "The user could not be found."},
	NoUserIdentifier: {"/problems/mfa/missing-identity", http.StatusUnauthorized,
		"User identity missing.", "Action is secured with MFA and requires an authenticated user."},
	InvalidBody: {"/problems/mfa/invalid-body", http.StatusBadRequest,
		"Invalid request body.", "The request body is missing, truncated, not JSON, or not of the expected type."},
	TooManySMS: {"/problems/mfa/too-many-sms", http.StatusTooManyRequests,
		"Too many SMS.", "The number of MFA codes sent by SMS to this user is exhausted. Try again later."},
	TooManyEmails: {"/problems/mfa/too-many-emails", http.StatusTooManyRequests,
		"Too many e-mails.", "The number of MFA codes sent by e-mail to this user is exhausted. Try again later."},
	TooManySMSPerTenant: {"/problems/mfa/too-many-sms-per-tenant", http.StatusTooManyRequests,
		"Too many SMS for the tenant.", "The number of MFA codes sent by SMS is exhausted for now. Try again later."},
	TooManyEmailsPerTenant: {"/problems/mfa/too-many-emails-per-tenant", http.StatusTooManyRequests,
		"Too many e-mails for the tenant.", "The number of MFA codes sent by e-mail is exhausted for now. Try again later."},
	ResendCooldown: {"/problems/mfa/resend-cooldown", http.StatusTooManyRequests,
		"MFA code sent recently.", "An MFA code was sent a moment ago. Wait before requesting another."},
	InvalidPhoneNumber: {"/problems/mfa/invalid-phone-number", http.StatusBadRequest,
		"Invalid phone number.", "The phone number for MFA codes is missing or not in E.164 form."},
	InvalidEmail: {"/problems/mfa/invalid-email", http.StatusBadRequest,
		"Invalid e-mail address.", "The e-mail address for MFA codes is missing or invalid."},
	DeliveryFailed: {"/problems/mfa/delivery-failed", http.StatusBadGateway,
		"MFA code not sent.", "The MFA code could not be sent. Try again later."},
	StepUpRequired: {"/problems/mfa/step-up-required", http.StatusForbidden,
		"MFA step-up required.", "Adding an MFA factor requires a recent verification with an enabled factor. Please provide '%s' header."},
}

func init() {
	for r, e := range glueLifecycle {
		GlueCode[r] = e
	}
	for r, t := range problemLifecycle {
		ProblemTypes[r] = t
	}
}
