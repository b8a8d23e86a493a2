import Foundation
import OpenStack
import OpenStackJSON

/// Moves the images of one Glance-v2 cloud into another through the SDK, as an admin of
/// both: same ids, names, formats, properties, tags, visibility, owners, members and their
/// statuses, protection, hidden and deactivated states; data streamed from one to the other,
/// checked against the source's digests on the way and the target's on arrival.
///
/// With `adoptLocations`, an image's data stays where it is when the target's stores share
/// the source's backend (an RBD pool, a Swift container): the target records the source's
/// location, with the source's digests, instead of receiving a copy.
///
/// Running it again finishes what an interrupted run left: an image already in the target
/// with the source's data only has its metadata brought level; one without data gets it; one
/// whose data differs is reported, never overwritten.
struct ImageMigration: Sendable {
    let source: ImageServiceV2
    let target: ImageServiceV2
    /// Report what would be done, change nothing.
    let dryRun: Bool
    /// Register the source's locations in the target instead of copying the data, where a
    /// target store takes them.
    var adoptLocations = false
    /// How long to wait for an upload left running in the target (by an interrupted run).
    var busyWait: Duration = .seconds(120)

    /// What became of one image.
    enum Outcome: String, Sendable {
        case copied, updated, unchanged, skipped, failed
    }

    struct Result: Sendable {
        var id: String
        var name: String?
        var outcome: Outcome
        var detail: String
    }

    /// Statuses whose images are moved: the others are on their way in or out.
    static let movable: Set<ImageStatus> = [.queued, .active, .deactivated]
    /// Properties the target keeps itself.
    static func isOwnProperty(_ key: String) -> Bool {
        key.hasPrefix("os_glance") || ["stores", "direct_url", "locations"].contains(key)
    }

    /// Every image of the source, community and hidden ones too, each id once.
    func sourceImages() async throws -> [Image] {
        var seen = Set<String>()
        var images: [Image] = []
        for hidden in [false, true] {
            var filter = ImageFilter()
            filter.visibility = .all
            filter.isHidden = hidden
            for try await image in source.listImages(filter, sort: [ImageSort(.createdAt)])
            where seen.insert(image.id).inserted {
                images.append(image)
            }
        }
        return images
    }

    /// Moves `images`, `parallel` at a time; calls `report` as each ends.
    func run(_ images: [Image], parallel: Int, report: @Sendable (Result) -> Void) async {
        await withTaskGroup(of: Result.self) { group in
            var pending = images[...]
            for _ in 0..<max(1, parallel) {
                guard let image = pending.popFirst() else { break }
                group.addTask { await self.move(image) }
            }
            for await result in group {
                report(result)
                if let image = pending.popFirst() { group.addTask { await self.move(image) } }
            }
        }
    }

    /// Moves one image; errors become a failed result.
    func move(_ image: Image) async -> Result {
        let result = { (outcome: Outcome, detail: String) in
            Result(id: image.id, name: image.name, outcome: outcome, detail: detail)
        }
        guard Self.movable.contains(image.status) else { return result(.skipped, "status \(image.status)") }
        do {
            let (outcome, detail) = try await moveChecked(image)
            return result(outcome, detail)
        } catch {
            return result(.failed, "\(error)")
        }
    }

    func moveChecked(_ source: Image) async throws -> (Outcome, String) {
        var existing = try await targetImage(source.id)
        if dryRun {
            return existing == nil ? (.copied, "would be created") : (.updated, "would be brought level")
        }
        var created = false
        if existing == nil {
            existing = try await target.createImage(Self.creation(of: source))
            created = true
        }
        guard var current = existing else { return (.failed, "not created") }
        // An image of the same id that another project made is not the source's copy: its
        // owner must never receive the source's data.
        guard current.owner == source.owner else {
            return (.failed, "the target has an image with this id owned by \(current.owner ?? "no project")")
        }
        var changes: [String] = created ? ["created"] : []
        if current.status == .saving || current.status == .uploading || current.status == .importing {
            current = try await waitWhileBusy(current)
        }
        let hasData = source.status != .queued
        if hasData, current.status == .queued {
            if adoptLocations, let adopted = try await adoptData(of: source, changes: &changes) {
                current = adopted
            } else {
                current = try await copyData(of: source)
                changes.append("data")
            }
            // A deactivated source's copy is not downloadable for a moment longer than needed.
            if source.status == .deactivated {
                try await target.deactivate(source.id)
                current = try await target.getImage(source.id)
                changes.append("deactivated")
            }
        } else if hasData, !Self.sameData(source, current) {
            return (.failed, "the target's data differs from the source's (\(current.osHashValue ?? "none"))")
        }
        current = try await levelMetadata(current, to: source, changes: &changes)
        try await levelMembers(of: source, changes: &changes)
        if source.status == .deactivated, current.status == .active {
            try await target.deactivate(source.id)
            changes.append("deactivated")
        } else if source.status == .active, current.status == .deactivated {
            try await target.reactivate(source.id)
            changes.append("reactivated")
        }
        if created { return (.copied, changes.joined(separator: ", ")) }
        return changes.isEmpty ? (.unchanged, "") : (.updated, changes.joined(separator: ", "))
    }

    /// The target's image with that id; nil when it has none.
    func targetImage(_ id: String) async throws -> Image? {
        do {
            return try await target.getImage(id)
        } catch let error as OpenStackError where error.status == 404 {
            return nil
        }
    }

