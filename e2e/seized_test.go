package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	_ "modernc.org/sqlite"

	"github.com/samizdat-project/samizdat/client"
)

// TestSeizedServer is the seized-server proof: after a
// conversation with known plaintexts (direct, both ways, and in a group),
// the server is killed (SIGKILL, so its WAL and SHM stay as a seizure would
// find them) and every byte of every file in its data directory is searched
// for each plaintext and for each user's private keys: the account and
// device seeds, the MLS private keys of the unused KeyPackages, and the
// private parts of every MLS group state (signature key, epoch secrets,
// path private keys). Zero hits. The users' homes are searched for the
// plaintexts too: zero hits, they are encrypted at rest. As a control, the
// same search does find each user's public device key in the server's
// directory (the server stores it), so a miss is not a search that cannot
// hit.
func TestSeizedServer(t *testing.T) {
	dir, srv := tempServer(t)
	alice, bob := twoFriends(t, dir, srv.link)
	secret := func(what string) string { return what + "-" + hex.EncodeToString(randBytes(8)) }
	group := secret("plotters")
	plain := []string{secret("the-meeting-is-at-the-old-mill"), secret("bring-the-leaflets"), secret("group-plans")}
	mustContain(t, "alice send", alice.run(t, "send", "bob", plain[0]), "Sent to bob")
	mustContain(t, "bob read", bob.run(t, "read"), plain[0])
	mustContain(t, "bob send", bob.run(t, "send", "alice", plain[1]), "Sent to alice")
	mustContain(t, "alice read", alice.run(t, "read"), plain[1])
	alice.run(t, "group", "create", group)
	alice.run(t, "group", "add", group, "bob")
	mustContain(t, "group send", alice.run(t, "group", "send", group, plain[2]), "Sent to "+group)
	mustContain(t, "bob read", bob.run(t, "read"), group+": alice: "+plain[2])
	plain = append(plain, group)
	srv.Kill()

	serverFiles := filesUnder(t, srv.data)
	for _, p := range plain {
		for path, b := range serverFiles {
			if bytes.Contains(b, []byte(p)) {
				t.Errorf("plaintext %q found in the server's %s", p, path)
			}
		}
	}
	for _, u := range []*user{alice, bob} {
		sec := userSecrets(t, u)
		if len(sec.needles) < 10 || sec.kpKeys == 0 || sec.groupKeys == 0 {
			t.Fatalf("%s: found too little key material to scan for (%d needles, %d key package keys, %d group keys)", u.name, len(sec.needles), sec.kpKeys, sec.groupKeys)
		}
		hits := 0
		for name, needle := range sec.needles {
			for path, b := range serverFiles {
				if bytes.Contains(b, needle) {
					hits++
					t.Errorf("%s's %s found in the server's %s", u.name, name, path)
				}
			}
		}
		found := false
		for _, b := range serverFiles {
			found = found || bytes.Contains(b, sec.devicePublic)
		}
		if !found {
			t.Errorf("control: %s's public device key is not in the server's files; the search cannot be trusted", u.name)
		}
		for path, b := range filesUnder(t, u.home) {
			for _, p := range plain {
				if bytes.Contains(b, []byte(p)) {
					t.Errorf("plaintext %q found in %s's home, %s (not encrypted at rest)", p, u.name, path)
				}
			}
		}
		t.Logf("%s: %d private values and windows (%d KeyPackage keys, %d group-state secrets) searched in %d server files: %d hits", u.name, len(sec.needles), sec.kpKeys, sec.groupKeys, len(serverFiles), hits)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// filesUnder reads every regular file under root.
func filesUnder(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files under %s", root)
	}
	return files
}

// secrets is a user's private key material, to search for.
type secrets struct {
	needles           map[string][]byte
	kpKeys, groupKeys int
	devicePublic      []byte
}

// userSecrets opens u's local store with the passphrase and collects its
// private keys. The client library gives the account seed
// (Client.AccountSeed); the rest (device seed, KeyPackage and group
// private keys) it keeps to itself, so this reads the store as the client
// does: Argon2id(passphrase) unwraps the store key, which opens each
// sealed value (client/localstore.go).
func userSecrets(t *testing.T, u *user) secrets {
	t.Helper()
	c, err := client.Open(client.Options{Home: u.home, Passphrase: []byte(passphrase)})
	if err != nil {
		t.Fatal(err)
	}
	libSeed := c.AccountSeed()
	c.Close()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(u.home, "samizdat.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var params, wrapped []byte
	if err := db.QueryRow(`SELECT v FROM meta WHERE k = 'kdf'`).Scan(&params); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT v FROM meta WHERE k = 'wrapped_key'`).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	var kdf client.KDFParams
	if err := json.Unmarshal(params, &kdf); err != nil {
		t.Fatal(err)
	}
	wrapper, _ := chacha20poly1305.NewX(argon2.IDKey([]byte(passphrase), kdf.Salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize))
	n := wrapper.NonceSize()
	storeKey, err := wrapper.Open(nil, wrapped[:n], wrapped[n:], []byte("samizdat store key v1"))
	if err != nil {
		t.Fatalf("%s: unwrapping the store key: %v", u.name, err)
	}
	aead, _ := chacha20poly1305.NewX(storeKey)

	s := secrets{needles: map[string][]byte{}}
	add := func(name string, b []byte) {
		if len(b) >= 16 {
			s.needles[name] = b
		}
	}
	rows, err := db.Query(`SELECT ns, k, v FROM kv`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns string
		var k, v []byte
		if err := rows.Scan(&ns, &k, &v); err != nil {
			t.Fatal(err)
		}
		plain, err := aead.Open(nil, v[:n], v[n:], append([]byte("kv\x00"+ns+"\x00"), k...))
		if err != nil {
			t.Fatalf("%s: opening kv %s/%x: %v", u.name, ns, k, err)
		}
		switch ns {
		case "self":
			var keys struct {
				AccountSeed []byte `json:"account_seed"`
				DeviceSeed  []byte `json:"device_seed"`
			}
			if err := json.Unmarshal(plain, &keys); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(keys.AccountSeed, libSeed) {
				t.Fatalf("%s: the store's account seed is not the library's", u.name)
			}
			add("account seed", keys.AccountSeed)
			add("account private key", ed25519.NewKeyFromSeed(keys.AccountSeed))
			add("device seed", keys.DeviceSeed)
			s.devicePublic = ed25519.NewKeyFromSeed(keys.DeviceSeed).Public().(ed25519.PublicKey)
		case "kp":
			var kp struct{ InitPrivateKey, EncryptionPrivateKey []byte }
			if err := json.Unmarshal(plain, &kp); err != nil {
				t.Fatal(err)
			}
			add(fmt.Sprintf("KeyPackage %x init private key", k[:4]), kp.InitPrivateKey)
			add(fmt.Sprintf("KeyPackage %x encryption private key", k[:4]), kp.EncryptionPrivateKey)
			s.kpKeys += 2
		case "chat":
			var rec struct {
				State []byte `json:"state"`
			}
			if err := json.Unmarshal(plain, &rec); err != nil {
				t.Fatal(err)
			}
			s.groupKeys += addGroupSecrets(t, fmt.Sprintf("group %x", k[:4]), rec.State, add)
		}
	}
	if s.devicePublic == nil {
		t.Fatalf("%s: no keys in the store", u.name)
	}
	return s
}

// addGroupSecrets adds the private parts of one serialized MLS group state
// (mls/state.go): the signature key's seed, every epoch secret, and every
// high-entropy 32-byte window of the private tree state and the secret
// tree (they hold HPKE private keys and ratchet secrets among length
// prefixes). It returns how many it added.
func addGroupSecrets(t *testing.T, name string, state []byte, add func(string, []byte)) int {
	t.Helper()
	var g struct {
		SigningKey, Private, SecretTree []byte
		Epoch                           map[string][]byte
	}
	if err := json.Unmarshal(state, &g); err != nil {
		t.Fatalf("%s: group state: %v", name, err)
	}
	count := 0
	if len(g.SigningKey) >= 32 {
		add(name+" signature key", g.SigningKey[:32])
		count++
	}
	for k, v := range g.Epoch {
		if len(v) > 0 {
			add(name+" epoch "+k+" secret", v)
			count++
		}
	}
	for what, blob := range map[string][]byte{"private tree state": g.Private, "secret tree": g.SecretTree} {
		for i := 0; i+32 <= len(blob); i++ {
			w := blob[i : i+32]
			if distinct(w) >= 20 {
				add(fmt.Sprintf("%s %s bytes %d..%d", name, what, i, i+32), w)
				count++
			}
		}
	}
	return count
}

// distinct counts the different byte values in b (a random 32-byte key
// has about 30).
func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}
