import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// LLDB's handshake packets against the engine on the fake (LLDBPackets.swift, RegisterInfoPackets.swift).
@Suite struct LLDBPacketTests {
    /// `key:value;` pairs of an LLDB reply.
    func pairs(_ reply: String) -> [String: String] {
        var d: [String: String] = [:]
        for item in reply.split(separator: ";") {
            guard let colon = item.firstIndex(of: ":") else { continue }
            d[String(item[..<colon])] = String(item[item.index(after: colon)...])
        }
        return d
    }

    func unhex(_ s: String) -> String {
        var bytes: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex, let j = s.index(i, offsetBy: 2, limitedBy: s.endIndex), let b = UInt8(s[i..<j], radix: 16) {
            bytes.append(b)
            i = j
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func hostAndProcessInfoNameABareMetalTriple() throws {
        let h = try Harness()
        let host = pairs(try h.reply("qHostInfo"))
        #expect(unhex(host["triple"] ?? "") == "x86_64-unknown-none")
        #expect(host["ptrsize"] == "8" && host["endian"] == "little")
        #expect(host["watchpoint_exceptions_received"] == "after", "x86 data breakpoints trap after the access")
        let process = pairs(try h.reply("qProcessInfo"))
        #expect(process["pid"] == "1")
        #expect(unhex(process["triple"] ?? "") == "x86_64-unknown-none")

        let arm = try Harness(guest: BuiltinGuests.counterArm64())
        let armHost = pairs(try arm.reply("qHostInfo"))
        #expect(unhex(armHost["triple"] ?? "") == "aarch64-unknown-none")
        #expect(armHost["watchpoint_exceptions_received"] == "before", "arm64 watchpoints trap before the access")
    }

    @Test func registerInfoListsEveryRegisterWithDWARFAndGenericNumbers() throws {
        let h = try Harness()
        let table = RegisterLayout.table(for: .x86_64)
        var offset = 0
        for n in table.indices {
            let r = pairs(try h.reply("qRegisterInfo\(String(n, radix: 16))"))
            #expect(r["name"] == table[n].name)
            #expect(r["bitsize"] == "\(table[n].bits)")
            #expect(r["offset"] == "\(offset)", "\(table[n].name) sits at its g-packet offset")
            offset += table[n].bytes
        }
        #expect(try h.reply("qRegisterInfo\(String(table.count, radix: 16))") == "E45", "past the last register: E45 ends LLDB's loop")
        let rip = pairs(try h.reply("qRegisterInfo10"))
        #expect(rip["name"] == "rip" && rip["generic"] == "pc" && rip["dwarf"] == "16" && rip["ehframe"] == "16")
        let rdx = pairs(try h.reply("qRegisterInfo3"))
        #expect(rdx["name"] == "rdx" && rdx["dwarf"] == "1" && rdx["generic"] == "arg3", "DWARF's order is rax rdx rcx rbx")
        let rsp = pairs(try h.reply("qRegisterInfo7"))
        #expect(rsp["generic"] == "sp" && rsp["dwarf"] == "7")
        #expect(pairs(try h.reply("qRegisterInfo6"))["generic"] == "fp")
        let flags = pairs(try h.reply("qRegisterInfo11"))
        #expect(flags["generic"] == "flags" && flags["alt-name"] == "rflags", "lldb's `register read rflags` finds GDB's eflags")

        let arm = try Harness(guest: BuiltinGuests.counterArm64())
        #expect(pairs(try arm.reply("qRegisterInfo20"))["generic"] == "pc")
        #expect(pairs(try arm.reply("qRegisterInfo1f"))["generic"] == "sp")
        #expect(pairs(try arm.reply("qRegisterInfo1d"))["generic"] == "fp")
        #expect(pairs(try arm.reply("qRegisterInfo1e"))["generic"] == "ra")
        #expect(pairs(try arm.reply("qRegisterInfo21"))["generic"] == "flags")
    }

    @Test func targetXMLCarriesTheSameNumbers() throws {
        for (guest, regs) in [(BuiltinGuests.counterX86(.long), ["<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\" dwarf_regnum=\"16\" ehframe_regnum=\"16\" generic=\"pc\" altname=\"pc\"/>",
                                                                 "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\" regnum=\"7\" dwarf_regnum=\"7\" ehframe_regnum=\"7\" generic=\"sp\" altname=\"sp\"/>",
                                                                 "<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\" regnum=\"17\" dwarf_regnum=\"49\" ehframe_regnum=\"49\" generic=\"flags\" altname=\"rflags\"/>"]),
                              (BuiltinGuests.counterArm64(), ["<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"32\" dwarf_regnum=\"32\" ehframe_regnum=\"32\" generic=\"pc\"/>",
                                                              "<reg name=\"x29\" bitsize=\"64\" type=\"int\" regnum=\"29\" dwarf_regnum=\"29\" ehframe_regnum=\"29\" generic=\"fp\"/>"])] {
            let xml = TargetDescription.xml(for: guest.arch)
            for r in regs { #expect(xml.contains(r), "\(guest.arch.name): \(r)") }
        }
    }

    @Test func threadSuffixPicksTheVCPU() throws {
        let h = try Harness(vcpus: 2)
        #expect(try h.reply("QThreadSuffixSupported") == "OK")
        _ = try h.ask("vCont;s:2")  // only vCPU 1 moves
        #expect(try h.reply("Hg1") == "OK")
        #expect(try h.reply("p10;thread:2;") == "0310000000000000", "the suffix, not Hg, picks vCPU 1")
        #expect(try h.reply("p10;thread:1;") == "0010000000000000")
        #expect(try h.reply("P10=0010000000000000;thread:2;") == "OK")
        #expect(try h.reply("p10;thread:0002;") == "0010000000000000", "P with a suffix wrote vCPU 1")
        #expect(try h.reply("p10;thread:3;") == "E01", "no thread 3 with 2 vCPUs")
    }

    @Test func stopRepliesListThreadsOnceAsked() throws {
        let h = try Harness(vcpus: 2)
        #expect(!(try h.reply("vCont;s:1")).contains("threads:"), "GDB never asked: no LLDB keys")
        #expect(try h.reply("QListThreadsInStopReply") == "OK")
        let stop = pairs(try h.reply("vCont;s:1"))
        #expect(stop["threads"] == "1,2")
        #expect(stop["thread-pcs"] == "1006,1000")
        let other = try h.reply("qThreadStopInfo2")
        #expect(other.hasPrefix("T00thread:2;"), "vCPU 1 did not stop for a reason: \(other)")
        #expect(try h.reply("qThreadStopInfo1").hasPrefix("T05thread:1;"), "the stopped thread gets the last stop reply")
    }

    @Test func memoryRegionsFollowGuestRAM() throws {
        let h = try Harness()  // 2 MiB of RAM from 0
        #expect(pairs(try h.reply("qMemoryRegionInfo:1234")) == ["start": "1000", "size": "1ff000", "permissions": "rwx"])
        let above = pairs(try h.reply("qMemoryRegionInfo:200000"))
        #expect(above["start"] == "200000" && above["permissions"] == nil, "past RAM: unmapped, \(above)")
        let arm = try Harness(guest: BuiltinGuests.counterArm64())  // 0x10000..0x30000
        #expect(pairs(try arm.reply("qMemoryRegionInfo:0")) == ["start": "0", "size": "10000"])
        #expect(pairs(try arm.reply("qMemoryRegionInfo:10000")) == ["start": "10000", "size": "20000", "permissions": "rwx"])
    }

    @Test func errorStringsOnceEnabled() throws {
        let h = try Harness()
        // A watch on no RAM (memory protection serves what no debug register can, but not that).
        #expect(try h.reply("Z2,400001,20").hasPrefix("E."), "GDB's E.text by default")
        #expect(try h.reply("QEnableErrorStrings") == "OK")
        let r = try h.reply("Z2,400001,20")
        #expect(r.hasPrefix("E01;") && !unhex(String(r.dropFirst(4))).isEmpty, "LLDB's Exx;HEX: \(r)")
        #expect(try h.reply("qVAttachOrWaitSupported") == "", "refused: nothing to wait for")
        #expect(try h.reply("qWatchpointSupportInfo:") == "num:4;")
    }
}
