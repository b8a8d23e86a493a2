import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The import plugins that make new data of an import's data before it goes into the stores
/// (`image_decompression`, `image_conversion`), as Glance runs them on the staged data of
/// `glance-direct`, `web-download` and `glance-download` imports: the data is written to a
/// file of the import work directory, each plugin in turn makes a new file of the last one,
/// and the last file is what the stores receive. The files are removed whatever happens.
/// Data only decompression could change, and that is no archive, skips the files.
extension ImageService {
    /// Whether the import plugins make new data for an import that gives `image` its data:
    /// the conversion plugin for an image not in its output format, the decompression plugin
    /// for an image whose container format is not `compressed` (whatever the data turns out
    /// to be).
    func processesData(of image: Image) -> Bool {
        config.importPlugins.contains { plugin in
            switch plugin {
            case .imageConversion: image.diskFormat != config.conversionOutputFormat
            case .imageDecompression: image.containerFormat != "compressed"
            case .injectImageMetadata: false
            }
        }
    }

    /// Receives an import's data into `writer`: `body` as it is, or, when `processing`, what
    /// the import plugins make of it. `limit` and `declaredSize` apply to `body`; `limit`
    /// also to each file the plugins make, as it is written, so that a small archive cannot
    /// fill the disk. What the plugins make must pass the format and safety checks of data
    /// of the image as the plugins leave it (before the caller commits it).
    func receiveImportData<Body: AsyncSequence>(
        _ body: Body, of image: Image, processing: Bool, into writer: any BlobWriter, limit: UploadLimit,
        declaredSize: Int?, keeper: UploadLeaseKeeper
    ) async throws -> ReceivedData where Body.Element == ByteBuffer {
        guard processing else {
            return try await receiveData(
                body, of: image.id, into: writer, limit: limit, declaredSize: declaredSize, keeper: keeper)
        }
        // When decompression is the only plugin that may change the data, data that does not
        // start as an archive goes to the stores as it comes, without a work file.
        guard !config.importPlugins.contains(.imageConversion) || image.diskFormat == config.conversionOutputFormat
        else {
            return try await receiveThroughPlugins(
                body, of: image, into: writer, limit: limit, declaredSize: declaredSize, keeper: keeper)
        }
        var iterator = body.makeAsyncIterator()
        var head: [ByteBuffer] = []
        var first: [UInt8] = []
        while first.count < ArchiveKind.magicLength, let chunk = try await iterator.next() {
            head.append(chunk)
            first += chunk.readableBytesView.prefix(ArchiveKind.magicLength - first.count)
        }
        let data = PeekedStream(head: head, rest: iterator)
        guard ArchiveKind(first) == nil else {
            return try await receiveThroughPlugins(
                data, of: image, into: writer, limit: limit, declaredSize: declaredSize, keeper: keeper)
        }
        let received = try await receiveData(
            data, of: image.id, into: writer, limit: limit, declaredSize: declaredSize, keeper: keeper)
        var described = image
        received.describe(&described)
        try checkFormat(received.inspection, of: described)
        return received
    }

    /// Writes `body` to a work file, runs the import plugins on it, and receives what they
    /// made into `writer` (see `receiveImportData`).
    private func receiveThroughPlugins<Body: AsyncSequence>(
        _ body: Body, of image: Image, into writer: any BlobWriter, limit: UploadLimit, declaredSize: Int?,
        keeper: UploadLeaseKeeper
    ) async throws -> ReceivedData where Body.Element == ByteBuffer {
        let first = "\(config.importWorkDirectory)/\(image.id)-\(Identifiers.uuid())"
        var files = [first]
        defer { for file in files { unlink(file) } }
        var total = 0
        try await WorkFile.create(first, from: body, pool: hashing) { bytes in
            total = bytes
            if bytes > limit.bytes { throw ServiceError.tooLarge(limit.message(bytes)) }
            if let declaredSize, bytes > declaredSize { throw sizeMismatch(bytes, declaredSize) }
            keeper.received(bytes)
            if keeper.isLost { throw Self.leaseLost(image.id) }
        }
        if let declaredSize, total != declaredSize { throw sizeMismatch(total, declaredSize) }
        var convertedTo: String?
        for plugin in config.importPlugins {
            let made: String?
            switch plugin {
            case .imageDecompression: made = try await decompress(files.last!, of: image, limit: limit)
            case .imageConversion:
                made = try await convert(files.last!, of: image, limit: limit)
                if made != nil { convertedTo = config.conversionOutputFormat }
            case .injectImageMetadata: made = nil
            }
            if let made { files.append(made) }
        }
        let result = files.last!
        let stream = try WorkFile.read(result, pool: hashing)
        var received: ReceivedData
        do {
            received = try await receiveData(
                stream, of: image.id, into: writer, limit: limit, declaredSize: try WorkFile.size(of: result),
                keeper: keeper)
        } catch {
            stream.cancel()
            throw error
        }
        received.convertedTo = convertedTo
        var described = image
        received.describe(&described)
        try checkFormat(received.inspection, of: described)
        logger.info(
            "import plugins made the image's data",
            metadata: [
                "image_id": "\(image.id)", "plugins": "\(config.importPlugins.map(\.rawValue))",
                "received": "\(total)", "stored": "\(received.size)", "disk_format": "\(described.diskFormat ?? "")",
            ])
        return received
    }

