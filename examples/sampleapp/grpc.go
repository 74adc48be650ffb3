package main

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// newGRPCServer serves the interop TestService, the same service shadowplane's
// proxyless gRPC tests route, plus the standard health service.
func newGRPCServer(version string, f *faults, m *metrics) (*grpc.Server, *health.Server) {
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, &testService{version: version, faults: f, metrics: m})
	hs := health.NewServer()
	hs.SetServingStatus(testgrpc.TestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	return s, hs
}

// testService implements UnaryCall only; the other methods stay
// Unimplemented and are not measured.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	version string
	faults  *faults
	metrics *metrics
}

func (s *testService) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	start := time.Now()
	mirrored := false
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		v := md.Get(mirrorHeader)
		mirrored = len(v) > 0 && strings.EqualFold(v[0], "true")
	}
	inj := s.faults.next()
	if err := sleep(ctx, inj.delay); err != nil {
		st := status.FromContextError(err)
		s.metrics.observe(protoGRPC, st.Code().String(), mirrored, false, time.Since(start))
		return nil, st.Err()
	}
	// Like the HTTP x-version header: says who answered, errors included.
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-version", s.version)) // fails only if headers were already sent
	if inj.fail {
		s.metrics.observe(protoGRPC, codes.Unavailable.String(), mirrored, true, time.Since(start))
		return nil, status.Errorf(codes.Unavailable, "injected error version=%s", s.version)
	}
	s.metrics.observe(protoGRPC, codes.OK.String(), mirrored, false, time.Since(start))
	return &testgrpc.SimpleResponse{ServerId: s.version}, nil
}
