import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenStackEncoding
import OpenStackJSON

/// Image data: streamed uploads and downloads, always verified.
extension ImageServiceV2 {
    /// Uploads an image's data (`PUT /v2/images/{id}/file`), streamed, with its size sent
    /// when known. The bytes are hashed as they are sent and compared with what the server
    /// recorded (`os_hash_value`, `checksum`, `size`); a difference throws `.checksumMismatch`.
    /// - Returns: the image after the upload.
    /// - Parameter store: the store to write to (`X-Image-Meta-Store`, multi-store clouds);
    ///   the cloud's default store if nil.
    @discardableResult
    public func uploadData(
        _ id: String, from source: UploadSource, store: String? = nil,
        progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) async throws -> Image {
        let sent = try await send(
            id, "file", source, progress, headers: store.map { [("X-Image-Meta-Store", $0)] } ?? [])
        return try await verifyUpload(id, sent: sent)
    }

    /// Stages data for an interoperable import (`PUT /v2/images/{id}/stage`).
    public func stageData(
        _ id: String, from source: UploadSource,
        progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) async throws {
        _ = try await send(id, "stage", source, progress)
    }

    /// Starts an import (`POST /v2/images/{id}/import`): `glance-direct` after staging,
    /// `web-download` with a URI, or `copy-image` to copy an active image's data into more
    /// stores. Wait for `active` with ``waitForStatus(_:_:timeout:interval:failOn:onPoll:)``;
    /// a copy's progress shows in the image's `stores` and `os_glance_importing_to_stores`.
    /// - Parameters:
    ///   - stores: the stores the data goes to (multi-store clouds).
    ///   - allStores: every store instead of a list.
    ///   - allStoresMustSucceed: fail the import if one store fails (the cloud's default if nil).
    public func importImage(
        _ id: String, method: String = "glance-direct", uri: String? = nil, stores: [String]? = nil,
        allStores: Bool = false, allStoresMustSucceed: Bool? = nil
    ) async throws {
        var m: JSONObject = ["name": .string(method)]
        if let uri { m["uri"] = .string(uri) }
        var body: JSONObject = ["method": .object(m)]
        if let stores { body["stores"] = .array(stores.map { .string($0) }) }
        if allStores { body["all_stores"] = true }
        if let allStoresMustSucceed { body["all_stores_must_succeed"] = .bool(allStoresMustSucceed) }
        _ = try await sendJSON(.POST, "images/\(URLCoding.quotePath(id))/import", .object(body), expected: [202])
    }

    /// Removes an image's data from one store (`DELETE /v2/stores/{store}/{id}`); the copies
    /// in other stores stay.
    public func deleteFromStore(_ id: String, store: String) async throws {
        let r = ServiceRequest(
            .DELETE, try await url("stores/\(URLCoding.quotePath(store))/\(URLCoding.quotePath(id))"), expected: [204])
        _ = try await transport.send(r)
    }

    /// Sends data; returns the digests of what was sent.
    func send(
        _ id: String, _ what: String, _ source: UploadSource, _ progress: (@Sendable (TransferProgress) -> Void)?,
        headers: [(String, String)] = []
    ) async throws -> DigestSink {
        // A long transfer should not start with a token about to expire.
        _ = try await transport.tokens?.token(minValidity: .seconds(900))
        var r = ServiceRequest(.PUT, try await url("images/\(URLCoding.quotePath(id))/\(what)"), expected: [204])
        r.headers = headers
        r.body = .upload(source, contentType: "application/octet-stream")
        r.progress = progress
        let digests = DigestSink()
        r.digests = digests
        _ = try await transport.send(r)
        return digests
    }

