import Foundation
import Testing

/// Clients nobody tuned kvmdbg to, fetched into the build folder by scripts (never installed
/// system-wide): Debian's lldb-13 and lldb-14 unpacked by scripts/old-lldb (installing lldb-14
/// would remove lldb-19), and the gdbstub-mcp package's Python client in a venv made by
/// scripts/gdbstub-mcp. scripts/test runs both scripts; a client they could not fetch is a named skip.
enum ThirdPartyClient: String, Sendable, CustomStringConvertible {
    case lldb13 = "lldb-13"
    case lldb14 = "lldb-14"
    case gdbstubMCP = "gdbstub-mcp"

    var description: String { rawValue }

    /// The package's root (this file is Tests/KVMDebugTests/ThirdPartyClients.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The executable: the wrapper scripts/old-lldb writes, or the venv's python.
    var path: String {
        let build = Self.packageRoot.appendingPathComponent(".build")
        switch self {
        case .lldb13, .lldb14: return build.appendingPathComponent("old-lldb/bin/\(rawValue)").path
        case .gdbstubMCP: return build.appendingPathComponent("gdbstub-mcp/bin/python").path
        }
    }

    var script: String { self == .gdbstubMCP ? "scripts/gdbstub-mcp" : "scripts/old-lldb" }

    var isPresent: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// The trait for tests that run this client: a named skip when it was not fetched.
    var required: ConditionTrait {
        .enabled(if: isPresent, Comment(rawValue: "\(rawValue) is not in the build folder (\(path)): run \(script) (scripts/test does)"))
    }
}
