import Testing
import Foundation
import KVMDebugFuzz
import KVMTestSupport

/// The fuzzer's corpus (Fuzz/corpus/, crashes included once found) replayed through the same
/// harness on every `swift test`, plus seeded mutations of it: no input may crash, hang or
/// make the engine send a malformed reply stream.
@Suite struct FuzzCorpusTests {
    static var corpus: [(String, [UInt8])] {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        dir.appendPathComponent("Fuzz/corpus")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        return names.compactMap { n in
            (try? Data(contentsOf: dir.appendingPathComponent(n))).map { (n, Array($0)) }
        }
    }

    @Test func everyCorpusInputIsServedWellFormed() {
        let all = Self.corpus
        #expect(all.count >= 30, "Fuzz/corpus has \(all.count) inputs")
        for (name, input) in all {
            let o = GDBFuzzHarness.run(input)
            #expect(o.violation == nil, "\(name): \(o.violation ?? "")")
            #expect(!o.sent.isEmpty || name == "kill", "\(name): no reply at all")
        }
    }

    @Test func theChecksCanFail() {
        #expect(GDBFuzzHarness.framingViolation(Array("+$OK#9a".utf8)) == nil)
        #expect(GDBFuzzHarness.framingViolation(Array("$OK#9b".utf8)) == "bad checksum on the packet at 0")
        #expect(GDBFuzzHarness.framingViolation(Array("$O$K#00".utf8)) == "unescaped $ inside the packet at 0")
        #expect(GDBFuzzHarness.framingViolation(Array("x".utf8)) == "stray byte 120 at 0")
    }

    /// A few hundred deterministic mutations (byte flips, inserts, splices) of corpus inputs.
    @Test func seededMutationsAreServedWellFormed() {
        var rng = SplitMix64(state: 12)
        let all = Self.corpus.map(\.1)
        guard !all.isEmpty else { Issue.record("no corpus"); return }
        for round in 0..<300 {
            var input = all[rng.below(all.count)]
            for _ in 0..<(1 + rng.next() % 4) {
                let at = input.isEmpty ? 0 : rng.below(input.count)
                switch rng.next() % 4 {
                case 0 where !input.isEmpty: input[at] ^= rng.byte() | 1
                case 1: input.insert(rng.byte(), at: at)
                case 2 where at < input.count: input.remove(at: at)
                default:
                    let other = all[rng.below(all.count)]
                    input.insert(contentsOf: other.dropFirst(), at: at)
                }
            }
            let o = GDBFuzzHarness.run(input)
            #expect(o.violation == nil, "mutation \(round): \(o.violation ?? "")")
        }
    }
}

