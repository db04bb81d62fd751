package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of the stored hash tiles (tlog.Tile.H): each
// tile holds up to 256 hashes of one tree level that is a multiple of 8.
const TileHeight = 8

const tileWidthMax = 1 << TileHeight

// TileData is a stored tile: Tile.W hashes (32 bytes each) of tree level
// Tile.L*TileHeight. Tiles only grow: a stored tile with W hashes serves
// every request for the same (L, N) with a smaller or equal W.
type TileData struct {
	Tile tlog.Tile
	Data []byte
}

// tree is what the sequencer keeps in memory to extend the Merkle log
// without reading history: the hashes of the perfect subtrees that make up
// the tree (its frontier, at most 63) and the hashes of the incomplete tile
// at each tile level.
type tree struct {
	size     int64
	frontier []frontierNode // largest subtree first
	tiles    [][]byte       // tiles[L]: hashes of the incomplete tile at tile level L
	dirty    []bool         // tiles[L] changed since the last takeTiles
	full     []TileData     // tiles completed since the last takeTiles
}

type frontierNode struct {
	level int
	hash  tlog.Hash
}

func (t *tree) clone() *tree {
	c := &tree{size: t.size, frontier: append([]frontierNode(nil), t.frontier...)}
	c.tiles = make([][]byte, len(t.tiles))
	for i, b := range t.tiles {
		c.tiles[i] = append(make([]byte, 0, tileWidthMax*tlog.HashSize), b...)
	}
	c.dirty = make([]bool, len(t.tiles))
	return c
}

// append adds the record hash h as leaf t.size.
func (t *tree) append(h tlog.Hash) { t.appendNode(0, h) }

// appendNode adds h, the hash of a perfect subtree of 2^level leaves, as
// leaves t.size.. of the tree; t.size must be a multiple of 2^level. The
// hashes of tree levels between 0 and level are not kept in tiles, so
// Verify appends whole tiles of leaves (level TileHeight) this way after
// comparing their leaf hashes with the stored level-0 tile itself.
func (t *tree) appendNode(level int, h tlog.Hash) {
	if t.size&(1<<uint(level)-1) != 0 {
		panic(fmt.Sprintf("ledger: subtree of level %d appended at tree size %d", level, t.size))
	}
	t.size += 1 << uint(level)
	t.frontier = append(t.frontier, frontierNode{level, h})
	t.addHash(level, h)
	for n := len(t.frontier); n >= 2 && t.frontier[n-1].level == t.frontier[n-2].level; n-- {
		l, r := t.frontier[n-2], t.frontier[n-1]
		node := frontierNode{l.level + 1, tlog.NodeHash(l.hash, r.hash)}
		t.frontier = append(t.frontier[:n-2], node)
		t.addHash(node.level, node.hash)
	}
}

// addHash records a completed hash of the given tree level (whose index is
// (t.size >> level) - 1) in the tile buffers.
func (t *tree) addHash(level int, h tlog.Hash) {
	if level%TileHeight != 0 {
		return
	}
	L := level / TileHeight
	for len(t.tiles) <= L {
		t.tiles = append(t.tiles, make([]byte, 0, tileWidthMax*tlog.HashSize))
		t.dirty = append(t.dirty, false)
	}
	t.tiles[L] = append(t.tiles[L], h[:]...)
	t.dirty[L] = true
	if len(t.tiles[L]) == tileWidthMax*tlog.HashSize {
		count := t.size >> uint(level)
		t.full = append(t.full, TileData{
			Tile: tlog.Tile{H: TileHeight, L: L, N: (count - 1) / tileWidthMax, W: tileWidthMax},
			Data: append([]byte(nil), t.tiles[L]...),
		})
		t.tiles[L] = t.tiles[L][:0]
	}
}

// root returns the RFC 6962 tree hash.
func (t *tree) root() tlog.Hash {
	if len(t.frontier) == 0 {
		return tlog.Hash{} // tlog.TreeHash(0, ...) is the zero hash too
	}
	h := t.frontier[len(t.frontier)-1].hash
	for i := len(t.frontier) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.frontier[i].hash, h)
	}
	return h
}

// rootWith returns the RFC 6962 hash of the tree extended by m > 0 more
// leaves, fewer than the smallest subtree of the frontier holds, given
// tail, the tree hash of those m leaves alone: the frontier folds onto it
// as onto the frontier nodes the m leaves would add.
func (t *tree) rootWith(tail tlog.Hash) tlog.Hash {
	h := tail
	for i := len(t.frontier) - 1; i >= 0; i-- {
		h = tlog.NodeHash(t.frontier[i].hash, h)
	}
	return h
}

