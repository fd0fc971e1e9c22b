// grpcbench measures unary Version calls against a CRI server through grpc-go, the gRPC
// implementation of the kubelet and crictl. Each client has its own connection.
//
// Usage: grpcbench -socket PATH -clients 8 -calls 100000
// Prints one line of JSON: calls, clients, seconds, p50_us, p90_us, p99_us, max_us.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// versionRequest is VersionRequest{version: "0.1.0"}, serialized.
var versionRequest = []byte{0x0a, 0x05, '0', '.', '1', '.', '0'}

func dial(socket string) *grpc.ClientConn {
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", addr)
	}
	conn, err := grpc.Dial(socket, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(dialer), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	return conn
}

func main() {
	socket := flag.String("socket", "", "unix socket path of the CRI server")
	clients := flag.Int("clients", 1, "concurrent clients, each with its own connection")
	calls := flag.Int("calls", 10000, "calls in total, split between the clients")
	warmup := flag.Int("warmup", 200, "calls per client before measuring")
	flag.Parse()

	conns := make([]*grpc.ClientConn, *clients)
	for i := range conns {
		conns[i] = dial(*socket)
	}
	perClient := *calls / *clients
	latencies := make([][]time.Duration, *clients)
	var wg sync.WaitGroup
	call := func(conn *grpc.ClientConn) time.Duration {
		request := versionRequest
		var response []byte
		start := time.Now()
		if err := conn.Invoke(context.Background(), "/runtime.v1.RuntimeService/Version",
			&request, &response); err != nil {
			fmt.Fprintln(os.Stderr, "call:", err)
			os.Exit(3)
		}
		return time.Since(start)
	}
	for i := range conns {
		for j := 0; j < *warmup; j++ {
			call(conns[i])
		}
	}
	begin := time.Now()
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			own := make([]time.Duration, 0, perClient)
			for j := 0; j < perClient; j++ {
				own = append(own, call(conns[i]))
			}
			latencies[i] = own
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(begin)

	var all []time.Duration
	for _, own := range latencies {
		all = append(all, own...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	percentile := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1000
	}
	result := map[string]interface{}{
		"calls": len(all), "clients": *clients, "seconds": elapsed.Seconds(),
		"p50_us": percentile(0.50), "p90_us": percentile(0.90), "p99_us": percentile(0.99),
		"max_us": percentile(1.0),
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}
