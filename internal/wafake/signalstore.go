package wafake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"go.mau.fi/libsignal/ecc"
	groupRecord "go.mau.fi/libsignal/groups/state/record"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/state/store"
	waStore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/util/keys"
)

var serializer = waStore.SignalProtobufSerializer

// signalStore is an in-memory libsignal store for a fake primary device. Records are kept
// serialized so that a failed decryption never leaves a half-mutated session behind.
type signalStore struct {
	identity *keys.KeyPair
	regID    uint32
	signed   *keys.PreKey

	mu         sync.Mutex
	preKeys    map[uint32]*keys.PreKey
	nextPreKey uint32
	sessions   map[string][]byte
	identities map[string][32]byte
	senderKeys map[string][]byte
}

var _ store.SignalProtocol = (*signalStore)(nil)

func newSignalStore() *signalStore {
	ident := keys.NewKeyPair()
	return &signalStore{
		identity:   ident,
		regID:      1 + rand.Uint32N(16380),
		signed:     ident.CreateSignedPreKey(1),
		preKeys:    make(map[uint32]*keys.PreKey),
		nextPreKey: 1,
		sessions:   make(map[string][]byte),
		identities: make(map[string][32]byte),
		senderKeys: make(map[string][]byte),
	}
}

// newBundle generates a fresh one-time prekey and returns the public bundle around it.
func (s *signalStore) newBundle() bundleKeys {
	s.mu.Lock()
	id := s.nextPreKey
	s.nextPreKey++
	key := keys.NewPreKey(id)
	s.preKeys[id] = key
	s.mu.Unlock()
	public := &keys.PreKey{KeyID: key.KeyID, KeyPair: keys.KeyPair{Pub: key.Pub}}
	return bundleKeys{regID: s.regID, identity: *s.identity.Pub, preKey: public, signed: s.signed}
}

func (s *signalStore) GetIdentityKeyPair() *identity.KeyPair {
	return identity.NewKeyPair(
		identity.NewKey(ecc.NewDjbECPublicKey(*s.identity.Pub)),
		ecc.NewDjbECPrivateKey(*s.identity.Priv),
	)
}

func (s *signalStore) GetLocalRegistrationID() uint32 { return s.regID }

func (s *signalStore) SaveIdentity(_ context.Context, addr *protocol.SignalAddress, key *identity.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities[addr.String()] = key.PublicKey().PublicKey()
	return nil
}

// IsTrustedIdentity trusts every identity: a fake phone accepts re-linked devices silently.
func (s *signalStore) IsTrustedIdentity(context.Context, *protocol.SignalAddress, *identity.Key) (bool, error) {
	return true, nil
}

func (s *signalStore) LoadPreKey(_ context.Context, id uint32) (*record.PreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.preKeys[id]
	if !ok {
		return nil, nil // libsignal turns this into ErrNoOneTimeKeyFound
	}
	return record.NewPreKey(key.KeyID, ecc.NewECKeyPair(
		ecc.NewDjbECPublicKey(*key.Pub), ecc.NewDjbECPrivateKey(*key.Priv)), nil), nil
}

func (s *signalStore) StorePreKey(context.Context, uint32, *record.PreKey) error {
	return fmt.Errorf("storing prekey records is not supported")
}

func (s *signalStore) ContainsPreKey(_ context.Context, id uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.preKeys[id]
	return ok, nil
}

func (s *signalStore) RemovePreKey(_ context.Context, id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.preKeys, id)
	return nil
}

func (s *signalStore) LoadSession(_ context.Context, addr *protocol.SignalAddress) (*record.Session, error) {
	s.mu.Lock()
	raw, ok := s.sessions[addr.String()]
	s.mu.Unlock()
	if !ok {
		return record.NewSession(serializer.Session, serializer.State), nil
	}
	sess, err := record.NewSessionFromBytes(raw, serializer.Session, serializer.State)
	if err != nil {
		return nil, fmt.Errorf("deserialize session with %s: %w", addr, err)
	}
	return sess, nil
}

func (s *signalStore) GetSubDeviceSessions(context.Context, string) ([]uint32, error) {
	return nil, fmt.Errorf("sub-device sessions are not supported")
}

func (s *signalStore) StoreSession(_ context.Context, addr *protocol.SignalAddress, sess *record.Session) error {
	raw := sess.Serialize()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[addr.String()] = raw
	return nil
}

func (s *signalStore) ContainsSession(_ context.Context, addr *protocol.SignalAddress) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[addr.String()]
	return ok, nil
}

func (s *signalStore) DeleteSession(_ context.Context, addr *protocol.SignalAddress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, addr.String())
	return nil
}

func (s *signalStore) DeleteAllSessions(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
	return nil
}

func (s *signalStore) LoadSignedPreKey(_ context.Context, id uint32) (*record.SignedPreKey, error) {
	if id != s.signed.KeyID {
		return nil, nil // libsignal turns this into ErrNoSignedPreKey
	}
	return s.signedRecord(), nil
}

func (s *signalStore) signedRecord() *record.SignedPreKey {
	return record.NewSignedPreKey(s.signed.KeyID, 0, ecc.NewECKeyPair(
		ecc.NewDjbECPublicKey(*s.signed.Pub), ecc.NewDjbECPrivateKey(*s.signed.Priv)),
		*s.signed.Signature, nil)
}

func (s *signalStore) LoadSignedPreKeys(context.Context) ([]*record.SignedPreKey, error) {
	return []*record.SignedPreKey{s.signedRecord()}, nil
}

func (s *signalStore) StoreSignedPreKey(context.Context, uint32, *record.SignedPreKey) error {
	return fmt.Errorf("storing signed prekeys is not supported")
}

func (s *signalStore) ContainsSignedPreKey(_ context.Context, id uint32) (bool, error) {
	return id == s.signed.KeyID, nil
}

func (s *signalStore) RemoveSignedPreKey(context.Context, uint32) error {
	return fmt.Errorf("removing signed prekeys is not supported")
}

func (s *signalStore) StoreSenderKey(_ context.Context, name *protocol.SenderKeyName, rec *groupRecord.SenderKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.senderKeys[name.GroupID()+"|"+name.Sender().String()] = rec.Serialize()
	return nil
}

func (s *signalStore) LoadSenderKey(_ context.Context, name *protocol.SenderKeyName) (*groupRecord.SenderKey, error) {
	s.mu.Lock()
	raw, ok := s.senderKeys[name.GroupID()+"|"+name.Sender().String()]
	s.mu.Unlock()
	if !ok {
		return groupRecord.NewSenderKey(serializer.SenderKeyRecord, serializer.SenderKeyState), nil
	}
	rec, err := groupRecord.NewSenderKeyFromBytes(raw, serializer.SenderKeyRecord, serializer.SenderKeyState)
	if err != nil {
		return nil, fmt.Errorf("deserialize sender key: %w", err)
	}
	return rec, nil
}
