import Foundation
import Testing
import KVMTestSupport

// An editor's path, without an editor: lldb-dap-19 (Debian's lldb-19) attaches to `kvmdbg gdbserver`
// with a `gdb-remote-port` attach request, as examples/vscode/launch.json does, and this test
// plays the editor (DAPClient.swift): a source breakpoint in the C fixture, continue, the `stopped`
// event, the stack, a local's value. Asserts on what lldb-dap sends back.

@Suite(.serialized, KVMHost.required, GDBClient.lldbDAP.required) struct DAPClientTests {
    /// The attach arguments of examples/vscode/launch.json's lldb-dap configuration, with this
    /// test's program and port: the example is what is tested.
    static func exampleAttachArguments(program: String, port: Int) throws -> [String: Any] {
        let url = GDBProgram.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/vscode/launch.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let configurations = json?["configurations"] as? [[String: Any]] ?? []
        var config = try #require(configurations.first { $0["type"] as? String == "lldb-dap" }, "an lldb-dap configuration in \(url.path)")
        #expect(config["request"] as? String == "attach" && config["gdb-remote-port"] as? Int == 1234, "\(config)")
        for key in ["name", "type", "request"] { config[key] = nil }
        config["program"] = program
        config["gdb-remote-port"] = port
        return config
    }

    @Test func attachBreakContinueStackVariables() throws { try GDBProgram.withBuilt(Self.attachBreakContinueStackVariables) }

    static func attachBreakContinueStackVariables(elf: String) throws {
        let body = try GDBProgram.line("square-body"), call = try GDBProgram.line("call")
        let server = try GDBServerProcess(["--image", elf, "--backend", "kvm"])
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "a port in \(server.listeningLine)")

        let dap = try DAPClient()
        defer { dap.close() }
        do {
            _ = try dap.request("initialize", ["clientID": "kvmdbg-tests", "adapterID": "lldb-dap", "pathFormat": "path",
                                               "linesStartAt1": true, "columnsStartAt1": true])
            _ = try dap.request("attach", try Self.exampleAttachArguments(program: elf, port: port), timeout: 30)
            _ = try dap.event("initialized")
            let set = try dap.request("setBreakpoints", ["source": ["path": GDBProgram.source], "breakpoints": [["line": body.number]]])
            let bp = try #require((set["breakpoints"] as? [[String: Any]])?.first, "\(dap.transcript)")
            let verified = bp["verified"] as? Bool, line = bp["line"] as? Int
            #expect(verified == true && line == body.number, "breakpoint on prog.c:\(body.number): \(bp)")
            // lldb-dap resumes an attached process itself at configurationDone (no stopOnEntry),
            // as VS Code expects; a `continue` of ours would race the first stop.
            _ = try dap.request("configurationDone")

            let stopped = try dap.event("stopped", timeout: 30)
            let stop = try #require(stopped["body"] as? [String: Any], "\(dap.transcript)")
            let reason = stop["reason"] as? String
            #expect(reason == "breakpoint", "\(stop)")
            let thread = try #require(stop["threadId"] as? Int, "\(stop)")
            #expect(thread == 1, "the one vCPU is thread 1: \(stop)")

            let stack = try dap.request("stackTrace", ["threadId": thread])
            let frames = try #require(stack["stackFrames"] as? [[String: Any]], "\(dap.transcript)")
            let names = frames.map { $0["name"] as? String ?? "?" }
            let lines = frames.map { $0["line"] as? Int ?? -1 }
            let top = (frames.first?["source"] as? [String: Any])?["path"] as? String ?? ""
            #expect(names.prefix(2) == ["square", "kmain"], "square, called from kmain: \(frames)")
            #expect(lines.prefix(2) == [body.number, call.number], "at prog.c:\(body.number), called at line \(call.number): \(frames)")
            #expect(top.hasSuffix("/prog.c"), "\(frames)")

            let frameID = try #require(frames.first?["id"] as? Int, "\(frames)")
            let scopes = try #require(try dap.request("scopes", ["frameId": frameID])["scopes"] as? [[String: Any]], "\(dap.transcript)")
            let locals = try #require(scopes.first { $0["name"] as? String == "Locals" }?["variablesReference"] as? Int, "\(scopes)")
            let variables = try #require(try dap.request("variables", ["variablesReference": locals])["variables"] as? [[String: Any]], "\(dap.transcript)")
            let x = variables.first { $0["name"] as? String == "x" } ?? [:]
            let value = x["value"] as? String, type = x["type"] as? String
            #expect(value == "1" && type == "long", "square(1): x = 1: \(variables)")

            _ = try dap.request("disconnect", ["terminateDebuggee": false])
            #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
        } catch let e as DAPError {
            Issue.record("\(e)\n\(dap.transcript)\nserver: \(server.description)")
        }
    }
}