// takeTiles returns the tiles to store since the last call: every completed
// tile and the incomplete tiles that changed.
func (t *tree) takeTiles() []TileData {
	out := t.full
	t.full = nil
	for L, b := range t.tiles {
		if !t.dirty[L] || len(b) == 0 {
			continue
		}
		t.dirty[L] = false
		w := len(b) / tlog.HashSize
		count := t.size >> uint(L*TileHeight)
		out = append(out, TileData{
			Tile: tlog.Tile{H: TileHeight, L: L, N: count / tileWidthMax, W: w},
			Data: append([]byte(nil), b...),
		})
	}
	for L := range t.dirty {
		t.dirty[L] = false
	}
	return out
}

// loadTree rebuilds the in-memory tree of size n from stored tiles; r must
// read hashes of a tree of at least size n.
func loadTree(n int64, r tlog.HashReader, readTiles func([]tlog.Tile) ([][]byte, error)) (*tree, error) {
	t := &tree{size: n}
	var indexes []int64
	var levels []int
	start := int64(0)
	for k := 62; k >= 0; k-- {
		if n&(1<<uint(k)) == 0 {
			continue
		}
		indexes = append(indexes, tlog.StoredHashIndex(k, start>>uint(k)))
		levels = append(levels, k)
		start += 1 << uint(k)
	}
	if len(indexes) > 0 {
		hashes, err := r.ReadHashes(indexes)
		if err != nil {
			return nil, fmt.Errorf("read frontier: %w", err)
		}
		for i, h := range hashes {
			t.frontier = append(t.frontier, frontierNode{levels[i], h})
		}
	}
	var want []tlog.Tile
	for L := 0; ; L++ {
		count := n >> uint(L*TileHeight)
		if count == 0 {
			break
		}
		t.tiles = append(t.tiles, make([]byte, 0, tileWidthMax*tlog.HashSize))
		t.dirty = append(t.dirty, false)
		if w := count % tileWidthMax; w > 0 {
			want = append(want, tlog.Tile{H: TileHeight, L: L, N: count / tileWidthMax, W: int(w)})
		}
	}
	if len(want) > 0 {
		data, err := readTiles(want)
		if err != nil {
			return nil, fmt.Errorf("read tiles: %w", err)
		}
		for i, tile := range want {
			if len(data[i]) != tile.W*tlog.HashSize {
				return nil, fmt.Errorf("tile %v: got %d bytes", tile.Path(), len(data[i]))
			}
			t.tiles[tile.L] = append(t.tiles[tile.L], data[i]...)
		}
	}
	return t, nil
}

// tileReader adapts a store's tile reads to tlog.TileReader.
type tileReader func([]tlog.Tile) ([][]byte, error)

func (r tileReader) Height() int                                   { return TileHeight }
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) { return r(tiles) }
func (r tileReader) SaveTiles([]tlog.Tile, [][]byte)               {}

// Checkpoint is a signed tree head in the C2SP tlog-checkpoint format:
// a note whose text is "<origin>\n<size>\n<base64 root hash>\n", signed
// with Ed25519 (golang.org/x/mod/sumdb/note).
type Checkpoint struct {
	Size int64
	Hash tlog.Hash
	Note []byte // the signed note, as served to clients
}

// CheckpointText returns the unsigned body of a checkpoint.
func CheckpointText(origin string, size int64, hash tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(hash[:]) + "\n"
}

// ParseCheckpointText parses a checkpoint body; extension lines after the
// hash are allowed and ignored.
func ParseCheckpointText(text string) (origin string, size int64, hash tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", 0, hash, errors.New("ledger: malformed checkpoint")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, hash, errors.New("ledger: malformed checkpoint size")
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, hash, errors.New("ledger: malformed checkpoint hash")
	}
	copy(hash[:], h)
	return lines[0], size, hash, nil
}

// OpenCheckpoint verifies a signed checkpoint with the verifier key (a
// note verifier key, "name+hash+base64") and returns its contents.
func OpenCheckpoint(msg []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: checkpoint signature: %w", err)
	}
	_, size, hash, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Size: size, Hash: hash, Note: bytes.Clone(msg)}, nil
}

// parseCheckpointNote parses a stored checkpoint without checking its
// signature (the store is trusted by the sequencer, not by Verify).
func parseCheckpointNote(msg []byte) (Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, errors.New("ledger: malformed checkpoint note")
	}
	_, size, hash, err := ParseCheckpointText(string(msg[:i+1]))
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Size: size, Hash: hash, Note: msg}, nil
}

// ed25519VerifierKey derives the note verifier key from a note signer key
// ("PRIVATE+KEY+name+hash+base64(0x01 || seed)").
func ed25519VerifierKey(skey string) (string, error) {
	// The base64 key may itself contain '+': cut only the first four.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("ledger: malformed signer key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("ledger: signer key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}
