import Foundation

/// Median, spread and the raw samples of one figure's repetitions.
struct Summary: Codable {
    var median: Double
    var min: Double
    var max: Double
    var samples: [Double]

    init(_ samples: [Double]) {
        let s = samples.sorted()
        self.samples = samples
        median = s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        min = s.first ?? 0
        max = s.last ?? 0
    }

    /// Spread as a fraction of the median: (max - min) / median.
    var spread: Double { median == 0 ? 0 : (max - min) / median }
}

/// Nanoseconds on the monotonic clock.
func nowNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// This thread's CPU time (user + system, guest time included), nanoseconds.
func threadCPUNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// Operations per wall-clock second and per second of this thread's CPU time. On a shared
/// host the CPU rate leaves out the time the thread sat runnable behind other work.
struct Rates {
    var wall: Double
    var cpu: Double
}

/// Runs `body(batch)` (which does `batch` operations) repeatedly for about `seconds`.
func rates(seconds: Double, batch: Int = 256, _ body: (Int) throws -> Void) rethrows -> Rates {
    var n = 0
    let start = nowNanoseconds()
    let cpu0 = threadCPUNanoseconds()
    let limit = UInt64(seconds * 1e9)
    var elapsed: UInt64 = 0
    repeat {
        try body(batch)
        n += batch
        elapsed = nowNanoseconds() - start
    } while elapsed < limit
    let cpu = max(1, threadCPUNanoseconds() - cpu0)
    return Rates(wall: Double(n) / (Double(elapsed) / 1e9), cpu: Double(n) / (Double(cpu) / 1e9))
}

/// Operations per wall-clock second (`rates`).
func rate(seconds: Double, batch: Int = 256, _ body: (Int) throws -> Void) rethrows -> Double {
    try rates(seconds: seconds, batch: batch, body).wall
}

/// One library-vs-baseline figure: `reps` interleaved repetitions (A/B, then B/A, ...).
struct RatioFigure: Codable {
    var name: String
    var unit: String
    var baselineName: String
    var library: Summary
    var baseline: Summary
    /// library / baseline, per repetition (each pair measured back to back).
    var ratio: Summary
    /// The same per second of the measuring thread's CPU time (robust to a loaded host).
    var libraryCPU: Summary
    var baselineCPU: Summary
    var ratioCPU: Summary
}

/// Measures `library` and `baseline` alternately, `reps` times, swapping their order each
/// repetition so drift in the shared host's load hits both alike.
func interleaved(_ name: String, baselineName: String, reps: Int, seconds: Double,
                 library: (Int) throws -> Void, baseline: (Int) throws -> Void) rethrows -> RatioFigure {
    var lib: [Rates] = []
    var base: [Rates] = []
    for r in 0..<reps {
        if r % 2 == 0 {
            base.append(try rates(seconds: seconds, baseline))
            lib.append(try rates(seconds: seconds, library))
        } else {
            lib.append(try rates(seconds: seconds, library))
            base.append(try rates(seconds: seconds, baseline))
        }
    }
    return RatioFigure(name: name, unit: "ops/s", baselineName: baselineName, library: Summary(lib.map(\.wall)),
                       baseline: Summary(base.map(\.wall)), ratio: Summary(zip(lib, base).map { $0.wall / $1.wall }),
                       libraryCPU: Summary(lib.map(\.cpu)), baselineCPU: Summary(base.map(\.cpu)),
                       ratioCPU: Summary(zip(lib, base).map { $0.cpu / $1.cpu }))
}

/// Latency percentiles from sorted samples (nanoseconds).
struct Latency: Codable {
    var samples: Int
    var medianNs: UInt64
    var p99Ns: UInt64
    var maxNs: UInt64
    var minNs: UInt64

    init(_ values: [UInt64]) {
        let s = values.sorted()
        samples = s.count
        func at(_ q: Double) -> UInt64 { s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count - 1) * q).rounded()))] }
        medianNs = at(0.5)
        p99Ns = at(0.99)
        maxNs = s.last ?? 0
        minNs = s.first ?? 0
    }
}

func fmtRate(_ r: Double) -> String { String(format: "%9.0f/s", r) }
func fmtUs(_ ns: UInt64) -> String { String(format: "%8.1f us", Double(ns) / 1000) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
