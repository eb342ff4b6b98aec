import KVMDebugModel

/// What an exception catch needs of a session (DebugSession, and the GDB server's target).
public protocol CatchTarget: AnyObject {
    var arch: Arch { get }
    var vcpuCount: Int { get }
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile
    func readMemory(_ address: UInt64, count: Int, vcpu: Int) throws(DebugError) -> [UInt8]
    func insert(_ point: DebugPoint, on target: VCPUTarget) throws(DebugError)
    func remove(_ point: DebugPoint, from target: VCPUTarget) throws(DebugError)
}

extension DebugSession: CatchTarget {}

/// One exception caught at its handler's first instruction, with its cause as the guest's
/// state then holds it.
public struct CaughtException: Sendable, Hashable {
    public var vcpu: Int
    /// x86: the vectors whose gate leads to this handler (one, unless the guest shares handlers);
    /// arm64: empty.
    public var vectors: [UInt8]
    /// `#PF (vector 14)`, `#GP or #NP (vectors 13, 11)`, `synchronous exception`, `SError`.
    public var name: String
    /// The handler (IDT gate target; arm64 vector-table entry) the vCPU stopped at.
    public var handler: UInt64
    /// x86 error code from the exception frame (vectors that push one); arm64 ESR_EL1.
    public var errorCode: UInt64?
    /// The faulting pc: x86 the RIP saved in the exception frame, arm64 ELR_EL1.
    public var faultingPC: UInt64?
    /// x86 CR2 (#PF only); arm64 FAR_EL1.
    public var faultAddress: UInt64?

    public init(vcpu: Int, vectors: [UInt8], name: String, handler: UInt64, errorCode: UInt64? = nil,
                faultingPC: UInt64? = nil, faultAddress: UInt64? = nil) {
        self.vcpu = vcpu
        self.vectors = vectors
        self.name = name
        self.handler = handler
        self.errorCode = errorCode
        self.faultingPC = faultingPC
        self.faultAddress = faultAddress
    }

    /// The fields, JSON-style names.
    public var fields: [ExitField] {
        var f: [ExitField] = [ExitField("exception", .text(name)), ExitField("handler", .hex(handler))]
        if !vectors.isEmpty { f.append(ExitField("vector", .int(Int(vectors[0])))) }
        if let e = errorCode { f.append(ExitField(vectors.isEmpty ? "esr" : "errorCode", .hex(e))) }
        if let pc = faultingPC { f.append(ExitField("faultingPC", .hex(pc))) }
        if let a = faultAddress { f.append(ExitField(vectors.isEmpty ? "far" : "cr2", .hex(a))) }
        return f
    }

    /// `vCPU 0 caught #PF (vector 14) at handler 0x1100: error code 0x0, faulting pc 0x1012, CR2 0x40000000`.
    public var line: String {
        var parts: [String] = []
        if let e = errorCode { parts.append(vectors.isEmpty ? "ESR_EL1 \(hex(e))" : "error code \(hex(e))") }
        if let pc = faultingPC { parts.append("faulting pc \(hex(pc))") }
        if let a = faultAddress { parts.append(vectors.isEmpty ? "FAR_EL1 \(hex(a))" : "CR2 \(hex(a))") }
        return "vCPU \(vcpu) caught \(name) at handler \(hex(handler))" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
    }
}

