/// A JSON object that keeps its keys in insertion order, so output lines read the
/// same every run (`event` first) and scripts can rely on them.
public struct JSONObject: Sendable {
    private var fields: [(String, JSONValue)] = []

    public init() {}

    public subscript(key: String) -> JSONValue? {
        get { fields.first { $0.0 == key }?.1 }
        set {
            if let i = fields.firstIndex(where: { $0.0 == key }) {
                if let v = newValue { fields[i].1 = v } else { fields.remove(at: i) }
            } else if let v = newValue {
                fields.append((key, v))
            }
        }
    }

    public var keys: [String] { fields.map(\.0) }

    /// One line of compact JSON.
    public var serialized: String {
        "{" + fields.map { "\(JSONValue.string($0.0).serialized):\($0.1.serialized)" }.joined(separator: ",") + "}"
    }
}

/// A JSON value.
public indirect enum JSONValue: Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([JSONValue])
    case object(JSONObject)
    case null

    public var serialized: String {
        switch self {
        case .string(let s): return "\"" + escape(s) + "\""
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return "[" + a.map(\.serialized).joined(separator: ",") + "]"
        case .object(let o): return o.serialized
        case .null: return "null"
        }
    }

    private func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}

extension JSONValue {
    /// A hex string value, `"0x..."`: JSON numbers lose 64-bit addresses in many parsers.
    public static func hex(_ v: UInt64) -> JSONValue { .string("0x" + String(v, radix: 16)) }
}
