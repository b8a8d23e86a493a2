/// What every image call requires before the operator's policy (`PolicyEnforcer`) is asked:
/// a reader on a project (or an admin). Visibility decides whether a caller learns that an
/// image exists at all (404 otherwise); the policy's rules decide what a caller who can see
/// it may do with it (403 otherwise).
public enum ImagePolicy {
    /// `get_images`, `get_image`: readers and up.
    public static func requireReader(_ p: Principal, _ action: String) throws(ServiceError) {
        guard p.isReader, p.projectId != nil || p.isAdmin else { throw .policy(action) }
    }

    /// Whether the caller's project owns the image.
    public static func owns(_ p: Principal, _ image: Image) -> Bool {
        image.owner != nil && image.owner == p.projectId
    }

    /// Visibility independent of membership: admin, owner, owner-less, public and community
    /// images. Shared images additionally need a membership lookup.
    public static func visibleWithoutMembership(_ p: Principal, _ image: Image) -> Bool {
        if p.isAdmin || image.owner == nil || owns(p, image) { return true }
        return image.visibility == .public || image.visibility == .community
    }
}
