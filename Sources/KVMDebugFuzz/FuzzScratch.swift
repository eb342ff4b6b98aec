import Glibc

/// The one file a fuzz process may write: `monitor dump-guest-memory FILE` lands here whatever
/// FILE says (inputs had named paths in / and in the working folder), so the core writer is still
/// exercised. Removed when the process exits.
enum FuzzScratch {
    static let corePath: String = {
        let path = "/tmp/kvmdbg-fuzz-core.\(getpid())"
        atexit { unlink(FuzzScratch.corePath) }
        return path
    }()
}
