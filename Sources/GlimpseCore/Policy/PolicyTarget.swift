/// What a policy check is about, as Glance passes it to oslo.policy: the image's owner (as
/// `project_id` and `owner`), its visibility and id, and for member rules the member's project
/// (`member_id`). Attributes not given are absent: a check on them fails.
public struct PolicyTarget: Sendable {
    public var projectId: String?
    public var owner: String?
    public var visibility: String?
    public var memberId: String?
    public var id: String?

    public init(
        projectId: String? = nil, owner: String? = nil, visibility: String? = nil, memberId: String? = nil,
        id: String? = nil
    ) {
        self.projectId = projectId
        self.owner = owner
        self.visibility = visibility
        self.memberId = memberId
        self.id = id
    }

    /// An existing image; `memberId` for the rules on one of its members.
    public static func image(_ image: Image, memberId: String? = nil) -> PolicyTarget {
        PolicyTarget(
            projectId: image.owner, owner: image.owner, visibility: image.visibility.rawValue, memberId: memberId,
            id: image.id)
    }

    /// A collection, or something not created yet, in `project` (Glance's `{project_id: …}`).
    public static func project(_ project: String?) -> PolicyTarget {
        PolicyTarget(projectId: project, owner: project)
    }

    /// The attributes a check string may name as `%(name)s`.
    enum Key: Sendable {
        case projectId, owner, visibility, memberId, id
        /// Any other attribute: never present.
        case absent

        init(_ name: String) {
            switch name {
            case "project_id", "tenant": self = .projectId
            case "owner": self = .owner
            case "visibility": self = .visibility
            case "member_id", "member": self = .memberId
            case "id", "image_id": self = .id
            default: self = .absent
            }
        }
    }

    subscript(key: Key) -> String? {
        switch key {
        case .projectId: projectId
        case .owner: owner
        case .visibility: visibility
        case .memberId: memberId
        case .id: id
        case .absent: nil
        }
    }
}
