package inventory

import (
	"fmt"
	"io"
	"os"
)

// An inventory comes from git: colleagues and pull requests. Whatever it
// holds, loading it must end in bounded time and memory, accepted or
// rejected with FILE:LINE. These are the bounds (docs/reliability.md).
const (
	// MaxBytes is the largest inventory file read. A real inventory of
	// 1,000 hosts is about 150 KiB; yaml.v3 needs up to ~200 bytes of memory
	// per node, and a hostile file can hold one node per byte.
	MaxBytes = 1 << 20

	// MaxAliasNodes bounds alias and merge (<<) expansion: the nodes reached
	// through aliases, counted as if each alias were replaced by a copy of
	// its anchor (nested aliases included). Anchors that each merge or
	// repeat the previous one twice grow exponentially ("billion laughs");
	// real inventories reach a few thousand nodes through aliases.
	MaxAliasNodes = 200_000

	// MaxInstances bounds the (distinct role list, service) pairs the
	// checks look at: hosts with the same roles count once. 1,000 hosts
	// of 50 services each is at most 50,000.
	MaxInstances = 1_000_000

	// maxErrors is how many problems one load reports; the rest are
	// summed up in one last line.
	maxErrors = 100
)

// readLimited reads at most MaxBytes of the file at path; a longer file
// (or an endless one such as /dev/zero) is an ErrorList naming it.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, tooLarge(path)
	}
	return data, nil
}

func tooLarge(path string) ErrorList {
	return ErrorList{{File: path, Msg: fmt.Sprintf("the inventory is larger than %d bytes (1 MiB), the most omni reads; an inventory of 1,000 hosts is about 150 KiB", MaxBytes)}}
}
