// Package policy decides which HTTP requests need an MFA step-up.
//
// A policy is an ordered list of rules, each naming a path pattern and
// optionally a host and a set of methods. [Compile] validates a [Config] and
// builds an immutable [Policy]; [Policy.Match] returns the rule that decides a
// request, or nil when the request is unprotected. A compiled Policy is never
// modified and is safe for concurrent use.
//
// # Patterns
//
// A pattern is a sequence of "/"-separated segments:
//
//	/checkout          the literal path
//	/customers/{id}    {name} matches exactly one non-empty segment
//	/carts/*/items     * matches exactly one non-empty segment
//	/carts/**          /carts itself and everything below it
//	/**                every path
//
// Rules are tried in order and the first one whose method, host and path
// admit the request decides it. Matching walks a segment trie, so its cost
// depends on the depth of the patterns, not on how many rules there are.
//
// # Reading request paths
//
// The path an authorizer sees is not necessarily the path the upstream
// application routes on: servers and frameworks differ in how they decode
// percent-escapes, treat backslashes, strip ";params", trailing dots and
// spaces, merge slashes and resolve dot segments. A request is therefore
// matched under every plausible reading of its path (see [Readings]), and the
// strictest answer wins (see [Stricter]): an "mfa: none" exception only lets a
// request through when no reading reaches a rule that requires MFA.
//
// Every doubt is resolved towards protection. In particular:
//
//   - a path longer than 8 KiB, or one with more than 16 distinct readings, is
//     treated as matching every rule that requires MFA and admits the method
//     and host;
//   - an empty method stands for every method and an empty host for every
//     host: the request is protected if any method or host could make it so;
//   - in case-insensitive mode (the default), segments are compared with the
//     patterns of rules that require MFA after Unicode case folding, so
//     "/CUSTOMER-PASSWORD" and "/customer-paſſword" (long s) both match
//     "/customer-password";
//   - an "mfa: none" exception exempts only what it names, exactly as
//     written: its literal segments are compared case-exactly in either mode,
//     and its host, if any, with ASCII case folding only. A case variant of
//     an exception ("/carts/1/PUBLIC" for "/carts/{id}/public", also when
//     percent-encoded as in "/carts/1/%50UBLIC") is not exempted: it falls
//     through to the rules after the exception, such as the broader rule
//     the exception carves out of.
package policy
