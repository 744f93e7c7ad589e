package wafake

import (
	"fmt"
	"sync"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// The certificate root is process-wide because whatsmeow.WACertPubKey is a package variable.
var (
	rootOnce sync.Once
	rootKey  *keys.KeyPair
)

// installRoot generates the process-wide test certificate root and points
// whatsmeow.WACertPubKey at it. It runs at most once per process.
func installRoot() *keys.KeyPair {
	rootOnce.Do(func() {
		rootKey = keys.NewKeyPair()
		whatsmeow.WACertPubKey = *rootKey.Pub
		// libsignal initializes its global logger lazily and without synchronization on first
		// use; do that first use here, once, before networks and clients run concurrently.
		_ = ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*rootKey.Priv), rootKey.Pub[:])
	})
	return rootKey
}

const (
	intermediateSerial = 1
	leafSerial         = 2
)

// newCertChain builds the serialized waCert.CertChain that the client verifies during the Noise
// handshake: root → intermediate → leaf, where the leaf certifies the server's static key.
func newCertChain(root *keys.KeyPair, serverStatic [32]byte) ([]byte, error) {
	intermediate := keys.NewKeyPair()
	now := uint64(time.Now().Unix())
	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(intermediateSerial),
		IssuerSerial: proto.Uint32(whatsmeow.WACertIssuerSerial),
		Key:          intermediate.Pub[:],
		NotBefore:    proto.Uint64(now - 3600),
		NotAfter:     proto.Uint64(now + 365*24*3600),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal intermediate cert details: %w", err)
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(leafSerial),
		IssuerSerial: proto.Uint32(intermediateSerial),
		Key:          serverStatic[:],
		NotBefore:    proto.Uint64(now - 3600),
		NotAfter:     proto.Uint64(now + 365*24*3600),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal leaf cert details: %w", err)
	}
	interSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*root.Priv), interDetails)
	leafSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*intermediate.Priv), leafDetails)
	chain, err := proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: interSig[:]},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: leafSig[:]},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal cert chain: %w", err)
	}
	return chain, nil
}
