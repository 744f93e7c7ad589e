// Package wafake runs a fake WhatsApp server on loopback for tests and benchmarks of code built on
// go.mau.fi/whatsmeow. Real, unmodified whatsmeow clients connect to it over TLS websockets, do
// the Noise handshake, pair by QR code with a fake phone, log in, upload prekeys and exchange
// end-to-end encrypted messages and receipts with fake contacts and with each other.
//
// A typical test:
//
//	n, err := wafake.Start(wafake.Config{ShortPreKeyUpload: true})
//	...
//	defer n.Close()
//	defer n.RequireNoUnhandled(t)
//	phone := n.NewPhone("+15550001111")
//	alice := n.NewContact("+15550002222")
//
//	cli := whatsmeow.NewClient(container.NewDevice(), nil)
//	n.Configure(cli)
//	cli.AddEventHandler(...)            // wait for *events.QR
//	_ = cli.Connect()
//	jid, err := phone.ScanQR(ctx, qr.Codes[0]) // then *events.PairSuccess, *events.Connected
//	_, err = cli.SendMessage(ctx, alice.JID(), msg)
//	got, err := alice.WaitMessage(ctx)  // decrypted *waE2E.Message
//	_, err = alice.SendText(ctx, jid.ToNonAD(), "hi") // client gets *events.Message
//	_ = alice.SendReceipt(ctx, jid, ids, types.ReceiptTypeRead)
//	_ = n.WaitAcked(ctx, jid)           // before cli.Disconnect, see below
//
// # What callers must know
//
// Certificate root: the first Start in a process generates a test root key and assigns it to the
// package variable whatsmeow.WACertPubKey (once, via sync.Once); every Network in the process
// signs its certificate chain with that root. A process that uses wafake can therefore not talk
// to the real WhatsApp servers any more.
//
// Client configuration: Configure only uses public hooks (SetPreLoginHTTPClient,
// SetWebsocketHTTPClient, SetMediaHTTPClient). The websocket URL stays
// wss://web.whatsapp.com/ws/chat; the HTTP clients dial the fake's loopback port whatever the
// host and trust its httptest certificate. Do not use MessengerConfig.WebsocketURL.
//
// Keep-alive: whatsmeow.KeepAliveIntervalMin/Max are package variables; lower them in TestMain
// before any client starts (changing them later is a data race). The fake answers every w:p ping.
//
// Disconnecting: whatsmeow (at the pinned version) has data races around closing a socket, which
// the race detector reports: a Disconnect racing a background write (acks and receipts are sent
// from goroutines), and a Disconnect racing the handling of a socket the server closed. So:
// call WaitAcked for the device before Disconnect; after events.LoggedOut or
// events.StreamReplaced the fake leaves the socket open for the client to close (unless
// Config.CloseAfterError says otherwise); DropConnection closes it, so wait for
// events.Disconnected (and the reconnect) before calling Disconnect. Disconnect clients before
// Network.Close, or their auto-reconnect keeps failing in the background.
//
// Speed: a freshly paired whatsmeow device generates and uploads 812 prekeys, which dominates
// pairing time with SQLite under the race detector. Config.ShortPreKeyUpload cuts that to 50.
//
// Failing loudly: every IQ or node the fake cannot answer is answered with a 501 error (so the
// client does not wait 75 seconds) and recorded, as are nacks, retry receipts and messages a fake
// device fails to decrypt. Check them with Network.RequireNoUnhandled or Config.OnUnhandled.
//
// Receipts: a whatsmeow client that is not marked online acknowledges messages with receipts of
// type "inactive"; fake contacts see those in WaitReceipt before any "read".
//
// # Model
//
// Each phone number is an account with a fake primary device (device 0, a Contact or Phone with
// an in-memory Signal store) and the companion devices linked to it (whatsmeow clients, numbered
// 1, 2, …). Messages are addressed by phone number JIDs; the server fans them out per device and
// keeps an offline queue for disconnected devices, delivered after the next login. Linking and
// unlinking a device sends a device-list notification to connected clients.
//
// Not supported: groups and sender keys, app state sync, history sync, media upload/download,
// presence and chat state fan-out, phone-number (pair code) linking, calls, newsletters, LID
// addressing of messages, and redelivery of messages written to a socket that dropped before
// the client acknowledged them.
package wafake
