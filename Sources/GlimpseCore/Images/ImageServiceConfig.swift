import OpenStackJSON

/// Behaviour settings of the image service, with Glance's defaults.
public struct ImageServiceConfig: Sendable {
    /// Accepted `disk_format` values.
    public var diskFormats: [String] = [
        "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
    ]
    /// Accepted `container_format` values.
    public var containerFormats: [String] = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
    /// Largest image accepted, in bytes (Glance: 1 TiB).
    public var imageSizeCap: Int = 1 << 40
    /// Bytes of image data a project may store; 0 = unlimited.
    public var userStorageQuota: Int = 0
    public var tagQuota = 128
    public var propertyQuota = 128
    public var memberQuota = 128
    /// Default and largest page of `GET /v2/images`.
    public var defaultPageSize = 25
    public var maxPageSize = 1000
    /// Refuse uploads whose content does not match the declared `disk_format`
    /// (Glance's `require_image_format_match`).
    public var requireFormatMatch = true
    /// VMDK subformats (`createType`) accepted (Glance's `vmdk_allowed_types`); the safety
    /// checks refuse every other one, whatever `requireFormatMatch` says.
    public var vmdkAllowedTypes = FormatInspector.defaultVMDKAllowedTypes
    /// How long deleted images stay visible (as `DELETED`) to the compute API's
    /// `changes-since`, in seconds, before `purge` removes them.
    public var deletedImageRetention: Int64 = 30 * 86_400
    /// Interoperable import methods offered (`/v2/info/import`).
    public var importMethods: [String] = ["glance-direct"]
    /// The `inject_image_metadata` import plugin: properties every import (but `copy-image`)
    /// sets on the image, unless the caller holds one of `injectIgnoredRoles` (Glance's
    /// `inject_metadata_properties`); none by default.
    public var injectedProperties = JSONObject()
    public var injectIgnoredRoles: Set<String> = ["admin"]
    /// The import plugins (Glance's `image_import_plugins`), run in this order on the data of
    /// every import but `copy-image`, before it goes into the stores; none by default.
    /// `inject_image_metadata` acts whenever `injectedProperties` is set, listed or not.
    public var importPlugins: [ImportPlugin] = []
    /// The `disk_format` the `image_conversion` plugin converts to (Glance's
    /// `[image_conversion] output_format`): `raw`, `qcow2` or `vmdk`.
    public var conversionOutputFormat = "raw"
    /// Where the import plugins keep the data they work on (made by the server, under its
    /// data directory).
    public var importWorkDirectory = "./glimpse-data/import-work"
    /// `glance-download`: the prefixes of the properties copied from the source image
    /// (Glance's `glance_download_properties.extra_properties`); `os_glance` ones never are.
    public var glanceDownloadProperties = ["hw_", "trait:", "os_distro", "os_secure_boot", "os_type"]
    /// How long an upload counts as alive after its process last renewed its lease; an
    /// upload whose process died is undone once this has passed.
    public var uploadLeaseSeconds: Int64 = 60
    /// How often an upload records its progress (and renews its lease) while data arrives.
    public var uploadProgressInterval: Duration = .seconds(1)
    /// How old stored data no image refers to must be before the orphan sweep removes it.
    public var orphanGraceSeconds: Int64 = 3600
    /// Hours a task is kept once it has ended (Glance's `task_time_to_live`).
    public var taskTimeToLive: Int64 = 48
    /// Show `direct_url` (Glance's `show_image_direct_url`): where other services read an
    /// image's data, for stores that have such a URL (RBD).
    public var showImageDirectURL = false
    /// Show `locations` (Glance's `show_multiple_locations`): every copy's URL and store.
    public var showMultipleLocations = false
    /// Locations an image may have (Glance's `image_location_quota`).
    public var imageLocationQuota = 10
    /// Calculate the hashes of a location added through API 2.17 by reading its data
    /// (Glance's `do_secure_hash`); otherwise its validation data are taken as given.
    public var doSecureHash = true

    public init() {}
}
