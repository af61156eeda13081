package blobfs

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// A pack file is a sequence of records, each a fixed header followed by
// the chunk's bytes (docs/spec/attachments.md §5.2 "How the server stores
// chunks"):
//
//	magic    4 bytes  "SZc1"
//	address 32 bytes  SHA-256 of the data (checked before it was written)
//	length   4 bytes  big-endian, bytes of data that follow the header
//	dataCRC  4 bytes  big-endian CRC-32C (Castagnoli) of the data
//	headCRC  4 bytes  big-endian CRC-32C of the 44 bytes before it
const (
	headerSize = 48
	// maxRecordData bounds a record's length field: a header claiming
	// more is damage, not a chunk (chunks are 256 KiB, wire.MaxChunk).
	maxRecordData = 16 << 20
)

var recordMagic = [4]byte{'S', 'Z', 'c', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func dataCRC(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// record is a decoded record header.
type record struct {
	hash [32]byte
	n    uint32 // bytes of data
	crc  uint32 // CRC-32C of the data
}

// encodeHeader writes r's header into b (headerSize bytes).
func encodeHeader(b []byte, r record) {
	_ = b[headerSize-1]
	copy(b[0:4], recordMagic[:])
	copy(b[4:36], r.hash[:])
	binary.BigEndian.PutUint32(b[36:40], r.n)
	binary.BigEndian.PutUint32(b[40:44], r.crc)
	binary.BigEndian.PutUint32(b[44:48], crc32.Checksum(b[:44], castagnoli))
}

// decodeHeader reads a header from b; ok is false for anything that is not
// a whole, undamaged header (too short, wrong magic, wrong header CRC, a
// length over maxRecordData).
func decodeHeader(b []byte) (r record, ok bool) {
	if len(b) < headerSize || !bytes.Equal(b[0:4], recordMagic[:]) {
		return record{}, false
	}
	if binary.BigEndian.Uint32(b[44:48]) != crc32.Checksum(b[:44], castagnoli) {
		return record{}, false
	}
	copy(r.hash[:], b[4:36])
	r.n = binary.BigEndian.Uint32(b[36:40])
	r.crc = binary.BigEndian.Uint32(b[40:44])
	if r.n > maxRecordData {
		return record{}, false
	}
	return r, true
}
