package wafake

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/util/gcmutil"
	"go.mau.fi/whatsmeow/util/keys"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"google.golang.org/protobuf/proto"
)

// noiseState is the symmetric state of a Noise_XX_25519_AESGCM_SHA256 handshake, as used by
// WhatsApp. It mirrors the client's state step by step, from the responder's side.
type noiseState struct {
	hash    []byte
	salt    []byte
	key     cipher.AEAD
	counter uint32
}

func newNoiseState(prologue []byte) (*noiseState, error) {
	pattern := []byte(socket.NoiseStartPattern)
	ns := &noiseState{}
	if len(pattern) == sha256.Size {
		ns.hash = pattern
	} else {
		sum := sha256.Sum256(pattern)
		ns.hash = sum[:]
	}
	ns.salt = ns.hash
	var err error
	if ns.key, err = gcmutil.Prepare(ns.hash); err != nil {
		return nil, fmt.Errorf("prepare initial noise cipher: %w", err)
	}
	ns.authenticate(prologue)
	return ns, nil
}

func (ns *noiseState) authenticate(data []byte) {
	h := sha256.New()
	h.Write(ns.hash)
	h.Write(data)
	ns.hash = h.Sum(nil)
}

func (ns *noiseState) encrypt(plaintext []byte) []byte {
	ciphertext := ns.key.Seal(nil, noiseIV(ns.counter), plaintext, ns.hash)
	ns.counter++
	ns.authenticate(ciphertext)
	return ciphertext
}

func (ns *noiseState) decrypt(ciphertext []byte) ([]byte, error) {
	plaintext, err := ns.key.Open(nil, noiseIV(ns.counter), ciphertext, ns.hash)
	ns.counter++
	if err != nil {
		return nil, err
	}
	ns.authenticate(ciphertext)
	return plaintext, nil
}

func (ns *noiseState) mixDH(priv, pub *[32]byte) error {
	secret, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return fmt.Errorf("x25519: %w", err)
	}
	ns.counter = 0
	write, read, err := expand(ns.salt, secret)
	if err != nil {
		return err
	}
	ns.salt = write
	if ns.key, err = gcmutil.Prepare(read); err != nil {
		return fmt.Errorf("prepare mixed noise cipher: %w", err)
	}
	return nil
}

// split derives the transport keys. The client writes with the first and reads with the second,
// so the server does the opposite.
func (ns *noiseState) split() (serverRead, serverWrite cipher.AEAD, err error) {
	first, second, err := expand(ns.salt, nil)
	if err != nil {
		return nil, nil, err
	}
	if serverRead, err = gcmutil.Prepare(first); err != nil {
		return nil, nil, fmt.Errorf("prepare read cipher: %w", err)
	}
	if serverWrite, err = gcmutil.Prepare(second); err != nil {
		return nil, nil, fmt.Errorf("prepare write cipher: %w", err)
	}
	return serverRead, serverWrite, nil
}

func expand(salt, secret []byte) (first, second []byte, err error) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	first, second = make([]byte, 32), make([]byte, 32)
	if _, err = io.ReadFull(r, first); err != nil {
		return nil, nil, fmt.Errorf("hkdf: %w", err)
	}
	if _, err = io.ReadFull(r, second); err != nil {
		return nil, nil, fmt.Errorf("hkdf: %w", err)
	}
	return first, second, nil
}

func noiseIV(counter uint32) []byte {
	iv := make([]byte, 12)
	binary.BigEndian.PutUint32(iv[8:], counter)
	return iv
}

// handshakeResult is what the server learns from a completed handshake.
type handshakeResult struct {
	clientStatic [32]byte
	payload      *waWa6.ClientPayload
	readKey      cipher.AEAD
	writeKey     cipher.AEAD
}

// serverHandshake runs the responder side of the handshake over already framed messages.
func serverHandshake(fr *frameReader, writeFrame func([]byte) error, static *keys.KeyPair, certChain []byte) (*handshakeResult, error) {
	hello, err := fr.next()
	if err != nil {
		return nil, fmt.Errorf("read client hello: %w", err)
	}
	if !bytes.Equal(fr.header, socket.WAConnHeader) {
		return nil, fmt.Errorf("unexpected connection header %x", fr.header)
	}
	var msg waWa6.HandshakeMessage
	if err = proto.Unmarshal(hello, &msg); err != nil {
		return nil, fmt.Errorf("unmarshal client hello: %w", err)
	}
	clientEphemeral := msg.GetClientHello().GetEphemeral()
	if len(clientEphemeral) != 32 {
		return nil, fmt.Errorf("client hello has %d-byte ephemeral key", len(clientEphemeral))
	}
	clientEph := (*[32]byte)(clientEphemeral)

	ns, err := newNoiseState(socket.WAConnHeader)
	if err != nil {
		return nil, err
	}
	ns.authenticate(clientEph[:])
	ephemeral := keys.NewKeyPair()
	ns.authenticate(ephemeral.Pub[:])
	if err = ns.mixDH(ephemeral.Priv, clientEph); err != nil {
		return nil, fmt.Errorf("mix ephemeral-ephemeral: %w", err)
	}
	staticCiphertext := ns.encrypt(static.Pub[:])
	if err = ns.mixDH(static.Priv, clientEph); err != nil {
		return nil, fmt.Errorf("mix static-ephemeral: %w", err)
	}
	certCiphertext := ns.encrypt(certChain)
	reply, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: ephemeral.Pub[:],
		Static:    staticCiphertext,
		Payload:   certCiphertext,
	}})
	if err != nil {
		return nil, fmt.Errorf("marshal server hello: %w", err)
	}
	if err = writeFrame(reply); err != nil {
		return nil, fmt.Errorf("send server hello: %w", err)
	}

	finishData, err := fr.next()
	if err != nil {
		return nil, fmt.Errorf("read client finish: %w", err)
	}
	msg.Reset()
	if err = proto.Unmarshal(finishData, &msg); err != nil {
		return nil, fmt.Errorf("unmarshal client finish: %w", err)
	}
	clientStatic, err := ns.decrypt(msg.GetClientFinish().GetStatic())
	if err != nil {
		return nil, fmt.Errorf("decrypt client static key: %w", err)
	} else if len(clientStatic) != 32 {
		return nil, fmt.Errorf("client static key has %d bytes", len(clientStatic))
	}
	res := &handshakeResult{clientStatic: [32]byte(clientStatic)}
	if err = ns.mixDH(ephemeral.Priv, &res.clientStatic); err != nil {
		return nil, fmt.Errorf("mix ephemeral-static: %w", err)
	}
	payloadBytes, err := ns.decrypt(msg.GetClientFinish().GetPayload())
	if err != nil {
		return nil, fmt.Errorf("decrypt client payload: %w", err)
	}
	res.payload = &waWa6.ClientPayload{}
	if err = proto.Unmarshal(payloadBytes, res.payload); err != nil {
		return nil, fmt.Errorf("unmarshal client payload: %w", err)
	}
	if res.readKey, res.writeKey, err = ns.split(); err != nil {
		return nil, fmt.Errorf("split transport keys: %w", err)
	}
	return res, nil
}
