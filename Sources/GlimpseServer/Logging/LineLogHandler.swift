import GlimpseCore
import Logging
import OpenStackEncoding
import OpenStackJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Structured logs, one line per event on stderr: `key=value` text or JSON objects.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let json: Bool

    public init(label: String, level: Logger.Level, json: Bool) {
        self.label = label
        self.logLevel = level
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        merged.removeValue(forKey: "hb.request.id")
        let time = Timestamp.now().iso8601Microseconds
        var line: String
        if json {
            var o = JSONObject()
            o["time"] = .string(time)
            o["level"] = .string(event.level.rawValue)
            o["logger"] = .string(label)
            o["message"] = .string(event.message.description)
            for (k, v) in merged.sorted(by: { $0.key < $1.key }) { o[k] = .string(v.description) }
            line = JSONValue.object(o).jsonString
        } else {
            line = "\(time) \(event.level.rawValue.uppercased()) \(event.message)"
            for (k, v) in merged.sorted(by: { $0.key < $1.key }) {
                let text = v.description
                line += " \(k)=" + (text.contains(" ") || text.isEmpty ? "\"\(text)\"" : text)
            }
        }
        line += "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
