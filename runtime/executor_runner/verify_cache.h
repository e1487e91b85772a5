// The verify cache: digests the runner checked, remembered so an unchanged program is not hashed
// again (--verify_cache). As Linux IMA does for measured files, a range is re-hashed only when
// the file may have changed: an entry names the file (device, inode) with its size, mtime and
// ctime, the card's digest and the card ranges that were checked; a run whose file and card
// still match the entry reads those ranges without hashing them. Any write to the file changes
// its ctime, which only root can set back, and a copy is a new inode; the loader also re-checks
// the file after every unhashed read and after the last load (verified_loader.h).
//
// The cache trusts only itself, like ssh's StrictModes: the folder must belong to this user with
// mode 0700, an entry must be a regular file (no symlink) of this user, not group- or
// world-writable; otherwise one `warning:` line says why and the run hashes. Files on loop
// devices or removable drives (whose contents can change under the same identity) are never
// remembered, nor files written less than 2 s before the check (a write in the same timestamp
// tick could hide). The folder keeps the 1024 most recently used entries.
#pragma once

#include <set>
#include <string>

#include "program_verification.h"

namespace xnn_runner {

// From --verify_cache: "on" (the default folder, $XDG_CACHE_HOME or ~/.cache, then
// executorch-runner/verified), "off" (returns ""), or a folder.
std::string resolve_verify_cache(const std::string& flag);

// The card ranges ("offset:size:blake3", CardRange::key) an entry vouches for, when it describes
// this very file unchanged and the same card digest; empty otherwise.
std::set<std::string> cached_ranges(const std::string& dir, const ProgramFile& file, const std::string& digest);

// Remembers that `ranges` of the (unchanged) file were checked. Best effort: a folder that
// cannot be written only means the next run hashes again.
void remember_ranges(const std::string& dir, const ProgramFile& file, const std::string& digest,
                     const std::set<std::string>& ranges);

}  // namespace xnn_runner
