/// How long one `run` may keep interpreting: the test safety net and the kick poll.
///
/// A real vCPU is interrupted by a signal at any time; the fake polls its kick flag
/// every `pollInterval` instructions, which is soon enough for all-stop tests.
struct FakeRunBudget {
    static let pollInterval = 1024

    let limit: Int?
    let kick: FakeKick
    /// Instructions retired in this run.
    private(set) var executed = 0

    init(limit: Int?, kick: FakeKick) {
        self.limit = limit
        self.kick = kick
    }

    /// True when the run must end with `.interrupted` before the next instruction.
    func exhausted() -> Bool {
        if let limit, executed >= limit { return true }
        if executed > 0, executed % Self.pollInterval == 0, kick.consume() { return true }
        return false
    }

    mutating func retired() { executed += 1 }
}
