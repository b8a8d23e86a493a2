import Foundation
import OpenStackJSON
import Testing

@testable import GlimpseCore

/// `qemu-img` (Debian's qemu-utils), if installed.
let qemuImgPath: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    .map { "\($0)/qemu-img" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// A temporary folder in which qemu-img makes its images. Every file it is told to write,
/// backing and data files included, is in this folder.
struct QEMUWorkspace: ~Copyable {
    let dir: String

    init() throws {
        dir =
            FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-inspector-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ name: String) -> String { "\(dir)/\(name)" }

    /// Runs qemu-img with these arguments; every path argument must be made by `path(_:)`.
    @discardableResult
    func qemuImg(_ arguments: [String]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemuImgPath ?? "/usr/bin/qemu-img")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw QEMUFailure(description: "qemu-img \(arguments): \(String(decoding: output, as: UTF8.self))")
        }
        return Array(output)
    }

    /// Makes an image of 1 MiB (or `size`) named `name` and returns its bytes.
    func create(_ name: String, format: String, options: [String] = [], size: String = "1M") throws -> [UInt8] {
        try qemuImg(["create", "-q", "-f", format] + options + [path(name), size])
        return try bytes(name)
    }

    func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw QEMUFailure(description: "\(name) not made")
        }
        return Array(data)
    }

    /// The virtual size qemu-img reports.
    func virtualSize(_ name: String, format: String) throws -> Int? {
        let json = try JSONValue.parse(try qemuImg(["info", "--output=json", "-f", format, path(name)]))
        return json["virtual-size"]?.intValue
    }
}

struct QEMUFailure: Error, CustomStringConvertible {
    let description: String
}

/// Inspects `bytes` in 64 KiB chunks, checking that 4099-byte chunks give the same answer.
func inspectInChunks(_ bytes: [UInt8]) -> FormatInspector.Result {
    let result = inspect(bytes, chunk: 65536)
    #expect(inspect(bytes, chunk: 4099) == result)
    return result
}

@Suite(
    "Format inspector on images made by qemu-img",
    .enabled(if: qemuImgPath != nil, "qemu-img is not installed (apt-get install qemu-utils); skipping")
)
struct FormatInspectorQEMUTests {
    @Test("plain images: recognised, QEMU's virtual size, no problem", arguments: ["qcow2", "vpc", "vhdx", "vdi"])
    func plain(_ format: String) throws {
        let w = try QEMUWorkspace()
        let bytes = try w.create("plain", format: format, size: "5M")
        let result = inspectInChunks(bytes)
        #expect(result.format == (format == "vpc" ? "vhd" : format))
        #expect(result.safetyProblem == nil)
        // (VHD rounds the size up to its disk geometry.)
        #expect(result.virtualSize == (try w.virtualSize("plain", format: format)))
        #expect(result.virtualSize ?? 0 >= 5 << 20)
    }

    @Test("VMDK single-file sparse subformats pass", arguments: ["monolithicSparse", "streamOptimized"])
    func sparseVMDK(_ subformat: String) throws {
        let w = try QEMUWorkspace()
        let bytes = try w.create("s.vmdk", format: "vmdk", options: ["-o", "subformat=\(subformat)"], size: "3M")
        let result = inspectInChunks(bytes)
        #expect(result == .init(format: "vmdk", virtualSize: try w.virtualSize("s.vmdk", format: "vmdk")))
    }

    @Test(
        "VMDK subformats made of several files are refused (the file uploaded is their descriptor)",
        arguments: ["monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"])
    func multiFileVMDK(_ subformat: String) throws {
        let w = try QEMUWorkspace()
        let bytes = try w.create("d.vmdk", format: "vmdk", options: ["-o", "subformat=\(subformat)"])
        let result = inspectInChunks(bytes)
        #expect(result.format == "vmdk")
        #expect(result.safetyProblem == "Unsupported subformat \(subformat.lowercased())")
        #expect(result.formatError(declared: "raw") != nil)
        // Even when the operator allows the subformat, a descriptor file names other files.
        #expect(inspect(bytes, vmdkAllowedTypes: [subformat]).safetyProblem != nil)
    }

    @Test("a VMDK with a backing file (parentFileNameHint) is refused")
    func vmdkBacking() throws {
        let w = try QEMUWorkspace()
        _ = try w.create("decoy-parent.vmdk", format: "vmdk")
        let bytes = try w.create(
            "child.vmdk", format: "vmdk", options: ["-b", w.path("decoy-parent.vmdk"), "-F", "vmdk"])
        #expect(inspectInChunks(bytes).safetyProblem == "VMDK image names a parent (backing) file")
    }

    @Test("qcow2 with a backing file is refused")
    func qcow2Backing() throws {
        let w = try QEMUWorkspace()
        _ = try w.create("decoy-backing.raw", format: "raw")
        let bytes = try w.create("b.qcow2", format: "qcow2", options: ["-b", w.path("decoy-backing.raw"), "-F", "raw"])
        let result = inspectInChunks(bytes)
        #expect(result.format == "qcow2")
        #expect(result.safetyProblem == "Image has a backing file")
    }

    @Test("qcow2 with an external data file is refused", arguments: ["off", "on"])
    func qcow2DataFile(_ raw: String) throws {
        let w = try QEMUWorkspace()
        // qemu-img truncates and fills the data file: it is a decoy in the workspace.
        let bytes = try w.create(
            "d.qcow2", format: "qcow2", options: ["-o", "data_file=\(w.path("decoy-data.raw")),data_file_raw=\(raw)"])
        #expect(inspectInChunks(bytes).safetyProblem == "Image has data_file set")
        // The header extension alone (feature bit cleared) still gives it away.
        var noBit = bytes
        noBit[79] &= ~0x04
        #expect(inspect(noBit).safetyProblem == "Image has data_file set")
    }

    @Test("qcow2 compression and encryption are accepted (as Glance does); extended L2 is not")
    func qcow2Features() throws {
        let w = try QEMUWorkspace()
        let zstd = try w.create("z.qcow2", format: "qcow2", options: ["-o", "compression_type=zstd"])
        #expect(inspectInChunks(zstd) == .init(format: "qcow2", virtualSize: 1 << 20))
        // (AES rather than LUKS: qemu-img spends some 20 s measuring PBKDF for LUKS.)
        let encrypted = try w.create(
            "e.qcow2", format: "qcow2",
            options: [
                "--object", "secret,id=sec0,data=not-a-secret", "-o", "encrypt.format=aes,encrypt.key-secret=sec0",
            ])
        #expect(inspectInChunks(encrypted) == .init(format: "qcow2", virtualSize: 1 << 20))
        let l2 = try w.create("l2.qcow2", format: "qcow2", options: ["-o", "extended_l2=on"])
        #expect(inspectInChunks(l2).safetyProblem == "Unknown QCOW2 features found")
    }

    @Test("QED is refused")
    func qed() throws {
        let w = try QEMUWorkspace()
        #expect(
            inspectInChunks(try w.create("x.qed", format: "qed")).safetyProblem == "This file format is not allowed")
    }

    @Test("raw images stay raw")
    func raw() throws {
        let w = try QEMUWorkspace()
        let bytes = try w.create("r.raw", format: "raw", size: "2M")
        #expect(inspectInChunks(bytes) == .init(format: "raw", virtualSize: 2 << 20))
    }
}
