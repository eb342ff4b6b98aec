// Helpers shared by the three test targets (KVMDebugCoreTests, KVMDebugFakeTests,
// KVMDebugTests): one copy each instead of one per suite.
import KVMDebugCore
import KVMDebugFake

/// Runs `body` and returns the DebugError it threw, or nil.
public func thrownError<T>(_ body: () throws(DebugError) -> T) -> DebugError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A fake backend whose runs end (`.interrupted`) after 100k instructions: a regression
/// that lets the guest run freely fails the test instead of hanging it.
public func boundedFake(_ guest: Guest, vcpus: Int = 1) throws(DebugError) -> FakeBackend {
    let b = try FakeBackend(guest: guest, vcpus: vcpus)
    b.maxInstructionsPerRun = 100_000
    return b
}

// Raw `kvm_guest_debug.control` flags written out by hand, never taken from kvmdbg's
// `GuestDebugControl`: tests check the library and the fake against the uapi values.

/// KVM_GUESTDBG_ENABLE.
public let ENABLE: UInt32 = 0x1
/// KVM_GUESTDBG_SINGLESTEP.
public let SINGLESTEP: UInt32 = 0x2
/// KVM_GUESTDBG_USE_SW_BP (x86).
public let X86_USE_SW_BP: UInt32 = 0x1_0000
/// KVM_GUESTDBG_USE_HW_BP (x86).
public let X86_USE_HW_BP: UInt32 = 0x2_0000
/// KVM_GUESTDBG_INJECT_DB (x86).
public let X86_INJECT_DB: UInt32 = 0x4_0000
/// KVM_GUESTDBG_INJECT_BP (x86).
public let X86_INJECT_BP: UInt32 = 0x8_0000
/// KVM_GUESTDBG_BLOCKIRQ (x86).
public let BLOCKIRQ: UInt32 = 0x10_0000
/// KVM_GUESTDBG_USE_SW_BP (arm64).
public let ARM64_USE_SW_BP: UInt32 = 0x1_0000
/// KVM_GUESTDBG_USE_HW (arm64).
public let ARM64_USE_HW: UInt32 = 0x2_0000