    /// The create request of the source's copy: what can only be set at creation or must
    /// be there before the data (formats); protection comes last, with the rest.
    static func creation(of source: Image) -> ImageCreate {
        ImageCreate(
            name: source.name, id: source.id, diskFormat: source.diskFormat, containerFormat: source.containerFormat,
            visibility: source.visibility, tags: source.tags, minDisk: source.minDisk, minRam: source.minRam,
            isHidden: source.isHidden, owner: source.owner,
            properties: JSONObject(source.properties.members.filter { !isOwnProperty($0.key) }))
    }

    /// Whether two images hold the same data, by their strongest common digest.
    static func sameData(_ a: Image, _ b: Image) -> Bool {
        guard a.size == b.size else { return false }
        if let algo = a.osHashAlgo, algo == b.osHashAlgo, let x = a.osHashValue, let y = b.osHashValue {
            return x == y
        }
        return a.checksum != nil && a.checksum == b.checksum
    }

    /// Waits for an upload left running in the target to end (the target puts an image
    /// whose upload was cut off back to `queued`).
    func waitWhileBusy(_ image: Image) async throws -> Image {
        let clock = ContinuousClock()
        let deadline = clock.now + busyWait
        var current = image
        while [.saving, .uploading, .importing].contains(current.status), clock.now < deadline {
            try await Task.sleep(for: .seconds(2))
            current = try await target.getImage(image.id)
        }
        guard ![.saving, .uploading, .importing].contains(current.status) else {
            throw CLIError("still \(current.status) in the target: run again later")
        }
        return current
    }

    /// Streams the source's data into the target: the SDK checks the bytes read against
    /// the source's digest and the target's digests against the bytes sent; both must also
    /// match the source's record.
    func copyData(of source: Image) async throws -> Image {
        let data = try await self.source.downloadData(source.id)
        let copy = try await target.uploadData(source.id, from: .stream(data, length: source.size))
        guard Self.sameData(source, copy) else {
            throw CLIError("the data that arrived does not match the source's digests")
        }
        return copy
    }

    /// Registers the source's data where it is: the first of the source's locations that one
    /// of the target's stores takes as its own (the same RBD pool), with the source's digests.
    /// Nil, noted in `changes`, when none is taken: the data is then copied. Throws when the
    /// source shows no location, or when the target refuses for another reason (403: not an
    /// admin, or locations not shown).
    func adoptData(of source: Image, changes: inout [String]) async throws -> Image? {
        let urls = source.locationURLs
        guard !urls.isEmpty else {
            throw CLIError("the source shows no location (show_image_direct_url or show_multiple_locations)")
        }
        guard source.osHashAlgo == "sha512", let hash = source.osHashValue else {
            changes.append("not adopted: the source has no SHA-512 of the data")
            return nil
        }
        var validation: JSONObject = ["os_hash_algo": "sha512", "os_hash_value": .string(hash)]
        if let checksum = source.checksum { validation["checksum"] = .string(checksum) }
        var refusals: [String] = []
        for url in urls {
            do {
                let image = try await target.addLocation(source.id, url: url, validation: validation)
                // The digests are the source's: the size the target's store read is the check.
                // Data that fails it is not served meanwhile, and not deleted: deleting the
                // image would delete the source's data too.
                guard Self.sameData(source, image) else {
                    try await target.deactivate(source.id)
                    throw CLIError(
                        "the adopted data has \(image.size.map(String.init) ?? "no") bytes, the source's \(source.size.map(String.init) ?? "none"): deactivated in the target; remove its location there, never the image (that deletes the data)"
                    )
                }
                changes.append("location")
                return image
            } catch let error as OpenStackError where error.status == 400 {
                refusals.append(error.message)
            }
        }
        changes.append("not adopted (\(refusals.joined(separator: "; ")))")
        return nil
    }

    /// Brings names, visibility, protection, tags and properties level with the source.
    func levelMetadata(_ current: Image, to source: Image, changes: inout [String]) async throws -> Image {
        var desired = current
        desired.name = source.name
        desired.visibility = source.visibility
        desired.isProtected = source.isProtected
        desired.isHidden = source.isHidden
        desired.minDisk = source.minDisk
        desired.minRam = source.minRam
        desired.owner = source.owner
        desired.tags = source.tags
        var properties = JSONObject(source.properties.members.filter { !Self.isOwnProperty($0.key) })
        for member in current.properties.members where Self.isOwnProperty(member.key) {
            properties[member.key] = member.value
        }
        desired.properties = properties
        let ops = ImagePatch.diff(from: current, to: desired)
        guard !ops.isEmpty else { return current }
        changes.append("metadata")
        return try await target.update(current.id, ops)
    }

    /// Shares the image with the source's members, each with its status.
    func levelMembers(of source: Image, changes: inout [String]) async throws {
        guard source.visibility == .shared else { return }
        let wanted = try await self.source.members(source.id)
        let have = Dictionary(
            try await target.members(source.id).map { ($0.memberId, $0.status) }, uniquingKeysWith: { a, _ in a })
        let wantedIds = Set(wanted.map(\.memberId))
        for extra in have.keys where !wantedIds.contains(extra) {
            try await target.removeMember(source.id, project: extra)
            changes.append("member \(extra) removed")
        }
        for member in wanted {
            if have[member.memberId] == nil {
                _ = try await target.addMember(source.id, project: member.memberId)
                changes.append("member \(member.memberId)")
            }
            if (have[member.memberId] ?? .pending) != member.status {
                _ = try await target.updateMember(source.id, project: member.memberId, status: member.status)
                changes.append("member \(member.memberId) \(member.status)")
            }
        }
    }
}
