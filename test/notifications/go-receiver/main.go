// A game server's endpoint for gamepay's order.paid events: the README's Go example, run by
// test/notifications/readme-examples.test.ts where Go is installed.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// verifyGamepaySignature checks the Gamepay-Signature header ("t=<unix>,v1=<hex>") against the raw
// body: HMAC-SHA256 of t + "." + body with NOTIFY_SECRET, and t no further than tolerance from now.
func verifyGamepaySignature(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	var t string
	var signatures []string
	for _, part := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch key {
		case "t":
			t = value
		case "v1":
			signatures = append(signatures, value)
		}
	}
	unix, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return errors.New("no timestamp in Gamepay-Signature")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, s := range signatures {
		if given, err := hex.DecodeString(s); err == nil && hmac.Equal(given, expected) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

type orderPaid struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Data    struct {
		Order       string  `json:"order"`
		UserID      string  `json:"user_id"`
		ItemID      int64   `json:"item_id"`
		AmountNum   int64   `json:"amount_num"`
		RmbYuan     float64 `json:"rmb_yuan"`
		ServerFlag  string  `json:"server_flag"`
		LatePayment bool    `json:"late_payment"`
	} `json:"data"`
}

func main() {
	secret := os.Getenv("NOTIFY_SECRET")
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	// In production: a table with a unique event_id, written in the transaction that grants the goods.
	var mu sync.Mutex
	granted := map[string]bool{}

	http.HandleFunc("/gamepay/events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := verifyGamepaySignature(r.Header.Get("Gamepay-Signature"), body, secret, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var event orderPaid
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		if event.Type != "order.paid" {
			w.WriteHeader(http.StatusNoContent) // "test" events and types this server does not handle
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !granted[event.EventID] {
			// Grant the goods here; answer 2xx only once they are granted (an error: answer 500).
			fmt.Printf("granted %s: item %d x%d to %s on %s\n", event.Data.Order, event.Data.ItemID, event.Data.AmountNum, event.Data.UserID, event.Data.ServerFlag)
			granted[event.EventID] = true
		}
		w.WriteHeader(http.StatusOK) // a repeated event_id is answered 2xx again, and granted nothing more
	})

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, nil))
}
