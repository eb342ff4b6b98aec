import Testing
import KVMDebugCore

/// The README's library example, compiled and run: `scripts/doc-links` checks that the code
/// between the markers below is the README's ```swift block (less its import), line for line.
@Suite struct ReadmeExampleTests {
    @Test(KVMHost.required) func theReadmeExampleStopsVCPU1AtItsBreakpoint() throws {
        var printed: [String] = []
        func print(_ line: String) { printed.append(line) }

        // README example begin
        // The built-in counter guest on 2 vCPUs, in a VM this process creates.
        let backend = try KVMBackend(guest: BuiltinGuests.counterX86(.long), vcpus: 2)
        let session = DebugSession(backend: backend)                  // all-stop over every vCPU
        try session.insert(.hardware(address: 0x1003), on: .vcpu(1))  // `loop`, on vCPU 1 only
        let round = try session.resume([.continue, .continue])        // per vCPU: .continue, .step or nil
        for stop in round.stops {
            print("vCPU \(stop.vcpu) \(stop.reason.name) at \(hex(stop.pc))")  // vCPU 1 hw-breakpoint at 0x1003
        }
        let regs = try session.registers(vcpu: 1)                      // read once per stop
        print("rip \(hex(regs.pc))")
        session.close()                                                // points removed, debugging off
        // README example end

        #expect(printed == ["vCPU 1 hw-breakpoint at 0x1003", "rip 0x1003"])
    }
}
