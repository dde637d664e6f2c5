// Package extauthz serves the decision engine over Envoy's external
// authorization gRPC API (envoy.service.auth.v3.Authorization). It only
// translates: a CheckRequest into an authz.Request, a Decision into a
// CheckResponse. Every decision is the engine's.
package extauthz

import (
	"context"
	"fmt"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Server implements authv3.AuthorizationServer on an engine.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	engine *authz.Engine
	log    *zap.Logger

	// Allow answers are the same for every request of a kind, so they are
	// built once and shared (protobuf messages are safe to marshal concurrently).
	allowUnprotected *authv3.CheckResponse
	allowVerified    map[string]*authv3.CheckResponse
	// So are denials whose answer is the same for every request: the glue
	// profile's, without retry-after. One per reason, built on first use;
	// an answer that differs (a problem body's flow_id) is built afresh.
	denials [256]atomic.Pointer[sharedDenial]
}

// sharedDenial is a denial's answer and the CheckResponse that carries it.
type sharedDenial struct {
	den  profile.Answer
	resp *authv3.CheckResponse
}

// New returns a Server deciding with engine. log may be nil.
func New(engine *authz.Engine, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{engine: engine, log: log, allowVerified: make(map[string]*authv3.CheckResponse)}
	s.allowUnprotected = s.allow("")
	for _, m := range engine.Methods() {
		s.allowVerified[m] = s.allow(m)
	}
	return s
}

// allow builds an OK answer. The MFA header never goes upstream; the
// method header is set to the verifying factor, or removed so a client
// cannot forge it.
func (s *Server) allow(method string) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{HeadersToRemove: []string{s.engine.HeaderName()}}
	if method == "" {
		ok.HeadersToRemove = append(ok.HeadersToRemove, authz.MethodHeader)
	} else {
		ok.Headers = []*corev3.HeaderValueOption{{
			Header:       &corev3.HeaderValue{Key: authz.MethodHeader, Value: method},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}}
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// Check implements authv3.AuthorizationServer.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (resp *authv3.CheckResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("check adapter panicked; request denied", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			resp, err = s.malformed(req.GetAttributes().GetRequest().GetHttp().GetId()), nil
		}
	}()
	hv := headersPool.Get().(*headers)
	defer func() { *hv = headers{}; headersPool.Put(hv) }()
	r, problem := request(req, hv)
	if problem != "" {
		if ce := s.log.Check(zap.DebugLevel, "malformed check request denied"); ce != nil {
			ce.Write(zap.String("problem", problem))
		}
		return s.malformed(r.ID), nil
	}
	d := s.engine.Check(ctx, &r)
	if ce := s.log.Check(zap.DebugLevel, "decision"); ce != nil {
		ce.Write(zap.Bool("allowed", d.Allowed), zap.Stringer("reason", d.Reason), zap.String("detail", d.Detail),
			zap.String("method", d.Method), zap.String("user_hash", hashIf(d.User)))
	}
	if d.Allowed {
		if d.Method == "" {
			return s.allowUnprotected, nil
		}
		if a, ok := s.allowVerified[d.Method]; ok {
			return a, nil
		}
		return s.allow(d.Method), nil
	}
	return s.deny(d), nil
}

// deny returns the answer to a denied request, shared when an identical
// one was built before.
func (s *Server) deny(d authz.Decision) *authv3.CheckResponse {
	if d.Answer.RetryAfter != 0 {
		return denied(codes.PermissionDenied, d.Answer)
	}
	slot := &s.denials[d.Reason]
	if sd := slot.Load(); sd != nil && sd.den == d.Answer {
		return sd.resp
	}
	resp := denied(codes.PermissionDenied, d.Answer)
	if slot.Load() == nil {
		slot.Store(&sharedDenial{den: d.Answer, resp: resp})
	}
	return resp
}

func hashIf(user string) string {
	if user == "" {
		return ""
	}
	return authz.HashUser(user)
}

// malformed denies a request the engine cannot be asked about, with the
// profile's Unavailable body and an INVALID_ARGUMENT rpc status.
func (s *Server) malformed(flowID string) *authv3.CheckResponse {
	return denied(codes.InvalidArgument, s.engine.Answer(profile.Unavailable, flowID))
}

func denied(code codes.Code, den profile.Answer) *authv3.CheckResponse {
	headers := make([]*corev3.HeaderValueOption, 0, 3)
	den.Headers(func(name, value string) { headers = append(headers, header(name, value)) })
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(den.Status)},
			Headers: headers,
			Body:    den.Body,
		}},
	}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
