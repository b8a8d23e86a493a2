/// The policy rules Glimpse enforces, by Glance's names, with Glance's secure-RBAC defaults
/// (glance/policies/*.py) as the default check strings. Helper rules (`context_is_admin`,
/// `default`, `service_api`, `metadef_admin`, `metadef_default`) are referenced by others.
public enum PolicyRule: String, Sendable, CaseIterable {
    // Helper rules (glance/policies/base.py, metadef.py)
    case defaultRule = "default"
    case contextIsAdmin = "context_is_admin"
    case serviceAPI = "service_api"
    case metadefDefault = "metadef_default"
    case metadefAdmin = "metadef_admin"
    // Images
    case addImage = "add_image"
    case deleteImage = "delete_image"
    case getImage = "get_image"
    case getImages = "get_images"
    case modifyImage = "modify_image"
    case publicizeImage = "publicize_image"
    case communitizeImage = "communitize_image"
    case downloadImage = "download_image"
    case uploadImage = "upload_image"
    case deleteImageLocation = "delete_image_location"
    case getImageLocation = "get_image_location"
    case setImageLocation = "set_image_location"
    case addImageLocation = "add_image_location"
    case fetchImageLocation = "fetch_image_location"
    case addMember = "add_member"
    case deleteMember = "delete_member"
    case getMember = "get_member"
    case getMembers = "get_members"
    case modifyMember = "modify_member"
    case manageImageCache = "manage_image_cache"
    case deactivate
    case reactivate
    case copyImage = "copy_image"
    // The cache API (glance/policies/cache.py)
    case cacheImage = "cache_image"
    case cacheList = "cache_list"
    case cacheDelete = "cache_delete"
    case cacheClean = "cache_clean"
    // Tasks (`tasks_api_access` first, then the call's own rule)
    case tasksAPIAccess = "tasks_api_access"
    case getTask = "get_task"
    case getTasks = "get_tasks"
    case addTask = "add_task"
    // Discovery
    case storesInfoDetail = "stores_info_detail"
    // Metadata definitions
    case getMetadefNamespace = "get_metadef_namespace"
    case getMetadefNamespaces = "get_metadef_namespaces"
    case modifyMetadefNamespace = "modify_metadef_namespace"
    case addMetadefNamespace = "add_metadef_namespace"
    case deleteMetadefNamespace = "delete_metadef_namespace"
    case addMetadefObject = "add_metadef_object"
    case modifyMetadefObject = "modify_metadef_object"
    case deleteMetadefObject = "delete_metadef_object"
    case listMetadefResourceTypes = "list_metadef_resource_types"
    case addMetadefResourceTypeAssociation = "add_metadef_resource_type_association"
    case removeMetadefResourceTypeAssociation = "remove_metadef_resource_type_association"
    case addMetadefProperty = "add_metadef_property"
    case modifyMetadefProperty = "modify_metadef_property"
    case removeMetadefProperty = "remove_metadef_property"
    case addMetadefTag = "add_metadef_tag"
    case addMetadefTags = "add_metadef_tags"
    case modifyMetadefTag = "modify_metadef_tag"
    case deleteMetadefTag = "delete_metadef_tag"
    case deleteMetadefTags = "delete_metadef_tags"

    /// This rule's position in `allCases`, where compiled rules keep it: the case's tag, which
    /// Swift numbers in declaration order for an enum without payloads (hashing the raw
    /// string instead would cost a per-request hash of the name).
    var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    /// The check string enforced when no policy file overrides the rule.
    public var defaultCheck: String {
        switch self {
        case .defaultRule, .metadefDefault: ""
        case .getTask, .getTasks, .addTask: "rule:default"
        case .contextIsAdmin: "role:admin"
        case .serviceAPI: "role:service or role:admin"
        // stores_info_detail: Glance 33 also lets `rule:service_api` in; Glimpse keeps it for admins.
        case .metadefAdmin, .publicizeImage, .deleteImageLocation, .manageImageCache, .copyImage, .tasksAPIAccess,
            .storesInfoDetail:
            Self.admin
        // Glance 33's default for these is the admin rule; `rule:manage_image_cache` (its
        // deprecated default) is the same by default and lets one override cover them all.
        case .cacheImage, .cacheList, .cacheDelete, .cacheClean: "rule:manage_image_cache"
        case .addImage: "\(Self.admin) or (\(Self.projectMember) and project_id:%(owner)s)"
        case .deleteImage, .modifyImage, .communitizeImage, .uploadImage, .setImageLocation, .addMember,
            .deleteMember, .deactivate, .reactivate:
            "\(Self.admin) or (\(Self.projectMember))"
        case .getImage:
            "\(Self.admin) or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s"
                + " or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        case .downloadImage:
            "\(Self.admin) or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s"
                + " or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        case .getImages, .getImageLocation, .getMetadefNamespaces: "\(Self.admin) or (\(Self.projectReader))"
        case .addImageLocation: "rule:service_api or (\(Self.projectMember) and project_id:%(owner)s)"
        case .fetchImageLocation: "rule:service_api"
        case .getMember, .getMembers:
            "\(Self.admin) or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)"
        case .modifyMember: "\(Self.admin) or (role:member and project_id:%(member_id)s)"
        case .getMetadefNamespace, .listMetadefResourceTypes:
            "\(Self.admin) or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"
        case .modifyMetadefNamespace, .addMetadefNamespace, .deleteMetadefNamespace, .addMetadefObject,
            .modifyMetadefObject, .deleteMetadefObject, .addMetadefResourceTypeAssociation,
            .removeMetadefResourceTypeAssociation, .addMetadefProperty, .modifyMetadefProperty,
            .removeMetadefProperty, .addMetadefTag, .addMetadefTags, .modifyMetadefTag, .deleteMetadefTag,
            .deleteMetadefTags:
            "rule:metadef_admin"
        }
    }

    private static let admin = "rule:context_is_admin"
    private static let projectMember = "role:member and project_id:%(project_id)s"
    private static let projectReader = "role:reader and project_id:%(project_id)s"
}
