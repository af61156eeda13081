package obfs4

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird/common/drbg"
	"gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird/common/ntor"
)

// Sizes of the server's long-term material (obfs4 spec §2, "Server identity").
const (
	NodeIDLen    = ntor.NodeIDLength     // 20
	PublicKeyLen = ntor.PublicKeyLength  // 32, Curve25519
	privKeyLen   = ntor.PrivateKeyLength // 32
	seedLen      = drbg.SeedLength       // 24, the length-distribution seed
	certLen      = NodeIDLen + PublicKeyLen
)

// ServerState is an obfs4 server's long-term key material: the node ID, the
// Curve25519 identity key pair, the seed of the server's packet-length
// distribution, and the IAT mode it advertises. The caller persists it (see
// MarshalJSON and ParseServerState) so that the bridge line stays the same
// across restarts. It holds a secret key: never log it; it cannot be compared
// with ==.
type ServerState struct {
	_          [0]func() // not comparable: holds a secret key
	nodeID     [NodeIDLen]byte
	privateKey [privKeyLen]byte
	publicKey  [PublicKeyLen]byte
	drbgSeed   [seedLen]byte
	iatMode    IATMode
}

// GenerateServerState creates fresh server key material with the given IAT
// mode, using lyrebird's generators (crypto/rand underneath).
func GenerateServerState(mode IATMode) (*ServerState, error) {
	if !mode.valid() {
		return nil, fmt.Errorf("obfs4: generating server state: invalid iat-mode %d", mode)
	}
	st := &ServerState{iatMode: mode}
	if _, err := randRead(st.nodeID[:]); err != nil {
		return nil, fmt.Errorf("obfs4: generating node ID: %w", err)
	}
	kp, err := ntor.NewKeypair(false)
	if err != nil {
		return nil, fmt.Errorf("obfs4: generating identity key: %w", err)
	}
	copy(st.privateKey[:], kp.Private().Bytes()[:])
	copy(st.publicKey[:], kp.Public().Bytes()[:])
	seed, err := drbg.NewSeed()
	if err != nil {
		return nil, fmt.Errorf("obfs4: generating length seed: %w", err)
	}
	copy(st.drbgSeed[:], seed.Bytes()[:])
	return st, nil
}

// stateJSON is the on-disk form. Its field names are those of lyrebird's and
// obfs4proxy's obfs4_state.json, so a state file moves freely between
// samizdat and a Tor bridge running either binary.
type stateJSON struct {
	NodeID     string `json:"node-id"`
	PrivateKey string `json:"private-key"`
	PublicKey  string `json:"public-key"`
	DrbgSeed   string `json:"drbg-seed"`
	IATMode    int    `json:"iat-mode"`
}

// MarshalJSON encodes the state in the obfs4_state.json format (hex fields).
// The output contains the private key: store it with mode 0600.
func (st *ServerState) MarshalJSON() ([]byte, error) {
	return json.Marshal(stateJSON{
		NodeID:     hex.EncodeToString(st.nodeID[:]),
		PrivateKey: hex.EncodeToString(st.privateKey[:]),
		PublicKey:  hex.EncodeToString(st.publicKey[:]),
		DrbgSeed:   hex.EncodeToString(st.drbgSeed[:]),
		IATMode:    int(st.iatMode),
	})
}

