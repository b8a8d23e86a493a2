import GlimpseCore

/// The limits of the image service's projects as the built-in identity keeps them.
public struct StoredLimits: LimitsSource {
    let store: any IdentityStore
    let serviceId: String
    let regionId: String?

    /// - Parameters:
    ///   - serviceId: the image service's id in the catalog.
    ///   - regionId: its region; limits of other regions do not apply, those without one do.
    public init(store: any IdentityStore, serviceId: String, regionId: String?) {
        self.store = store
        self.serviceId = serviceId
        self.regionId = regionId
    }

    public func limits(for project: String) async throws -> [String: Int] {
        UnifiedLimits.effective(
            registered: try await store.registeredLimits(serviceId: serviceId, regionId: nil, resourceName: nil),
            project: try await store.projectLimits(
                projectId: project, serviceId: serviceId, regionId: nil, resourceName: nil),
            region: regionId)
    }
}
