// kvmdbg-bench: guest-debug rates and latencies through the library, each rate printed
// with a baseline measured in the same process, interleaved with it (A/B, B/A, ...): a
// raw ioctl loop over the same vCPU kind (Sources/KVMRawLoop, plain C), or the fake
// backend's own calls. Never a timed test: numbers are printed, not asserted.
//
//   swift run -c release kvmdbg-bench [--seconds S] [--reps N] [--json FILE]
//       [--only rates,tables,allstop,kick,engine,protection] [--max-vcpus N] [--rounds N] [--allstop-seconds S]
//   swift run -c release kvmdbg-bench --profile kvm-step|kvm-break|raw-step|raw-break|
//       fake-step|fake-break|raw-fake-step|raw-fake-break [--seconds S]   (one loop, for perf/strace)
//   swift run -c release kvmdbg-bench --null-gdb-stub PACKET-LOG   (scripts/bench: gdb's own limit)
//   swift run -c release kvmdbg-bench --write-qemu-guest DIR        (scripts/bench: counter.bin + bios.bin)
import Foundation
import KVMDebugCore
import KVMDebugFake

/// Everything one run measured: what `--json FILE` writes.
struct BenchReport: Codable {
    var date: String
    var host: String
    var command: String
    var secondsPerMeasurement: Double
    var repetitions: Int
    var rates: [RatioFigure] = []
    var tables: [TableRow] = []
    var allStop: [AllStopRow] = []
    var kick: Latency?
    /// DebugSession.interrupt() to wait() returning, 1 vCPU running freely.
    var interrupt: Latency?
    var engine: [EngineRate] = []
    /// Protection watchpoints: hit vs breakpoint cycle, unrelated store, arm/disarm.
    var protection: [RatioFigure] = []
    var armDisarm: [ArmRow] = []
    var notes: [String] = []
}

var seconds = 0.3
var reps = 7
var jsonPath: String?
var only: Set<String> = ["rates", "tables", "allstop", "kick", "engine", "protection"]
var maxVCPUs = 1024
var rounds = 200
/// Time bound of one all-stop row: a row stops early after it, and says how many rounds ran.
var allStopSeconds = 120.0
var profile: ProfileTarget?
var nullStubLog: String?

/// Bad arguments end with the usage and status 2, never a trap.
func usageExit(_ problem: String) -> Never {
    let usage = """
        usage: kvmdbg-bench [--seconds S] [--reps N] [--json FILE] [--only rates,tables,allstop,kick,engine,protection]
                            [--max-vcpus N] [--rounds N] [--allstop-seconds S]
               kvmdbg-bench --profile \(ProfileTarget.allCases.map(\.rawValue).joined(separator: "|")) [--seconds S]
               kvmdbg-bench --null-gdb-stub PACKET-LOG | --write-qemu-guest DIR
        """
    FileHandle.standardError.write(Data(((problem.isEmpty ? "" : "kvmdbg-bench: \(problem)\n") + usage + "\n").utf8))
    exit(problem.isEmpty ? 0 : 2)
}

