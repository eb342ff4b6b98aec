import ArgumentParser
import KVMDebugCLI
import KVMDebugCore

/// `kvmdbg guests`: the built-in guests (KVM-only ones last), their arch, mode and symbols.
struct Guests: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the built-in guests with their symbols.")

    @OptionGroup var output: OutputOptions

    func run() {
        for g in BuiltinGuests.all + BuiltinGuests.paged + BuiltinGuests.kvmOnly + BuiltinGuests.crash {
            if output.json {
                var o = JSONObject()
                o["event"] = .string("guest")
                o["name"] = .string(g.name)
                o["arch"] = .string(g.arch.name)
                o["mode"] = .string(g.mode.name)
                o["entry"] = .hex(g.entry)
                o["summary"] = .string(g.summary)
                var syms = JSONObject()
                for s in g.symbols { syms[s.name] = .hex(s.address) }
                o["symbols"] = .object(syms)
                emitLine(o.serialized)
            } else {
                emitLine("\(g.name) (\(g.arch.name), mode \(g.mode.name)): \(g.summary)")
                for s in g.symbols {
                    emitLine("  \(s.name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(hex(s.address))  (\(s.size) bytes)")
                }
            }
        }
    }
}
