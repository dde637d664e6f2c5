// Command baseline is a no-op ext_authz server: it answers every Check with
// the same static OK. The load harness measures it beside mfa-authz, with
// the same requests, so that the difference between the two is the cost of
// mfa-authz's decisions and not of gRPC, protobuf or the load generator.
//
// It is built from the same grpc and go-control-plane versions as
// mfa-authz, serves the same services (ext_authz Check, grpc.health.v1,
// server reflection) with the same server options, and prints
// "baseline serving on ADDR" once it accepts connections.
//
// With --http-addr it is also the no-op twin of mfa-authz's HTTP listener,
// for the harness's proxy stages: 200 with an empty body to every request
// (an allowed forward-auth check), from net/http with the timeouts
// mfa-authz's HTTP server has; it prints "baseline http serving on ADDR".
//
//	baseline [--addr 127.0.0.1:0] [--http-addr 127.0.0.1:0]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// okServer answers every Check with one prebuilt response.
type okServer struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

func (s *okServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return s.resp, nil
}

// staticOK has the shape of mfa-authz's answer to an unprotected request
// (OK, two headers to remove), so both servers send answers of the same size.
func staticOK() *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			HeadersToRemove: []string{"x-mfa-code", "x-mfa-method"},
		}},
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "gRPC listen address")
	httpAddr := flag.String("http-addr", "", "HTTP listen address of the no-op forward-auth endpoint (none when empty)")
	flag.Parse()
	if err := run(*addr, *httpAddr); err != nil {
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, httpAddr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var hl net.Listener
	if httpAddr != "" {
		if hl, err = net.Listen("tcp", httpAddr); err != nil {
			return err
		}
	}
	gs := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	authv3.RegisterAuthorizationServer(gs, &okServer{resp: staticOK()})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(l) }()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	fmt.Printf("baseline serving on %s\n", l.Addr())
	var hsrv *http.Server
	if hl != nil {
		hsrv = &http.Server{
			Handler:           http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), // 200, empty body
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		}
		go func() { errc <- hsrv.Serve(hl) }()
		fmt.Printf("baseline http serving on %s\n", hl.Addr())
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	hs.Shutdown()
	if hsrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hsrv.Shutdown(sctx)
		cancel()
	}
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	return nil
}
