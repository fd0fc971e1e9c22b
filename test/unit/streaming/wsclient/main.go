// Command wsclient is an independent WebSocket client for the streaming server tests, built on
// gorilla/websocket as client-go's WebSocket executors are. Mode "exec" speaks
// v5.channel.k8s.io: it checks the ready message, pings, sends stdin and the v5 close signal,
// and collects every channel until the server's close frame. Mode "tunnel" speaks
// SPDY/3.1+portforward.k8s.io: SPDY (moby/spdystream) inside binary messages, one port-forward
// stream pair, one HTTP request to the pod. Both print what they received as JSON.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/moby/spdystream"
)

type execResult struct {
	Protocol  string `json:"protocol"`
	Ready     bool   `json:"ready"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	Error     string `json:"error"`
	Pong      bool   `json:"pong"`
	CloseCode int    `json:"close_code"`
}

type tunnelResult struct {
	Protocol string `json:"protocol"`
	Data     string `json:"data"`
	Error    string `json:"error"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "wsclient: "+format+"\n", args...)
	os.Exit(1)
}

func dial(rawURL, protocol string) *websocket.Conn {
	dialer := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	conn, response, err := dialer.Dial(strings.Replace(rawURL, "http", "ws", 1), nil)
	if err != nil {
		status := ""
		if response != nil {
			status = response.Status
		}
		fail("dial %s: %v %s", rawURL, err, status)
	}
	if conn.Subprotocol() != protocol {
		fail("server chose protocol %q", conn.Subprotocol())
	}
	return conn
}

func runExec(rawURL, stdin string) {
	conn := dial(rawURL, "v5.channel.k8s.io")
	res := execResult{Protocol: conn.Subprotocol()}
	var mu sync.Mutex
	conn.SetPongHandler(func(string) error {
		mu.Lock()
		res.Pong = true
		mu.Unlock()
		return nil
	})
	if err := conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(5*time.Second)); err != nil {
		fail("ping: %v", err)
	}
	if stdin != "" {
		if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{0}, stdin...)); err != nil {
			fail("write stdin: %v", err)
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, []byte{255, 0}); err != nil {
			fail("write the close signal: %v", err)
		}
	}
	first := true
	for {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		kind, message, err := conn.ReadMessage()
		if err != nil {
			var closeErr *websocket.CloseError
			if errors.As(err, &closeErr) {
				res.CloseCode = closeErr.Code
				break
			}
			fail("read: %v", err)
		}
		if kind != websocket.BinaryMessage || len(message) == 0 {
			fail("unexpected message type %d of %d bytes", kind, len(message))
		}
		if first {
			res.Ready = message[0] == 1 && len(message) == 1
			first = false
			continue
		}
		switch message[0] {
		case 1:
			res.Stdout += string(message[1:])
		case 2:
			res.Stderr += string(message[1:])
		case 3:
			res.Error += string(message[1:])
		}
	}
	conn.Close()
	mu.Lock()
	defer mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(res)
}

// tunnel carries a byte stream in binary WebSocket messages, as client-go's tunneling
// connection does.
type tunnel struct {
	*websocket.Conn
	reader io.Reader
}

func (t *tunnel) Read(p []byte) (int, error) {
	for {
		if t.reader == nil {
			kind, reader, err := t.NextReader()
			if err != nil {
				var closeErr *websocket.CloseError
				if errors.As(err, &closeErr) && closeErr.Code == websocket.CloseNormalClosure {
					return 0, io.EOF
				}
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, fmt.Errorf("unexpected message type %d", kind)
			}
			t.reader = reader
		}
		n, err := t.reader.Read(p)
		if err == io.EOF {
			t.reader = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (t *tunnel) Write(p []byte) (int, error) {
	if err := t.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *tunnel) SetDeadline(deadline time.Time) error {
	if err := t.SetReadDeadline(deadline); err != nil {
		return err
	}
	return t.SetWriteDeadline(deadline)
}

var _ net.Conn = (*tunnel)(nil)

func runTunnel(rawURL, port string) {
	ws := dial(rawURL, "SPDY/3.1+portforward.k8s.io")
	conn, err := spdystream.NewConnection(&tunnel{Conn: ws}, false)
	if err != nil {
		fail("start SPDY: %v", err)
	}
	go conn.Serve(spdystream.NoOpStreamHandler)
	res := tunnelResult{Protocol: ws.Subprotocol()}

	headers := http.Header{}
	headers.Set("streamType", "error")
	headers.Set("port", port)
	headers.Set("requestID", "0")
	errorStream, err := conn.CreateStream(headers, nil, false)
	if err != nil || errorStream.WaitTimeout(10*time.Second) != nil {
		fail("create the error stream: %v", err)
	}
	errorStream.Close()
	headers.Set("streamType", "data")
	dataStream, err := conn.CreateStream(headers, nil, false)
	if err != nil || dataStream.WaitTimeout(10*time.Second) != nil {
		fail("create the data stream: %v", err)
	}
	if _, err := dataStream.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		fail("write to the data stream: %v", err)
	}
	data, _ := io.ReadAll(dataStream)
	errorText, _ := io.ReadAll(errorStream)
	res.Data = string(data)
	res.Error = string(errorText)
	conn.Close()
	json.NewEncoder(os.Stdout).Encode(res)
}

func main() {
	mode := flag.String("mode", "exec", "exec or tunnel")
	rawURL := flag.String("url", "", "URL returned by the RPC")
	stdin := flag.String("stdin", "", "exec: bytes to send on stdin, followed by the close signal")
	port := flag.String("port", "", "tunnel: port to forward")
	flag.Parse()
	if *mode == "tunnel" {
		runTunnel(*rawURL, *port)
	} else {
		runExec(*rawURL, *stdin)
	}
}
