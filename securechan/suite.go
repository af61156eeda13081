package securechan

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math"
	"runtime"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// Suite names the AEAD that protects a session's records
// (docs/spec/securechan.md, "Choosing the record suite"). Its value is the
// first byte of the server's handshake payload, which announces it.
type Suite byte

// Record suites. Both use 32-byte keys, 12-byte nonces and 16-byte tags,
// so records have the same layout under either.
const (
	recordKeySize = 32

	// SuiteChaCha20Poly1305 is every version's suite, and the only one of
	// version 1.
	SuiteChaCha20Poly1305 Suite = 0x01
	// SuiteAES256GCM is chosen when the client offers it and both ends'
	// CPUs have AES and carry-less multiply instructions.
	SuiteAES256GCM Suite = 0x02
)

// suiteParams is what a suite is made of.
type suiteParams struct {
	name string
	// labelSuffix follows labelC2S and labelS2C in the record key labels,
	// so a key derived for one suite is never the key of the other
	// (docs/spec/securechan.md, "Key schedule"); ChaCha20-Poly1305 keeps
	// version 1's labels.
	labelSuffix string
	// maxRecords is how many records one key may seal; the sender fails
	// its session after that ("reconnect").
	maxRecords uint64
	newAEAD    func(key []byte) (cipher.AEAD, error)
}

var suites = map[Suite]suiteParams{
	SuiteChaCha20Poly1305: {
		name:       "ChaCha20-Poly1305",
		maxRecords: math.MaxUint64,
		newAEAD:    chacha20poly1305.New,
	},
	SuiteAES256GCM: {
		name:        "AES-256-GCM",
		labelSuffix: " AES-256-GCM",
		maxRecords:  aesGCMMaxRecords,
		newAEAD:     newAES256GCM,
	},
}

// String names the suite.
func (s Suite) String() string {
	if p, ok := suites[s]; ok {
		return p.name
	}
	return fmt.Sprintf("Suite(%#02x)", byte(s))
}

// The first byte of the client's handshake payload says which suites it
// offers: offerChaCha is version 1's byte (ChaCha20-Poly1305 only), offerAES
// adds AES-256-GCM.
const (
	offerChaCha = 0x01
	offerAES    = 0x02
)

// AESPolicy says whether one end uses AES-256-GCM records: a client whether
// it offers them, a server whether it takes an offer.
type AESPolicy int

const (
	// AESAuto (the zero value) uses AES-256-GCM when HardwareAES is true.
	AESAuto AESPolicy = iota
	// AESNever never uses AES-256-GCM.
	AESNever
	// AESAlways uses AES-256-GCM whatever the CPU (for tests and
	// benchmarks: without hardware AES, Go's AES is slower than ChaCha20
	// and not constant-time).
	AESAlways
)

var aesPolicyNames = [...]string{AESAuto: "auto", AESNever: "never", AESAlways: "always"}

// String names the policy.
func (p AESPolicy) String() string {
	if p >= 0 && int(p) < len(aesPolicyNames) {
		return aesPolicyNames[p]
	}
	return fmt.Sprintf("AESPolicy(%d)", int(p))
}

func (p AESPolicy) enabled() bool {
	switch p {
	case AESNever:
		return false
	case AESAlways:
		return true
	}
	return HardwareAES()
}

// HardwareAES reports whether this CPU has the instructions that make
// AES-256-GCM constant-time and faster than ChaCha20-Poly1305 in Go:
// AES-NI and PCLMULQDQ on amd64, AES and PMULL on arm64. It is false on
// every other architecture, js/wasm included.
func HardwareAES() bool {
	return aesHardware(runtime.GOARCH,
		cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ,
		cpu.ARM64.HasAES && cpu.ARM64.HasPMULL)
}

// aesHardware is HardwareAES for the given architecture and CPU features.
func aesHardware(goarch string, x86, arm64 bool) bool {
	switch goarch {
	case "amd64":
		return x86
	case "arm64":
		return arm64
	}
	return false
}

// chooseSuite is the server's choice: AES-256-GCM when the client offered
// it and the server uses it, else ChaCha20-Poly1305.
func chooseSuite(clientOffersAES, serverUsesAES bool) Suite {
	if clientOffersAES && serverUsesAES {
		return SuiteAES256GCM
	}
	return SuiteChaCha20Poly1305
}

// keyLabels returns the HKDF-Expand labels of the suite's two record keys.
func (s Suite) keyLabels() (c2s, s2c string) {
	suffix := suites[s].labelSuffix
	return labelC2S + suffix, labelS2C + suffix
}

// newAEAD returns the suite's AEAD with key.
func (s Suite) newAEAD(key []byte) (cipher.AEAD, error) {
	p, ok := suites[s]
	if !ok {
		return nil, fmt.Errorf("unknown record suite %v", s)
	}
	return p.newAEAD(key)
}

// maxRecords is how many records one key of the suite may seal.
func (s Suite) maxRecords() uint64 { return suites[s].maxRecords }

func newAES256GCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// aesGCMMaxRecords caps the records one AES-256-GCM key seals: 2^22
// records of at most 2^12 blocks is 2^34 blocks, within TLS 1.3's margin
// for AES-GCM (RFC 8446, section 5.5: 2^24.5 records of 2^10 blocks).
// ChaCha20-Poly1305 has no such limit short of the counter's.
const aesGCMMaxRecords = 1 << 22
