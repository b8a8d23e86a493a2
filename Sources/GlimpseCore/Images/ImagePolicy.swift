/// Glance's default image policy (secure RBAC, 2023.1 onward) for the built-in personas:
/// admin, member and reader of a project. Visibility decides whether a caller learns that an
/// image exists at all (404 otherwise); the rules here decide what a caller who can see it
/// may do with it (403 otherwise).
public enum ImagePolicy {
    /// `get_images`, `get_image`: readers and up.
    public static func requireReader(_ p: Principal, _ action: String) throws(ServiceError) {
        guard p.isReader, p.projectId != nil || p.isAdmin else { throw .policy(action) }
    }

    /// `add_image`: members and admins.
    public static func requireMember(_ p: Principal, _ action: String) throws(ServiceError) {
        guard p.isMember else { throw .policy(action) }
    }

    /// Whether the caller's project owns the image.
    public static func owns(_ p: Principal, _ image: Image) -> Bool {
        image.owner != nil && image.owner == p.projectId
    }

    /// Owner-member or admin: modify, delete, upload, (de)activate, tags, sharing.
    public static func requireOwner(_ p: Principal, _ image: Image, _ action: String) throws(ServiceError) {
        guard p.isAdmin || (p.isMember && owns(p, image)) else { throw .policy(action) }
    }

    /// Visibility independent of membership: admin, owner, owner-less, public and community
    /// images. Shared images additionally need a membership lookup.
    public static func visibleWithoutMembership(_ p: Principal, _ image: Image) -> Bool {
        if p.isAdmin || image.owner == nil || owns(p, image) { return true }
        return image.visibility == .public || image.visibility == .community
    }
}