    /// `glance-direct`: streams the staged data through the import plugins into `writer`.
    func processStaged(
        of id: String, into writer: any BlobWriter, keeper: UploadLeaseKeeper
    ) async throws
        -> ReceivedData
    {
        guard let image = try await store.image(id: id) else { throw Self.leaseLost(id) }
        // The data the plugins make replaces the staged data: that is not counted as used.
        let limit = try await uploadLimit(for: image, replacing: image.size ?? 0)
        let (stream, _) = try await dataSource(of: image).openCopy(range: nil)
        do {
            return try await receiveImportData(
                stream, of: image, processing: true, into: writer, limit: limit, declaredSize: image.size,
                keeper: keeper)
        } catch {
            stream.cancel()
            throw error
        }
    }

    /// `image_decompression`: a file with the data of the zip (of one file) or gzip data at
    /// `path`; nil when the image's container format is `compressed` or the data is neither.
    /// LHA data is recognised and refused; data that decompresses past `limit` too.
    func decompress(_ path: String, of image: Image, limit: UploadLimit) async throws -> String? {
        guard image.containerFormat != "compressed" else { return nil }
        let output = path + ".uc"
        switch ArchiveKind(WorkFile.head(of: path, count: ArchiveKind.magicLength)) {
        case .zip:
            let listing = output + ".list"
            defer { unlink(listing) }
            try await runPluginTool("unzip", ["-Z1", path], stdout: listing, making: listing, limit: limit)
            let names = WorkFile.head(of: listing, count: 65536).split(separator: UInt8(ascii: "\n"))
            guard names.count == 1 else {
                throw ImportPluginFailure(description: "Archive contains more than one file.")
            }
            try await runPluginTool("unzip", ["-p", path], stdout: output, making: output, limit: limit)
        case .lha:
            throw ImportPluginFailure(
                description: "LHA archives cannot be decompressed: no LHA decompressor is available.")
        case .gzip:
            try await runPluginTool("gzip", ["-dc", path], stdout: output, making: output, limit: limit)
        case nil:
            return nil
        }
        logger.info("image data decompressed", metadata: ["image_id": "\(image.id)"])
        return output
    }