// ParseServerState reads a state written by MarshalJSON, or an
// obfs4_state.json written by lyrebird or obfs4proxy. The public key is
// recomputed from the private key; a stored public key that disagrees is an
// error (a corrupted or hand-edited file).
func ParseServerState(data []byte) (*ServerState, error) {
	var js stateJSON
	if err := json.Unmarshal(data, &js); err != nil {
		// json errors may quote input; keep only the kind of failure.
		return nil, fmt.Errorf("obfs4: parsing server state: not a JSON state object")
	}
	st := &ServerState{iatMode: IATMode(js.IATMode)}
	if !st.iatMode.valid() {
		return nil, fmt.Errorf("obfs4: parsing server state: invalid iat-mode %d", js.IATMode)
	}
	if err := decodeHexInto(st.nodeID[:], js.NodeID); err != nil {
		return nil, fmt.Errorf("obfs4: parsing server state: node-id: %w", err)
	}
	if err := decodeHexInto(st.privateKey[:], js.PrivateKey); err != nil {
		return nil, fmt.Errorf("obfs4: parsing server state: private-key: %w", err)
	}
	if err := decodeHexInto(st.drbgSeed[:], js.DrbgSeed); err != nil {
		return nil, fmt.Errorf("obfs4: parsing server state: drbg-seed: %w", err)
	}
	kp, err := ntor.KeypairFromHex(js.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("obfs4: parsing server state: private-key is not a Curve25519 key")
	}
	copy(st.publicKey[:], kp.Public().Bytes()[:])
	if js.PublicKey != "" {
		var stored [PublicKeyLen]byte
		if err := decodeHexInto(stored[:], js.PublicKey); err != nil {
			return nil, fmt.Errorf("obfs4: parsing server state: public-key: %w", err)
		}
		if subtle.ConstantTimeCompare(stored[:], st.publicKey[:]) != 1 {
			return nil, fmt.Errorf("obfs4: parsing server state: public-key does not match private-key")
		}
	}
	return st, nil
}

// IATMode returns the inter-arrival-time mode the server advertises.
func (st *ServerState) IATMode() IATMode { return st.iatMode }

// WithIATMode returns a copy of st that advertises mode (the keys stay).
func (st *ServerState) WithIATMode(mode IATMode) (*ServerState, error) {
	if !mode.valid() {
		return nil, fmt.Errorf("obfs4: invalid iat-mode %d", mode)
	}
	c := &ServerState{nodeID: st.nodeID, privateKey: st.privateKey, publicKey: st.publicKey, drbgSeed: st.drbgSeed, iatMode: mode}
	return c, nil
}

// Cert returns the bridge-line "cert" value: base64 of node ID || public key,
// without the trailing "==" (obfs4 spec, bridge line; lyrebird's format).
func (st *ServerState) Cert() string {
	var raw [certLen]byte
	copy(raw[:], st.nodeID[:])
	copy(raw[NodeIDLen:], st.publicKey[:])
	return strings.TrimSuffix(base64.StdEncoding.EncodeToString(raw[:]), "==")
}

// Params returns the public parameters a client needs (the bridge line's
// cert and iat-mode). They contain no secret.
func (st *ServerState) Params() Params {
	return Params{Cert: st.Cert(), IATMode: st.iatMode}
}

// PTOptions returns the state as pluggable-transport server options
// (node-id, private-key, drbg-seed, iat-mode, hex-encoded), the form that
// lyrebird's ServerFactory and obfs4proxy's TOR_PT_SERVER_TRANSPORT_OPTIONS
// take. It contains the private key.
func (st *ServerState) PTOptions() map[string]string {
	return map[string]string{
		"node-id":     hex.EncodeToString(st.nodeID[:]),
		"private-key": hex.EncodeToString(st.privateKey[:]),
		"drbg-seed":   hex.EncodeToString(st.drbgSeed[:]),
		"iat-mode":    strconv.Itoa(int(st.iatMode)),
	}
}

// Equal reports in constant time whether st and o hold the same material.
func (st *ServerState) Equal(o *ServerState) bool {
	eq := subtle.ConstantTimeCompare(st.nodeID[:], o.nodeID[:]) &
		subtle.ConstantTimeCompare(st.privateKey[:], o.privateKey[:]) &
		subtle.ConstantTimeCompare(st.drbgSeed[:], o.drbgSeed[:])
	return eq == 1 && st.iatMode == o.iatMode
}

// decodeHexInto decodes s into dst, which it must fill exactly. Errors never
// echo s (it may be a private key).
func decodeHexInto(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d", 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("not hex")
	}
	return nil
}
