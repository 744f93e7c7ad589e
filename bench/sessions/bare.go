package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	wstore "github.com/wagate/wagate/internal/store"
)

// runBare runs the bare-clients child and reads its result from stdout.
func runBare(fake *fakeHost, dbURL, root string, n int, cfg runConfig) (result, error) {
	var out bytes.Buffer
	cmd, done, err := startChild(cfg, []string{childBare,
		"-n", strconv.Itoa(n), "-db", dbURL, "-fake", fake.n.Addr(), "-root", root, "-control", fake.url,
		"-contacts", strings.Join(fake.contactPhones(), ","), "-parallel", strconv.Itoa(cfg.parallel),
		"-sends", strconv.Itoa(cfg.sends), "-send-parallel", strconv.Itoa(cfg.sendParallel),
		"-burst", strconv.Itoa(cfg.burst), "-burst-parallel", strconv.Itoa(cfg.burstParallel),
		"-latency", cfg.latency.String(),
	}, &out, nil)
	if err != nil {
		return result{}, err
	}
	if err := <-done; err != nil {
		_ = cmd
		return result{}, fmt.Errorf("bare child: %w (see -child-log)", err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return result{}, fmt.Errorf("bare child's result %q: %w", out.String(), err)
	}
	return res, nil
}

// bareClient is one bare whatsmeow client and the events the run waits on.
type bareClient struct {
	cli       *whatsmeow.Client
	qr        chan string
	connected chan struct{}
}

// runBareChild links n bare whatsmeow clients through the parent's fake
// phones, measures, sends, and prints a result as JSON on stdout.
func runBareChild(args []string) {
	fs := flag.NewFlagSet(childBare, flag.ExitOnError)
	n := fs.Int("n", 10, "clients")
	dbURL := fs.String("db", "", "PostgreSQL database for the device store")
	fakeAddr := fs.String("fake", "", "fake network address")
	root := fs.String("root", "", "fake certificate root, hex")
	control := fs.String("control", "", "parent's control URL")
	contactList := fs.String("contacts", "", "contact phone numbers")
	parallel := fs.Int("parallel", 16, "clients linked at once")
	sends := fs.Int("sends", 200, "timed sends")
	sendParallel := fs.Int("send-parallel", 1, "sends in flight")
	burst := fs.Int("burst", 500, "sends for throughput")
	burstParallel := fs.Int("burst-parallel", 32, "sends in flight for throughput")
	latency := fs.Duration("latency", 0, "delay of every client write")
	_ = fs.Parse(args)
	configure := fakeClient(*fakeAddr, *root, *latency)
	ctx := context.Background()

	// The same pool settings as wagate's (store.Open): the default pool of
	// database/sql keeps 2 idle connections and reconnects under load.
	db, err := wstore.Open(ctx, *dbURL)
	if err != nil {
		log.Fatal(err)
	}
	container := sqlstore.NewWithDB(db.SQL, "postgres", nil)
	if err := container.Upgrade(ctx); err != nil {
		log.Fatalf("upgrade device store: %v", err)
	}
	var contactJIDs []types.JID
	for _, p := range strings.Split(*contactList, ",") {
		contactJIDs = append(contactJIDs, types.NewJID(strings.TrimPrefix(p, "+"), types.DefaultUserServer))
	}

	res := result{Kind: "bare", N: *n}
	res.Base = measure()
	clients := make([]*bareClient, *n)
	start := time.Now()
	err = forEach(*n, *parallel, func(i int) error {
		c, err := linkBare(ctx, container.NewDevice(), configure, *control, fmt.Sprintf("+1555%07d", i))
		clients[i] = c
		return err
	})
	if err != nil {
		log.Fatalf("link: %v", err)
	}
	res.Link = time.Since(start)
	res.Connected = measure()

	send := func(i int) (time.Duration, error) {
		c, to := clients[i%*n], contactJIDs[i%len(contactJIDs)]
		t0 := time.Now()
		_, err := c.cli.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String("benchmark message " + strconv.Itoa(i))})
		return time.Since(t0), err
	}
	if err := forEach(*n, *parallel, func(i int) error { _, err := send(i); return err }); err != nil {
		log.Fatalf("warm-up send: %v", err)
	}
	var mu sync.Mutex
	err = forEach(*sends, *sendParallel, func(i int) error {
		d, err := send(i)
		mu.Lock()
		res.Latencies = append(res.Latencies, d)
		mu.Unlock()
		return err
	})
	if err != nil {
		log.Fatalf("send: %v", err)
	}
	start = time.Now()
	if err := forEach(*burst, *burstParallel, func(i int) error { _, err := send(i); return err }); err != nil {
		log.Fatalf("burst send: %v", err)
	}
	res.Throughput = float64(*burst) / time.Since(start).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
	for _, c := range clients {
		c.cli.Disconnect()
	}
}

// linkBare connects a new client, has the parent's fake phone scan its
// first QR code and waits until it is logged in.
func linkBare(ctx context.Context, dev *store.Device, configure func(*whatsmeow.Client), control, phone string) (*bareClient, error) {
	cli := whatsmeow.NewClient(dev, nil)
	configure(cli)
	c := &bareClient{cli: cli, qr: make(chan string, 1), connected: make(chan struct{}, 1)}
	cli.AddEventHandler(func(evt any) {
		switch v := evt.(type) {
		case *events.QR:
			select {
			case c.qr <- v.Codes[0]:
			default:
			}
		case *events.Connected:
			select {
			case c.connected <- struct{}{}:
			default:
			}
		}
	})
	if err := cli.Connect(); err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var code string
	select {
	case code = <-c.qr:
	case <-ctx.Done():
		return c, errors.New("no QR code")
	}
	body, _ := json.Marshal(map[string]string{"phone": phone, "code": code})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, control+"/scan", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("scan: status %d", resp.StatusCode)
	}
	select {
	case <-c.connected:
		return c, nil
	case <-ctx.Done():
		return c, errors.New("not connected after the scan")
	}
}

// forEach runs fn for 0..count-1, at most limit at a time, and returns the
// first error.
func forEach(count, limit int, fn func(i int) error) error {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range count {
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("#%d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
