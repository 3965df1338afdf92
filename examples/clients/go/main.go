// A Go client as most are written: net.Dial (the default Dialer: keepalive 15 s since Go 1.13;
// Go 1.23 adds the count), a blocking read.
//   go-client idle   connect, then wait for the server to say something
//   go-client busy   connect, send one request 3 s later, wait for the answer
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	mode := "idle"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	c, err := net.Dial("tcp", net.JoinHostPort(os.Getenv("DEADPEER_HOST"), os.Getenv("DEADPEER_PORT")))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("connected from", c.LocalAddr())
	if mode == "busy" {
		time.Sleep(3 * time.Second)
		if _, err := c.Write([]byte("GET /answer\n")); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("received", n, "bytes")
}
