// Package charttest renders the mfa-authz Helm chart with the Helm Go SDK
// and checks every rendered object against its Kubernetes (or Istio, or
// Prometheus Operator) Go type with unknown fields rejected. It is a module
// of its own so that Helm's and Kubernetes' dependencies stay out of the
// main go.mod.
package charttest
