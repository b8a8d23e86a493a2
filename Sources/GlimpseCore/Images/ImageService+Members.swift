import OpenStackEncoding
import OpenStackJSON

/// Image sharing: the owner adds projects as members; each member accepts or rejects.
extension ImageService {
    /// `POST /v2/images/{id}/members`.
    public func addMember(_ id: String, body: JSONValue, by p: Principal) async throws -> ImageMember {
        try ImagePolicy.requireReader(p, "add_member")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard case .string(let memberId)? = body["member"], !memberId.isEmpty else {
            throw ServiceError.badRequest("Member to be added not specified")
        }
        if memberId.unicodeScalars.count > 255 {
            throw ServiceError.badRequest("Member id must not be longer than 255 characters.")
        }
        try policy.enforce(.addMember, p, .image(image, memberId: memberId))
        guard image.visibility == .shared else {
            throw ServiceError.forbidden("Not allowed to create members for image \(id).")
        }
        let existing = try await store.members(imageId: id)
        if existing.contains(where: { $0.memberId == memberId }) {
            throw ServiceError.conflict("Member \(memberId) is duplicated for image \(id)")
        }
        if existing.count >= config.memberQuota {
            throw ServiceError.tooLarge(
                "The limit has been exceeded on the number of allowed image members for this image. Attempted: \(existing.count + 1), Maximum: \(config.memberQuota)"
            )
        }
        let now = clock.now()
        let member = ImageMember(imageId: id, memberId: memberId, status: .pending, createdAt: now, updatedAt: now)
        do {
            try await store.insertMember(member)
        } catch StoreError.duplicate {
            throw ServiceError.conflict("Member \(memberId) is duplicated for image \(id)")
        }
        return member
    }

    /// `GET /v2/images/{id}/members`: the owner sees all members, a member only itself.
    public func members(_ id: String, by p: Principal) async throws -> [ImageMember] {
        try ImagePolicy.requireReader(p, "get_members")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard image.visibility == .shared else { throw ServiceError.forbidden("Only shared images have members.") }
        let all = try await store.members(imageId: id)
        // Glance checks `get_members` on the image, then `get_member` on each member.
        let target = PolicyTarget.image(image, memberId: p.projectId)
        try policy.enforce(.getMembers, p, target)
        let rules = policy.policy
        return all.filter { rules.allows(.getMember, p, .image(image, memberId: $0.memberId)) }
    }

    /// `GET /v2/images/{id}/members/{member}`.
    public func member(_ id: String, _ memberId: String, by p: Principal) async throws -> ImageMember {
        try ImagePolicy.requireReader(p, "get_member")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard policy.allows(.getMember, p, .image(image, memberId: memberId)),
            let member = try await store.member(imageId: id, memberId: memberId)
        else {
            throw ServiceError.notFound("\(memberId) not found in the member list of the image \(id).")
        }
        return member
    }

    /// `PUT /v2/images/{id}/members/{member}`: only the member itself (or an admin) decides,
    /// with the member role (Glance's `modify_member`; a reader only looks).
    public func updateMember(
        _ id: String, _ memberId: String, body: JSONValue, by p: Principal
    ) async throws -> ImageMember {
        try ImagePolicy.requireReader(p, "modify_member")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard case .string(let text)? = body["status"], let status = MemberStatus(rawValue: text) else {
            throw ServiceError.badRequest(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".")
        }
        let target = PolicyTarget.image(image, memberId: memberId)
        guard var member = try await store.member(imageId: id, memberId: memberId), policy.allows(.getMember, p, target)
        else {
            throw ServiceError.notFound("\(memberId) not found in the member list of the image \(id).")
        }
        try policy.enforce(.modifyMember, p, target)
        member.status = status
        member.updatedAt = clock.now()
        guard try await store.updateMember(member) else {
            throw ServiceError.notFound("\(memberId) not found in the member list of the image \(id).")
        }
        return member
    }

    /// `DELETE /v2/images/{id}/members/{member}`: the owner (or an admin) removes a member.
    public func removeMember(_ id: String, _ memberId: String, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, "delete_member")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try policy.enforce(.deleteMember, p, .image(image, memberId: memberId))
        guard try await store.deleteMember(imageId: id, memberId: memberId) else {
            throw ServiceError.notFound("\(memberId) not found in the member list of the image \(id).")
        }
    }
}