    func verifyUpload(_ id: String, sent sink: DigestSink) async throws -> Image {
        let image = try await getImage(id)
        let sent = sink.finalize()
        if let size = image.size, size != sent.count {
            throw OpenStackError(
                .checksumMismatch, "the server stored \(size) bytes of image \(id); \(sent.count) were sent")
        }
        if image.osHashAlgo == "sha512", let value = image.osHashValue, value != sent.sha512 {
            throw OpenStackError(
                .checksumMismatch, "SHA-512 of image \(id) differs: server \(value), sent \(sent.sha512)")
        }
        if let checksum = image.checksum, checksum != sent.md5 {
            throw OpenStackError(.checksumMismatch, "MD5 of image \(id) differs: server \(checksum), sent \(sent.md5)")
        }
        return image
    }

    /// Streams an image's data. The sequence checks the bytes against the image's recorded
    /// digest (`os_hash_value`, else `checksum`) and throws `.checksumMismatch` at the end if
    /// they differ, so data is never delivered as complete unless it is verified.
    public func downloadData(_ id: String) async throws -> ImageData {
        let image = try await getImage(id)
        let response = try await transport.execute(
            {
                var r = ServiceRequest(
                    .GET, try await url("images/\(URLCoding.quotePath(id))/file"), expected: [200, 204])
                r.headers = [("Accept", "application/octet-stream")]
                return r
            }())
        if response.status == .noContent {
            throw OpenStackError(.notFound, "image \(id) has no data (status \(image.status))")
        }
        let expected = try Expected(image: image, contentMD5: response.headers.first(name: "Content-MD5"))
        let length = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        return ImageData(image: image, contentLength: length, expected: expected, body: response.body)
    }

    /// Downloads an image's data into a file, verified, atomically: the bytes go to
    /// `<path>.partial`, are checked, synced and renamed into place. With `resume`, an
    /// existing `.partial` file is continued with a `Range` request (its bytes are hashed
    /// first); a corrupt result is deleted.
    /// - Returns: the image whose data was written.
    @discardableResult
    public func download(
        _ id: String, to path: String, resume: Bool = true,
        progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) async throws -> Image {
        _ = try await transport.tokens?.token(minValidity: .seconds(900))
        let image = try await getImage(id)
        var expected = try Expected(image: image, contentMD5: nil)
        let partial = path + ".partial"
        let file = try PartialFile(path: partial, keep: resume)
        var have = file.size
        if let size = image.size, have > size { have = 0 }
        if have > 0 {
            try await file.hashPrefix(into: &expected, length: have)
        } else {
            try file.truncate()
        }
        var request = ServiceRequest(
            .GET, try await url("images/\(URLCoding.quotePath(id))/file"), expected: [200, 204, 206])
        request.headers = [("Accept", "application/octet-stream")]
        let total = image.size
        if have > 0 {
            if let total, have == total {
                return try await finish(file, expected, partial, path, image)
            }
            request.headers.append(("Range", "bytes=\(have)-"))
        }
        let response = try await transport.execute(request)
        if response.status == .noContent { throw OpenStackError(.notFound, "image \(id) has no data") }
        if response.status == .ok, have > 0 {
            // The server ignored the range: start over.
            have = 0
            expected = try Expected(image: image, contentMD5: nil)
            try file.truncate()
        } else if response.status == .partialContent {
            let range = response.headers.first(name: "Content-Range") ?? ""
            guard range.hasPrefix("bytes \(have)-") else {
                throw OpenStackError(
                    .invalidResponse, "the server answered the resume from byte \(have) with '\(range)'")
            }
        }
        var written = have
        progress?(TransferProgress(bytes: written, total: total))
        do {
            for try await chunk in response.body {
                expected.update(chunk)
                try await file.append(chunk)
                written += Int64(chunk.readableBytes)
                progress?(TransferProgress(bytes: written, total: total))
            }
        } catch {
            // Keep the partial file: a later call resumes from it.
            throw error
        }
        return try await finish(file, expected, partial, path, image)
    }

    func finish(
        _ file: PartialFile, _ expected: Expected, _ partial: String, _ path: String, _ image: Image
    ) async throws -> Image {
        do {
            try expected.verify(imageId: image.id)
        } catch {
            try? file.remove()
            throw error
        }
        try await file.sync()
        guard rename(partial, path) == 0 else {
            throw OpenStackError(
                .configuration, "cannot move \(partial) to \(path): \(String(cString: strerror(errno)))")
        }
        return image
    }
}

