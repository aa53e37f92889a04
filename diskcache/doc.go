// Package diskcache is a [courier.CacheStore] on disk, for command-line
// tools and single-host services: a session's HTTP cache that outlives the
// process, and that the processes of one host can share.
//
//	store, err := diskcache.New(filepath.Join(cacheDir, "courier"), 256<<20)
//	if err != nil { ... }
//	s, err := courier.New(courier.WithCache(courier.Cache{Store: store}))
//
// # Files
//
// Each key has one file, named by the SHA-256 of the key in hex and kept
// in one of 256 subdirectories named by the hash's first byte:
// DIR/3f/3fa2…. The directory (when New creates it) and the
// subdirectories are made with mode 0700, the files with 0600. A file holds a 29-byte header, then the key,
// then the value:
//
//	offset  size  field
//	     0     4  magic "CRDC"
//	     4     1  version (1)
//	     5     8  expiry, Unix milliseconds, big-endian (0: never)
//	    13     4  key length, big-endian
//	    17     8  value length, big-endian
//	    25     4  CRC-32C of bytes 0-24, the key and the value
//	    29        key, then value
//
// The key in the file tells a hash collision from a hit. A file whose
// lengths do not add up or whose checksum does not match is corrupt: Get
// reports a miss and removes it. Files in the directory that are not named
// like entries are left alone.
//
// # Durability
//
// A file is written under a temporary name (".tmp-…", in its final
// subdirectory), then renamed over the old one, so a reader sees the old
// entry or the new one, never a part of one, and a process that dies
// while writing leaves only a temporary file. Those are removed once an
// hour old, when a Store reads the subdirectory they are in (see below).
// Files are not synced to the disk: after a crash of the operating system
// an entry may be lost, or left short or zeroed, which its lengths and
// checksum reveal, so it is a miss. Losing entries is what a cache
// may do; syncing each one would cost more than most responses are worth.
//
// # Size and eviction
//
// The bound counts the sizes of the entry files. New reads the directory
// to learn what they add up to: all of it when it holds a few thousand
// files or fewer; in a larger one, subdirectories taken at random until
// it has seen 2,000 files, from which it estimates the rest (the names
// are hashes, so the files spread evenly over the subdirectories), so that
// a program that starts often, such as a command-line tool, does not pay
// for reading a large directory each time. The Store then counts what it
// writes and removes.
//
// When that count goes over the bound, or once the Store has written a
// tenth of the bound since it last read the whole directory, it reads the
// whole directory again, which counts what other Stores wrote or removed
// meanwhile, and if the files add up to more than the bound, it removes
// the least recently used until they add up to 90% of it at most. New
// does the same when it finds the directory over the bound. An entry's
// last use is its file's modification time, which Set and each hit set:
// the order survives the process, and processes sharing the directory
// evict by one order. Stores that share a directory keep its bound
// between them, give or take a tenth of it for each one writing at the
// time. A value too large for the bound is not stored.
//
// An expired entry is removed when Get finds it, or else when it is
// evicted; the Store does not sweep the directory for them.
//
// # Concurrency
//
// A Store is safe for concurrent use, and Stores in one process or
// several may share a directory: each sees the entries the others write.
// A file removed or replaced by another process between two steps of a
// Get is a miss (or the new entry), never an error.
//
// The methods' contexts are not used: file operations cannot be
// cancelled. A Set that reads the whole directory again does so holding
// the Store's lock, which delays the Store's other Sets and Deletes by
// that much (about 6 µs an entry on a small virtual machine: 150 ms for
// 25,000), once for every tenth of the bound written; a Get waits for it
// only when it removes an entry.
package diskcache
