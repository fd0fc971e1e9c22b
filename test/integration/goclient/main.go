// goclient sends one recorded CRI request to hostcri through grpc-go, the gRPC
// implementation of the kubelet and crictl, and writes the raw response message.
//
// It dials the socket path itself, as crictl does, so grpc-go sends the path as the
// :authority pseudo-header: the value that HTTP/2 libraries' default checks reject.
//
// Usage: goclient -socket PATH -method /runtime.v1.RuntimeService/Version \
//            -request request.bin -response response.bin
// On a gRPC error it prints "status CODE: message" to stderr and exits 3.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec passes already serialized protobuf messages through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func main() {
	socket := flag.String("socket", "", "unix socket path of the CRI server")
	method := flag.String("method", "", "full method path, e.g. /runtime.v1.RuntimeService/Version")
	requestPath := flag.String("request", "", "file with the serialized request message")
	responsePath := flag.String("response", "", "file to write the serialized response message to")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of the call")
	flag.Parse()

	request, err := ioutil.ReadFile(*requestPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read request:", err)
		os.Exit(2)
	}
	encoding.RegisterCodec(rawCodec{})

	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.DialContext(ctx, *socket, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(dialer), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()

	var response []byte
	if err := conn.Invoke(ctx, *method, &request, &response); err != nil {
		st, _ := status.FromError(err)
		fmt.Fprintf(os.Stderr, "status %s: %s\n", st.Code(), st.Message())
		os.Exit(3)
	}
	if err := ioutil.WriteFile(*responsePath, response, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "write response:", err)
		os.Exit(2)
	}
}