/// `monitor catch exception VECTOR|all|off`, `kvmdbg run --catch exception[:VECTOR]`: hardware
/// breakpoints on the guest's own exception handlers, so an exception stops the guest at its
/// handler's first instruction, before the handler changes anything.
///
/// x86: the handlers are the targets of the 64-bit IDT gates (Intel SDM vol. 3 6.14.1) read
/// through IDTR and the vCPU's page tables; `all` means vectors 0-31. arm64: the synchronous and
/// SError entries of the VBAR_EL1 table (Arm ARM D1.10.2: current EL with SP_ELx at +0x200/+0x380,
/// lower EL AArch64 at +0x400/+0x580). The tables are read again at every stop (`refresh`), since
/// the guest can move them; breakpoints follow.
///
/// What it cannot see: an exception with no valid gate (it becomes #DF, then a triple fault,
/// which stops as a fatal exit); an exception taken while the tables moved since the last stop;
/// more handlers than free hardware breakpoints (refused, never silently dropped). A hardware
/// interrupt or `int N` through a caught vector is reported as that exception.
public final class ExceptionCatch {
    /// Which exceptions: x86 vectors (0-31), or arm64 (any vector number selects the table's entries).
    public private(set) var vectors: [UInt8]
    /// Handler address -> the vectors (x86) whose gates lead there; arm64: entry -> [].
    public private(set) var armed: [UInt64: [UInt8]] = [:]
    /// Breakpoints this catch inserted (a handler the user breaks on too stays the user's).
    private var owned: Set<UInt64> = []

