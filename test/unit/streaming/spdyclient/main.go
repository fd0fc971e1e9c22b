// Command spdyclient is an independent SPDY/3.1 client for the streaming server tests. It uses
// moby/spdystream, the SPDY implementation of the Kubernetes clients, and follows client-go's
// remote command protocol: it upgrades the connection, creates the error, stdin, stdout and
// stderr streams one at a time (waiting for each SYN_REPLY), sends stdin then half-closes it,
// pings, and prints what each stream carried as JSON.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

type result struct {
	Protocol string `json:"protocol"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Error    string `json:"error"`
	PingOK   bool   `json:"ping_ok"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyclient: "+format+"\n", args...)
	os.Exit(1)
}

func upgrade(rawURL string) (net.Conn, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		fail("invalid URL %q: %v", rawURL, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		fail("connect to %s: %v", u.Host, err)
	}
	request := "POST " + u.Path + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"User-Agent: spdyclient\r\n" +
		"Content-Length: 0\r\n" +
		"Connection: Upgrade\r\n" +
		"Upgrade: SPDY/3.1\r\n" +
		"X-Stream-Protocol-Version: v5.channel.k8s.io\r\n" +
		"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n" +
		"X-Stream-Protocol-Version: v3.channel.k8s.io\r\n" +
		"X-Stream-Protocol-Version: v2.channel.k8s.io\r\n" +
		"X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n"
	if _, err := conn.Write([]byte(request)); err != nil {
		fail("send the upgrade request: %v", err)
	}
	// Read the head byte by byte so that no SPDY byte is left in a reader buffer.
	reader := bufio.NewReaderSize(conn, 16)
	response, err := http.ReadResponse(reader, nil)
	if err != nil {
		fail("read the upgrade response: %v", err)
	}
	if response.StatusCode != http.StatusSwitchingProtocols ||
		!strings.EqualFold(response.Header.Get("Upgrade"), "SPDY/3.1") {
		fail("upgrade failed: %s", response.Status)
	}
	if reader.Buffered() > 0 {
		fail("server sent SPDY bytes in the same read as the head (not supported here)")
	}
	return conn, response.Header.Get("X-Stream-Protocol-Version")
}

func createStream(conn *spdystream.Connection, kind string) *spdystream.Stream {
	headers := http.Header{}
	headers.Set("streamType", kind)
	stream, err := conn.CreateStream(headers, nil, false)
	if err != nil {
		fail("create the %s stream: %v", kind, err)
	}
	if err := stream.WaitTimeout(30 * time.Second); err != nil {
		fail("no reply for the %s stream: %v", kind, err)
	}
	return stream
}

func main() {
	rawURL := flag.String("url", "", "URL returned by the Exec RPC")
	stdin := flag.String("stdin", "", "bytes to send on stdin (the stream is created only when set)")
	stderr := flag.Bool("stderr", true, "create the stderr stream")
	flag.Parse()

	netConn, protocol := upgrade(*rawURL)
	conn, err := spdystream.NewConnection(netConn, false)
	if err != nil {
		fail("start SPDY: %v", err)
	}
	go conn.Serve(spdystream.NoOpStreamHandler)

	res := result{Protocol: protocol}
	errorStream := createStream(conn, "error")
	// Ping before the last stream: the command starts with it and may end the session at once.
	if _, err := conn.Ping(); err == nil {
		res.PingOK = true
	}
	var stdinStream *spdystream.Stream
	if *stdin != "" {
		stdinStream = createStream(conn, "stdin")
	}
	stdoutStream := createStream(conn, "stdout")
	var stderrStream *spdystream.Stream
	if *stderr {
		stderrStream = createStream(conn, "stderr")
	}

	if stdinStream != nil {
		if _, err := stdinStream.Write([]byte(*stdin)); err != nil {
			fail("write stdin: %v", err)
		}
		stdinStream.Close()
	}

	var wg sync.WaitGroup
	read := func(stream *spdystream.Stream, out *string) {
		defer wg.Done()
		if stream == nil {
			return
		}
		data, _ := io.ReadAll(stream)
		*out = string(data)
	}
	wg.Add(3)
	go read(stdoutStream, &res.Stdout)
	go read(stderrStream, &res.Stderr)
	go read(errorStream, &res.Error)
	wg.Wait()
	conn.Close()

	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail("print the result: %v", err)
	}
}