/// The digest an image's data must have, and the running hash of what arrived.
struct Expected: Sendable {
    var digest: any HashFunction
    let name: String
    let value: String
    var count: Int64 = 0
    let size: Int64?

    init(image: Image, contentMD5: String?) throws {
        size = image.size
        switch (image.osHashAlgo, image.osHashValue) {
        case ("sha512", let v?): (digest, name, value) = (SHA512(), "SHA512", v)
        case ("sha384", let v?): (digest, name, value) = (SHA384(), "SHA384", v)
        case ("sha256", let v?): (digest, name, value) = (SHA256(), "SHA256", v)
        default:
            guard let md5 = image.checksum ?? contentMD5 else {
                throw OpenStackError(
                    .checksumMismatch, "image \(image.id) has no recorded digest; its data cannot be verified")
            }
            (digest, name, value) = (Insecure.MD5(), "MD5", md5)
        }
    }

    mutating func update(_ chunk: ByteBuffer) {
        count += Int64(chunk.readableBytes)
        chunk.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
    }

    func verify(imageId: String) throws {
        if let size, size != count {
            throw OpenStackError(.checksumMismatch, "image \(imageId): received \(count) bytes, expected \(size)")
        }
        let actual = Hex.encode(digest.finalize())
        guard actual == value.lowercased() else {
            throw OpenStackError(.checksumMismatch, "\(name) of image \(imageId) is \(actual), expected \(value)")
        }
    }
}

/// An image's data as it arrives, verified at the end.
public struct ImageData: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    /// The image the data belongs to.
    public let image: Image
    /// Bytes to expect, when the server said.
    public let contentLength: Int64?
    let expected: Expected
    let body: HTTPClientResponse.Body

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: HTTPClientResponse.Body.AsyncIterator
        var expected: Expected
        let imageId: String
        var done = false

        public mutating func next() async throws -> ByteBuffer? {
            guard !done else { return nil }
            if let chunk = try await base.next() {
                expected.update(chunk)
                return chunk
            }
            done = true
            try expected.verify(imageId: imageId)
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: body.makeAsyncIterator(), expected: expected, imageId: image.id)
    }
}

/// A `.partial` file written on NIO's blocking-I/O thread pool.
final class PartialFile: Sendable {
    let fd: Int32
    let path: String

    init(path: String, keep: Bool) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0o644)
        guard fd >= 0 else {
            throw OpenStackError(.configuration, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    func truncate() throws {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) >= 0 else {
            throw OpenStackError(.configuration, "cannot truncate \(path)")
        }
    }

    func hashPrefix(into expected: inout Expected, length: Int64) async throws {
        let reader = try FileChunkReader(path: path, offset: 0)
        var left = length
        while left > 0, var chunk = try await reader.next() {
            if Int64(chunk.readableBytes) > left { chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(left))! }
            expected.update(chunk)
            left -= Int64(chunk.readableBytes)
        }
        guard lseek(fd, off_t(length), SEEK_SET) >= 0, ftruncate(fd, off_t(length)) == 0 else {
            throw OpenStackError(.configuration, "cannot continue \(path)")
        }
    }

    func append(_ chunk: ByteBuffer) async throws {
        let fd = self.fd
        let path = self.path
        try await NIOThreadPool.singleton.runIfActive {
            try chunk.withUnsafeReadableBytes { b in
                var done = 0
                while done < b.count {
                    let n = write(fd, b.baseAddress! + done, b.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw OpenStackError(
                            .configuration, "cannot write \(path): \(String(cString: strerror(errno)))")
                    }
                    done += n
                }
            }
        }
    }

    func sync() async throws {
        let fd = self.fd
        try await NIOThreadPool.singleton.runIfActive {
            guard fsync(fd) == 0 else { throw OpenStackError(.configuration, "fsync failed") }
        }
    }

    func remove() throws { unlink(path) }
}