    /// x86 mnemonics of vectors 0-31 (SDM vol. 3 table 6-1).
    static let x86Names = ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP",
                           "#PF", "reserved-15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "reserved-22", "reserved-23",
                           "reserved-24", "reserved-25", "reserved-26", "reserved-27", "#HV", "#VC", "#SX", "reserved-31"]
    /// Vectors whose delivery pushes an error code (SDM vol. 3 6.13): #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX.
    static let withErrorCode: Set<UInt8> = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]
    /// arm64 vector-table offsets kvmdbg arms and what they are.
    static let arm64Entries: [(offset: UInt64, name: String)] = [
        (0x200, "synchronous exception (current EL, SP_ELx)"), (0x380, "SError (current EL, SP_ELx)"),
        (0x400, "synchronous exception (lower EL, AArch64)"), (0x580, "SError (lower EL, AArch64)"),
    ]

    /// `vectors`: x86 0-31; empty means all 32.
    public init(vectors: [UInt8]) throws(DebugError) {
        if let bad = vectors.first(where: { $0 > 31 }) {
            throw .unsupported(reason: "exception vector \(bad) is not an exception: x86 exceptions are vectors 0-31")
        }
        self.vectors = vectors.isEmpty ? Array(0...31) : vectors
    }

    /// The name of x86 vector `v`: `#PF (vector 14)`.
    public static func x86Name(_ v: UInt8) -> String { "\(v < 32 ? x86Names[Int(v)] : "vector \(v)") (vector \(v))" }

    /// Reads the tables through `vcpu` (x86 IDTR and gates; arm64 VBAR_EL1) and moves the
    /// breakpoints to where the handlers are now. All or nothing: with too few free hardware
    /// slots nothing changes and the error says how many are needed. Returns what it armed.
    @discardableResult
    public func refresh<T: CatchTarget>(_ t: T, vcpu: Int = 0) throws(DebugError) -> [UInt64: [UInt8]] {
        let wanted = try handlers(t, vcpu: vcpu)
        let stale = owned.filter { wanted[$0] == nil }
        let new = wanted.keys.filter { !owned.contains($0) }.sorted()
        var added: [UInt64] = []
        for a in new {
            do throws(DebugError) {
                try t.insert(.hardware(address: a), on: .all)
                added.append(a)
            } catch {
                if case .alreadyArmed = error { continue }  // the user's own breakpoint there: it stops anyway
                for b in added { try? t.remove(.hardware(address: b), from: .all) }
                if case .noFreeSlot(_, _, let cap, _) = error {
                    throw .unsupported(reason: "catching these exceptions needs \(wanted.count) hardware breakpoints on handlers (\(wanted.keys.sorted().map { hex($0) }.joined(separator: ", "))); this vCPU has \(cap), some in use: catch fewer vectors or remove breakpoints (nothing was changed)")
                }
                throw error
            }
        }
        for a in stale { try? t.remove(.hardware(address: a), from: .all) }
        owned.subtract(stale)
        owned.formUnion(added)
        armed = wanted
        return wanted
    }

    /// Removes every breakpoint the catch inserted (`monitor catch exception off`).
    public func disarm<T: CatchTarget>(_ t: T) {
        for a in owned { try? t.remove(.hardware(address: a), from: .all) }
        owned = []
        armed = [:]
    }

    /// The exception `stop` caught, when it is a hardware breakpoint on an armed handler; the
    /// frame (x86) or ESR/ELR/FAR (arm64) read from the vCPU now, before anything ran.
    public func caught<T: CatchTarget>(_ stop: Stop, on t: T) -> CaughtException? {
        guard stop.reason == .hardwareBreakpoint, let vs = armed[stop.pc] else { return nil }
        guard let regs = try? t.registers(vcpu: stop.vcpu) else { return nil }
        switch regs {
        case .x86_64(let r):
            let names = vs.map { Self.x86Name($0) }
            var c = CaughtException(vcpu: stop.vcpu, vectors: vs, name: names.count == 1 ? names[0] : "one of " + names.joined(separator: ", "),
                                    handler: stop.pc)
            // The frame at RSP: [error code], RIP, CS, RFLAGS, RSP, SS. Read only when every vector
            // sharing the handler agrees on whether an error code was pushed.
            let codes = Set(vs.map { Self.withErrorCode.contains($0) })
            if codes.count == 1, let frame = try? t.readMemory(r.rsp, count: 16, vcpu: stop.vcpu) {
                let w0 = littleEndianValue(Array(frame[0..<8])), w1 = littleEndianValue(Array(frame[8..<16]))
                if codes.first! { c.errorCode = w0; c.faultingPC = w1 } else { c.faultingPC = w0 }
            }
            if vs.contains(14) { c.faultAddress = r.cr2 }
            return c
        case .arm64(let r):
            let name = Self.arm64Entries.first { (r.vbarEL1 & ~0x7FF) &+ $0.offset == stop.pc }?.name ?? "exception"
            return CaughtException(vcpu: stop.vcpu, vectors: [], name: name, handler: stop.pc,
                                   errorCode: r.esrEL1, faultingPC: r.elrEL1, faultAddress: r.farEL1)
        }
    }

    /// Handler address -> vectors, read from `vcpu`'s tables now.
    private func handlers<T: CatchTarget>(_ t: T, vcpu: Int) throws(DebugError) -> [UInt64: [UInt8]] {
        var out: [UInt64: [UInt8]] = [:]
        switch try t.registers(vcpu: vcpu) {
        case .x86_64(let r):
            for v in vectors where UInt64(v) * 16 + 15 <= UInt64(r.idtLimit) {
                let gate = try t.readMemory(r.idtBase &+ UInt64(v) * 16, count: 16, vcpu: vcpu)
                let low = littleEndianValue(Array(gate[0..<8])), high = littleEndianValue(Array(gate[8..<16]))
                let type = (low >> 40) & 0xF
                // Present, and an interrupt (0xE) or trap (0xF) gate: anything else faults on delivery.
                guard (low >> 47) & 1 == 1, type == 0xE || type == 0xF else { continue }
                let target = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16 | (high & 0xFFFF_FFFF) << 32
                out[target, default: []].append(v)
            }
            if out.isEmpty {
                throw .unsupported(reason: "no valid IDT gate for the vectors asked (IDTR base \(hex(r.idtBase)) limit \(hex(UInt64(r.idtLimit)))): such an exception goes straight to a double fault and a triple fault, which stops as a fatal exit anyway; ask again once the guest has loaded its IDT")
            }
        case .arm64(let r):
            // VBAR_EL1 resets UNKNOWN (0 under KVM): 0 means the guest has not set a table yet.
            guard r.vbarEL1 != 0 else {
                throw .unsupported(reason: "VBAR_EL1 is 0: the guest has set no vector table yet; ask again once it has")
            }
            for e in Self.arm64Entries { out[(r.vbarEL1 & ~0x7FF) &+ e.offset] = [] }
        }
        return out
    }
}
