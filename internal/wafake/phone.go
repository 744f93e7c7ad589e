package wafake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// Phone is a fake user's phone: the primary device that links companion devices by scanning
// their QR codes. It embeds Contact, so it also sends and receives messages; messages its
// companions send to others reach it wrapped in a DeviceSentMessage.
type Phone struct {
	*Contact
}

// qrData is the content of a pairing QR code shown by a companion device.
type qrData struct {
	ref       string
	noiseKey  [32]byte
	identity  [32]byte
	advSecret []byte
}

func parseQR(code string) (qrData, error) {
	parts := strings.Split(code, ",")
	if len(parts) != 4 {
		return qrData{}, fmt.Errorf("QR code has %d comma-separated parts, want 4", len(parts))
	}
	var q qrData
	q.ref = parts[0]
	var raw [3][]byte
	for i, part := range parts[1:] {
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil || len(b) != 32 {
			return qrData{}, fmt.Errorf("QR code part %d is not a base64 32-byte key", i+2)
		}
		raw[i] = b
	}
	q.noiseKey, q.identity, q.advSecret = [32]byte(raw[0]), [32]byte(raw[1]), raw[2]
	return q, nil
}

// ScanQR links the companion device that shows the QR code (as from events.QR) to this phone's
// account, like scanning it in the WhatsApp app. It returns the new device's JID
// (number:N@s.whatsapp.net) once the device confirmed the pairing; the device then reconnects and
// logs in by itself (it emits events.PairSuccess, then events.Connected).
func (p *Phone) ScanQR(ctx context.Context, code string) (types.JID, error) {
	q, err := parseQR(code)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("wafake: %w", err)
	}
	n := p.n
	n.mu.Lock()
	conn := n.refs[q.ref]
	acct := n.accountLocked(p.jid)
	devID := acct.nextDevice
	if conn != nil {
		acct.nextDevice++
	}
	n.mu.Unlock()
	if conn == nil {
		return types.EmptyJID, errors.New("wafake: QR ref is unknown or its connection is gone")
	}
	reg := conn.payload.GetDevicePairingData()
	if conn.noiseKey != q.noiseKey || !bytes.Equal(reg.GetEIdent(), q.identity[:]) {
		return types.EmptyJID, errors.New("wafake: QR keys do not match the connection that showed the ref")
	}
	signedPreKey, err := registeredSignedPreKey(reg.GetESkeyID(), reg.GetESkeyVal(), reg.GetESkeySig())
	if err != nil {
		return types.EmptyJID, fmt.Errorf("wafake: registration data: %w", err)
	}
	if len(reg.GetERegid()) != 4 {
		return types.EmptyJID, errors.New("wafake: registration data: bad registration ID")
	}

	jid := types.JID{User: p.jid.User, Device: devID, Server: types.DefaultUserServer}
	lid := types.JID{User: p.lid.User, Device: devID, Server: types.HiddenUserServer}
	details, container, err := p.deviceIdentity(q, devID)
	if err != nil {
		return types.EmptyJID, err
	}
	resp, err := conn.request(ctx, waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "type": "set", "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
			{Tag: "device-identity", Content: container},
			{Tag: "device", Attrs: waBinary.Attrs{"jid": jid, "lid": lid}},
			{Tag: "platform", Attrs: waBinary.Attrs{"name": "android"}},
		}}},
	})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("wafake: pair-success: %w", err)
	}
	if typ := resp.AttrGetter().OptionalString("type"); typ != "result" {
		return types.EmptyJID, fmt.Errorf("wafake: device rejected pairing: %s", resp.XMLString())
	}
	if err = p.checkDeviceSignature(resp, details, q.identity); err != nil {
		return types.EmptyJID, fmt.Errorf("wafake: pair-device-sign: %w", err)
	}

	n.mu.Lock()
	acct.companions[devID] = &device{
		jid:      jid,
		lid:      lid,
		noiseKey: q.noiseKey,
		identity: q.identity,
		regID:    binary.BigEndian.Uint32(reg.GetERegid()),
		signed:   signedPreKey,
	}
	for ref, rc := range n.refs {
		if rc == conn {
			delete(n.refs, ref)
		}
	}
	n.mu.Unlock()
	// The client reconnects on 515 by itself; closing here would race its handler.
	conn.send(streamError("515", ""))
	n.notifyDeviceChange(jid, true)
	return jid, nil
}

// deviceIdentity builds the ADV identity the phone signs for a new companion: the signed details
// and the HMAC container sent in pair-success.
func (p *Phone) deviceIdentity(q qrData, devID uint16) (details, container []byte, err error) {
	details, err = proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID:       proto.Uint32(rand.Uint32()),
		Timestamp:   proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex:    proto.Uint32(uint32(devID)),
		AccountType: waAdv.ADVEncryptionType_E2EE.Enum(),
		DeviceType:  waAdv.ADVEncryptionType_E2EE.Enum(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("wafake: marshal device identity: %w", err)
	}
	accountKey := p.store.identity
	message := concat(whatsmeow.AdvAccountSignaturePrefix, details, q.identity[:])
	signature := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*accountKey.Priv), message)
	signed, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentity{
		Details:             details,
		AccountSignatureKey: accountKey.Pub[:],
		AccountSignature:    signature[:],
	})
	if err != nil {
		return nil, nil, fmt.Errorf("wafake: marshal signed device identity: %w", err)
	}
	mac := hmac.New(sha256.New, q.advSecret)
	mac.Write(signed)
	container, err = proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{Details: signed, HMAC: mac.Sum(nil)})
	if err != nil {
		return nil, nil, fmt.Errorf("wafake: marshal device identity container: %w", err)
	}
	return details, container, nil
}

// checkDeviceSignature verifies the device's countersignature in its pair-device-sign answer.
func (p *Phone) checkDeviceSignature(resp *waBinary.Node, details []byte, deviceIdentity [32]byte) error {
	raw, ok := resp.GetChildByTag("pair-device-sign", "device-identity").Content.([]byte)
	if !ok {
		return fmt.Errorf("missing device-identity in %s", resp.XMLString())
	}
	var signed waAdv.ADVSignedDeviceIdentity
	if err := proto.Unmarshal(raw, &signed); err != nil {
		return fmt.Errorf("unmarshal device identity: %w", err)
	}
	if !bytes.Equal(signed.GetDetails(), details) || len(signed.GetDeviceSignature()) != 64 {
		return errors.New("device identity details or signature do not match")
	}
	message := concat(whatsmeow.AdvDeviceSignaturePrefix, details, deviceIdentity[:], p.store.identity.Pub[:])
	if !ecc.VerifySignature(ecc.NewDjbECPublicKey(deviceIdentity), message, [64]byte(signed.GetDeviceSignature())) {
		return errors.New("invalid device signature")
	}
	return nil
}

// registeredSignedPreKey decodes the signed prekey a client sent in its registration payload.
func registeredSignedPreKey(id, value, signature []byte) (*keys.PreKey, error) {
	if len(id) != 3 || len(value) != 32 || len(signature) != 64 {
		return nil, errors.New("bad signed prekey")
	}
	return &keys.PreKey{
		KeyID:     uint32(id[0])<<16 | uint32(id[1])<<8 | uint32(id[2]),
		KeyPair:   keys.KeyPair{Pub: (*[32]byte)(bytes.Clone(value))},
		Signature: (*[64]byte)(bytes.Clone(signature)),
	}, nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