    /// `image_conversion`: a file with the data at `path` converted by `qemu-img` to the
    /// output format; nil when the image is in that format already, or is an ISO image. The
    /// data must be of the image's `disk_format` and pass the safety checks before `qemu-img`
    /// reads it; the converted data must be of the output format, pass them too and stay
    /// within `limit` (raw data has the virtual size, known before the conversion).
    func convert(_ path: String, of image: Image, limit: UploadLimit) async throws -> String? {
        let target = config.conversionOutputFormat
        guard let source = image.diskFormat, source != target else { return nil }
        let input = try await inspect(path)
        let detected = input.format == "gpt" ? "raw" : input.format
        if let problem = input.safetyProblem {
            logger.warning(
                "image data failed safety checks before conversion",
                metadata: ["image_id": "\(image.id)", "format": "\(input.format)", "problem": "\(problem)"])
            throw ImportPluginFailure(description: "Image has disallowed configuration")
        }
        if detected == "iso" {
            if source == "iso" { return nil }
            throw ImportPluginFailure(description: "Image has disallowed configuration")
        }
        guard detected == source else {
            logger.warning(
                "image data is not of its disk_format",
                metadata: ["image_id": "\(image.id)", "disk_format": "\(source)", "detected": "\(input.format)"])
            throw ImportPluginFailure(description: "Image format mismatch")
        }
        if target == "raw", let virtualSize = input.virtualSize, virtualSize > limit.bytes {
            throw ImportPluginFailure(description: limit.message(virtualSize))
        }
        let output = "\(path).\(target)"
        try await runPluginTool(
            "qemu-img", ["convert", "-f", Self.qemuFormat(source), "-O", Self.qemuFormat(target), path, output],
            making: output, limit: limit)
        let converted = try await inspect(output)
        guard converted.safetyProblem == nil, (converted.format == "gpt" ? "raw" : converted.format) == target else {
            unlink(output)
            logger.warning(
                "converted image data is not as expected",
                metadata: ["image_id": "\(image.id)", "format": "\(converted.format)", "target": "\(target)"])
            throw ImportPluginFailure(description: "Converted image in unexpected format")
        }
        logger.info(
            "image data converted", metadata: ["image_id": "\(image.id)", "from": "\(source)", "to": "\(target)"])
        return output
    }

    /// Runs a plugin's program, which makes the file `made` (its standard output when
    /// `stdout` is that file), killed if the file grows past `limit`; the file is removed if
    /// the program fails.
    private func runPluginTool(
        _ name: String, _ arguments: [String], stdout: String? = nil, making made: String, limit: UploadLimit
    ) async throws {
        let failure: ImportTool.Failure?
        do {
            failure = try await ImportTool.run(
                name, arguments, output: stdout, workDirectory: config.importWorkDirectory,
                cap: (made, max(0, limit.bytes)))
        } catch let tooLarge as ImportTool.OutputTooLarge {
            unlink(made)
            logger.warning(
                "an import plugin's program made too much data and was stopped",
                metadata: ["program": "\(name)", "bytes": "\(tooLarge.size)", "limit": "\(limit.bytes)"])
            throw ImportPluginFailure(description: limit.message(tooLarge.size))
        } catch {
            unlink(made)
            throw error
        }
        if let failure {
            unlink(made)
            logger.warning(
                "an import plugin's program failed",
                metadata: ["program": "\(name)", "failure": "\(failure.summary)", "errors": "\(failure.errors)"])
            throw ImportPluginFailure(description: failure.summary)
        }
    }

    /// The format inspector's view of the file at `path`.
    func inspect(_ path: String) async throws -> FormatInspector.Result {
        var inspector = FormatInspector(vmdkAllowedTypes: config.vmdkAllowedTypes)
        let stream = try WorkFile.read(path, pool: hashing)
        do {
            for try await chunk in stream { inspector.feed(chunk) }
        } catch {
            stream.cancel()
            throw error
        }
        return inspector.result()
    }

    /// `qemu-img`'s name of a `disk_format`.
    static func qemuFormat(_ diskFormat: String) -> String {
        switch diskFormat {
        case "vhd": "vpc"
        case "ploop": "parallels"
        default: diskFormat
        }
    }
}

/// The archives `image_decompression` recognises by their first bytes, as Glance's plugin does.
enum ArchiveKind {
    case zip, gzip, lha

    /// Bytes the magic numbers need.
    static let magicLength = 5

    init?(_ head: [UInt8]) {
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            self = .zip
        } else if head.starts(with: [0x1F, 0x8B, 0x08]) {
            self = .gzip
        } else if head.count == Self.magicLength, head[2...].elementsEqual([0x2D, 0x6C, 0x68]) {
            self = .lha
        } else {
            return nil
        }
    }
}

/// A stream whose first chunks were read ahead (to look at its first bytes), then the rest.
struct PeekedStream<Rest: AsyncIteratorProtocol>: AsyncSequence where Rest.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let head: [ByteBuffer]
    let rest: Rest

    struct AsyncIterator: AsyncIteratorProtocol {
        var head: ArraySlice<ByteBuffer>
        var rest: Rest

        mutating func next() async throws -> ByteBuffer? {
            if let chunk = head.popFirst() { return chunk }
            return try await rest.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(head: head[...], rest: rest) }
}