var args = CommandLine.arguments.dropFirst()
func value(_ flag: String, _ rest: inout ArraySlice<String>) -> String {
    guard let v = rest.popFirst() else { usageExit("\(flag) needs a value") }
    return v
}
while let a = args.popFirst() {
    switch a {
    case "--seconds": seconds = Double(value(a, &args)) ?? seconds
    case "--reps": reps = Int(value(a, &args)) ?? reps
    case "--json": jsonPath = value(a, &args)
    case "--only": only = Set(value(a, &args).split(separator: ",").map(String.init))
    case "--max-vcpus": maxVCPUs = Int(value(a, &args)) ?? maxVCPUs
    case "--rounds": rounds = Int(value(a, &args)) ?? rounds
    case "--allstop-seconds": allStopSeconds = Double(value(a, &args)) ?? allStopSeconds
    case "--null-gdb-stub": nullStubLog = value(a, &args)
    case "--write-qemu-guest":
        // scripts/bench: the real-mode counter guest for QEMU, from the same bytes kvmdbg runs.
        let dir = value(a, &args)
        let g = BuiltinGuests.counterX86(.real)
        try Data(g.image).write(to: URL(fileURLWithPath: dir + "/counter.bin"))
        // A 64 KiB BIOS whose reset vector (F000:FFF0) far-jumps to 0000:entry, as kvmdbg's
        // real-mode boot puts the vCPU there; the rest is hlt.
        var bios = [UInt8](repeating: 0xF4, count: 65536)
        let e = UInt16(g.entry)
        bios.replaceSubrange(0xFFF0..<0xFFF5, with: [0xEA, UInt8(e & 0xFF), UInt8(e >> 8), 0x00, 0x00])
        try Data(bios).write(to: URL(fileURLWithPath: dir + "/bios.bin"))
        print("loop=\(hex(g.symbol("loop")!.address)) load=\(hex(g.loadAddress)) entry=\(hex(g.entry)) counter=\(hex(g.symbol("counter")!.address))")
        exit(0)
    case "--profile":
        let v = value(a, &args)
        guard let p = ProfileTarget(rawValue: v) else {
            usageExit("--profile takes one of \(ProfileTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        profile = p
    case "--help", "-h": usageExit("")
    default:
        if let s = Double(a) { seconds = s } else { usageExit("unknown argument \(a)") }
    }
}

if let log = nullStubLog {
    // Section 4's limit: canned replies learnt from a kvmdbg --log-packets file.
    try NullStub(replaying: log).serve(port: 0)
}

if let p = profile {
    let body = try operation(p)
    let r = try rate(seconds: seconds, body)
    print("profile \(p.rawValue): \(fmtRate(r))")
    exit(0)
}

let kvmUsable: Bool = {
    #if arch(x86_64)
    return (try? KVMSystem()) != nil
    #else
    return false
    #endif
}()

var report = BenchReport(
    date: ISO8601DateFormatter().string(from: Date()),
    host: ProcessInfo.processInfo.hostName + " (\(ProcessInfo.processInfo.activeProcessorCount) CPUs)",
    command: CommandLine.arguments.joined(separator: " "), secondsPerMeasurement: seconds, repetitions: reps)
print("kvmdbg-bench: \(reps) interleaved repetitions of \(seconds) s; ratio = library / baseline (1.00 = no overhead); median [min-max]")

if only.contains("rates") {
    let (figs, notes) = libraryVsRaw(reps: reps, seconds: seconds, kvm: kvmUsable)
    report.rates = figs
    report.notes += notes
    func cell(_ s: Summary) -> String { pad("\(fmtRate(s.median)) [\(Int(s.min))-\(Int(s.max))]", 30) }
    func ratio(_ s: Summary) -> String { String(format: "%.2f [%.2f-%.2f]", s.median, s.min, s.max) }
    print("\n\(pad("rate (wall clock)", 30)) \(pad("library", 30)) \(pad("baseline", 30)) ratio")
    for f in figs { print("\(pad(f.name, 30)) \(cell(f.library)) \(cell(f.baseline)) \(ratio(f.ratio))") }
    print("\(pad("rate (per thread CPU second)", 30)) \(pad("library", 30)) \(pad("baseline", 30)) ratio")
    for f in figs { print("\(pad(f.name, 30)) \(cell(f.libraryCPU)) \(cell(f.baselineCPU)) \(ratio(f.ratioCPU))") }
    for n in notes { print(n) }
}

let counts = [1, 64, 256, 1024].filter { $0 <= maxVCPUs }
if only.contains("tables") {
    print("\n\(pad("table update (global bp)", 30)) \(pad("us/update median [min-max]", 30)) \(pad("SET_GUEST_DEBUG/update", 24)) \(pad("at next run", 12)) bytes/vCPU (tables + debugger)")
    let guest = BuiltinGuests.smpCounterX86(.long)
    var kvmCap = 0
    #if arch(x86_64)
    if kvmUsable { kvmCap = (try? KVMBackend.capabilities().maxVCPUs) ?? 0 }
    #endif
    for n in counts {
        var rows: [TableRow] = []
        do throws(DebugError) {
            rows.append(try tableScale("fake", backend: try FakeBackend(guest: guest, vcpus: n), reps: reps, updates: 50))
        } catch { report.notes.append("tables fake \(n): \(error.message)") }
        #if arch(x86_64)
        if kvmUsable {
            if n <= kvmCap {
                do throws(DebugError) {
                    rows.append(try tableScale("kvm", backend: try KVMBackend(guest: guest, vcpus: n), reps: reps, updates: 50))
                } catch { report.notes.append("tables kvm \(n): \(error.message)") }
            } else {
                report.notes.append("tables kvm \(n): skipped, KVM_CAP_MAX_VCPUS is \(kvmCap)")
            }
        }
        #endif
        for r in rows {
            let u = r.updateMicroseconds
            print("\(pad("\(r.backend) \(r.vcpus) vCPUs", 30)) \(pad(String(format: "%10.2f [%.2f-%.2f]", u.median, u.min, u.max), 30)) \(pad(String(format: "%.0f", r.setGuestDebugPerUpdate), 24)) \(pad("\(r.setGuestDebugAtNextRun)", 12)) \(r.tableBytesPerVCPU) + \(r.debuggerBytesPerVCPU)")
        }
        report.tables += rows
    }
    for n in report.notes where n.hasPrefix("tables") { print(n) }
}

if only.contains("allstop") {
    print("\n\(pad("all-stop (\(rounds) rounds)", 30)) \(pad("median", 12)) \(pad("p99", 12)) \(pad("max", 12)) \(pad("rounds/s", 10)) rounds")
    for n in [2, 8, 64, 256] where n <= maxVCPUs {
        var rows: [AllStopRow] = []
        do throws(DebugError) {
            rows.append(try allStop("fake", backend: try FakeBackend(guest: BuiltinGuests.smpCounterX86(.long), vcpus: n), rounds: rounds, maxSeconds: allStopSeconds))
        } catch { report.notes.append("allstop fake \(n): \(error.message)") }
        #if arch(x86_64)
        if kvmUsable {
            do throws(DebugError) {
                rows.append(try allStop("kvm", backend: try KVMBackend(guest: BuiltinGuests.smpCounterX86(.long), vcpus: n), rounds: rounds, maxSeconds: allStopSeconds))
            } catch { report.notes.append("allstop kvm \(n): \(error.message)") }
        }
        #endif
        for r in rows {
            print("\(pad("\(r.backend) \(r.vcpus) vCPUs", 30)) \(pad(fmtUs(r.latency.medianNs), 12)) \(pad(fmtUs(r.latency.p99Ns), 12)) \(pad(fmtUs(r.latency.maxNs), 12)) \(pad(String(format: "%.0f", r.roundsPerSecond), 10)) \(r.rounds)")
            if r.rounds < r.requestedRounds {
                report.notes.append("allstop \(r.backend) \(r.vcpus): only \(r.rounds) of \(r.requestedRounds) rounds (the \(Int(allStopSeconds)) s bound of --allstop-seconds)")
            }
        }
        report.allStop += rows
    }
    for n in report.notes where n.hasPrefix("allstop") { print(n) }
}

#if arch(x86_64)
if only.contains("kick") && kvmUsable {
    do throws(DebugError) {
        let k = try kickLatency(samples: rounds)
        report.kick = k
        print("\nkick (kick() to KVM_RUN returning, \(k.samples) samples): median \(fmtUs(k.medianNs))  p99 \(fmtUs(k.p99Ns))  max \(fmtUs(k.maxNs))")
    } catch { report.notes.append("kick: \(error.message)") }
    do throws(DebugError) {
        let k = try interruptLatency(backend: try KVMBackend(guest: BuiltinGuests.counterX86(.long)), samples: rounds)
        report.interrupt = k
        print("interrupt (DebugSession.interrupt() to wait() returning, \(k.samples) samples): median \(fmtUs(k.medianNs))  p99 \(fmtUs(k.p99Ns))  max \(fmtUs(k.maxNs))")
    } catch { report.notes.append("interrupt: \(error.message)") }
}
#endif

if only.contains("engine") {
    print("\n\(pad("gdb engine in process", 30)) packets/s median [min-max] (no socket, no thread hop)")
    var rows: [EngineRate] = []
    do throws(DebugError) {
        rows += engineRates("fake", backend: try FakeBackend(guest: BuiltinGuests.counterX86(.real)), reps: reps, seconds: seconds)
        #if arch(x86_64)
        if kvmUsable { rows += engineRates("kvm", backend: try KVMBackend(guest: BuiltinGuests.counterX86(.real)), reps: reps, seconds: seconds) }
        #endif
    } catch { report.notes.append("engine: \(error.message)") }
    for r in rows {
        let s = r.packetsPerSecond
        print("\(pad("\(r.backend) \(r.packet)", 30)) \(fmtRate(s.median)) [\(Int(s.min))-\(Int(s.max))]")
    }
    report.engine = rows
}

if only.contains("protection") {
    let (figs, arm, notes) = protectionFigures(reps: reps, seconds: seconds, kvm: kvmUsable, maxVCPUs: maxVCPUs)
    report.protection = figs
    report.armDisarm = arm
    report.notes += notes
    func us(_ r: Double) -> String { String(format: "%.1f us", 1e6 / r) }
    print("\n\(pad("protection watchpoints", 30)) \(pad("library (us/op)", 30)) \(pad("baseline (us/op)", 30)) ratio of rates (>1: faster than the baseline)")
    for f in figs {
        print("\(pad(f.name, 30)) \(pad("\(us(f.library.median)) [\(us(f.library.max))-\(us(f.library.min))]", 30)) \(pad("\(us(f.baseline.median)) \(f.baselineName)", 30)) \(String(format: "%.2f [%.2f-%.2f]", f.ratio.median, f.ratio.min, f.ratio.max))")
        if f.name.hasSuffix("unrelated store") {
            print("\(pad("", 30)) cost per unrelated store on the watched page: \(String(format: "%.1f us", 1e6 / f.library.median - 1e6 / f.baseline.median))")
        }
    }
    print("\(pad("arm+disarm a global watch", 30)) us per cycle median [min-max]")
    for r in arm {
        print("\(pad("\(r.backend) \(r.vcpus) vCPUs", 30)) \(String(format: "%.1f [%.1f-%.1f]", r.microseconds.median, r.microseconds.min, r.microseconds.max))")
    }
    for n in notes { print(n) }
}

if let path = jsonPath {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(report).write(to: URL(fileURLWithPath: path))
    print("\nwrote \(path)")
}
