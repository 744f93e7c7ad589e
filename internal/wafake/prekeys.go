package wafake

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/util/optional"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// bundleKeys is the public prekey material of one device, as the server hands it out.
type bundleKeys struct {
	regID    uint32
	identity [32]byte
	preKey   *keys.PreKey // one-time prekey; nil when the device has none left
	signed   *keys.PreKey
}

// node encodes the bundle as a <user> child of an `encrypt get key` result.
func (b bundleKeys) node(jid types.JID) waBinary.Node {
	var reg [4]byte
	binary.BigEndian.PutUint32(reg[:], b.regID)
	children := []waBinary.Node{
		{Tag: "registration", Content: reg[:]},
		{Tag: "type", Content: []byte{ecc.DjbType}},
		{Tag: "identity", Content: append([]byte(nil), b.identity[:]...)},
	}
	if b.preKey != nil {
		children = append(children, preKeyNode(b.preKey))
	}
	children = append(children, preKeyNode(b.signed))
	return waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: children}
}

// bundle converts the keys into a libsignal bundle for a fake contact's session builder.
func (b bundleKeys) bundle(deviceID uint16) *prekey.Bundle {
	preKeyID := optional.NewEmptyUint32()
	var preKeyPub ecc.ECPublicKeyable
	if b.preKey != nil {
		preKeyID = optional.NewOptionalUint32(b.preKey.KeyID)
		preKeyPub = ecc.NewDjbECPublicKey(*b.preKey.Pub)
	}
	return prekey.NewBundle(b.regID, uint32(deviceID), preKeyID, b.signed.KeyID,
		preKeyPub, ecc.NewDjbECPublicKey(*b.signed.Pub), *b.signed.Signature,
		identity.NewKey(ecc.NewDjbECPublicKey(b.identity)))
}

// preKeyNode encodes a prekey as <key> or, when signed, <skey>.
func preKeyNode(k *keys.PreKey) waBinary.Node {
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], k.KeyID)
	node := waBinary.Node{Tag: "key", Content: []waBinary.Node{
		{Tag: "id", Content: id[1:]},
		{Tag: "value", Content: append([]byte(nil), k.Pub[:]...)},
	}}
	if k.Signature != nil {
		node.Tag = "skey"
		node.Content = append(node.GetChildren(), waBinary.Node{Tag: "signature", Content: append([]byte(nil), k.Signature[:]...)})
	}
	return node
}

// parsePreKeyNode decodes a <key> or <skey> node uploaded by a client (public part only).
func parsePreKeyNode(node waBinary.Node) (*keys.PreKey, error) {
	id, ok := node.GetChildByTag("id").Content.([]byte)
	if !ok || len(id) != 3 {
		return nil, errors.New("prekey id is not 3 bytes")
	}
	value, ok := node.GetChildByTag("value").Content.([]byte)
	if !ok || len(value) != 32 {
		return nil, errors.New("prekey value is not 32 bytes")
	}
	key := &keys.PreKey{
		KeyID:   uint32(id[0])<<16 | uint32(id[1])<<8 | uint32(id[2]),
		KeyPair: keys.KeyPair{Pub: (*[32]byte)(append([]byte(nil), value...))},
	}
	if node.Tag == "skey" {
		sig, ok := node.GetChildByTag("signature").Content.([]byte)
		if !ok || len(sig) != 64 {
			return nil, errors.New("signed prekey signature is not 64 bytes")
		}
		key.Signature = (*[64]byte)(append([]byte(nil), sig...))
	}
	return key, nil
}

// errDeviceRemoved is returned for devices that were linked once and are unlinked now; senders
// with stale device lists ask for them, which is not a fake's shortcoming.
var errDeviceRemoved = errors.New("device was unlinked")

// bundleFor hands out the prekey bundle of a device, consuming one of its one-time prekeys.
func (n *Network) bundleFor(jid types.JID) (bundleKeys, error) {
	n.mu.Lock()
	acct := n.accountLocked(jid)
	if acct == nil {
		n.mu.Unlock()
		return bundleKeys{}, fmt.Errorf("no account for %s", jid)
	}
	if jid.Device == 0 {
		primary := acct.primary
		n.mu.Unlock()
		return primary.store.newBundle(), nil
	}
	defer n.mu.Unlock()
	dev := acct.companions[jid.Device]
	if dev == nil {
		return bundleKeys{}, fmt.Errorf("no device %s", jid)
	} else if dev.removed {
		return bundleKeys{}, fmt.Errorf("%w: %s", errDeviceRemoved, jid)
	}
	b := bundleKeys{regID: dev.regID, identity: dev.identity, signed: dev.signed}
	if len(dev.preKeys) > 0 {
		b.preKey = dev.preKeys[0]
		dev.preKeys = dev.preKeys[1:]
	}
	return b, nil
}
