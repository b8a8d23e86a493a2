import GlimpseCore
import Hummingbird

/// The Glance v2 image API under `/v2`: images and their data, tags, members, actions,
/// import, tasks, schemas, `/v2/info` and the metadata definitions; and the version documents
/// and health check at the root. Every route but those needs a token.
struct ImageRoutes {
    let images: ImageService
    let metadefs: MetadefService
    let validator: any TokenValidator
    let health: HealthChecks
    /// Where `glance-download` finds a region's image service: the cloud's Keystone, or, with
    /// the built-in identity (nil), the catalog it gives, whose image service is this one.
    let catalog: (any ServiceCatalogReader)?
    /// The region of the built-in identity's catalog.
    let region: String

    func add(to router: Router<GlimpseRequestContext>) {
        let root = APIRoutes(middleware: [])
        root.resource("/", open: APIRoutes.methods.map { ($0, versions(status: .multipleChoices)) })
        root.resource("/versions", open: APIRoutes.methods.map { ($0, versions(status: .ok)) })
        root.resource("/healthcheck", open: APIRoutes.methods.map { ($0, healthcheck) })
        root.add(to: router, at: "")

        let v2 = APIRoutes(middleware: [
            TokenAuthenticator(validator: validator, policy: images.policy), RequireIdentity(),
        ])
        v2.resource("/images", [(.get, list), (.post, create)])
        v2.resource("/images/:id", [(.get, show), (.patch, update), (.delete, delete)])
        v2.resource("/images/:id/file", [(.get, download), (.put, upload)])
        v2.resource("/images/:id/stage", [(.put, stage)])
        v2.resource("/images/:id/import", [(.post, importImage)])
        v2.resource("/images/:id/tasks", [(.get, imageTasks)])
        v2.resource("/images/:id/locations", [(.get, listLocations), (.post, addLocation)])
        v2.resource("/tasks", [(.get, listTasks), (.post, createTask)])
        v2.resource("/tasks/:task", [(.get, showTask), (.delete, deleteTask)])
        v2.resource("/stores/:store/:id", [(.delete, deleteFromStore)])
        v2.resource("/images/:id/actions/:action", [(.post, action)])
        v2.resource("/images/:id/tags/:tag", [(.put, addTag), (.delete, removeTag)])
        v2.resource("/images/:id/members", [(.get, members), (.post, addMember)])
        v2.resource("/images/:id/members/:member", [(.get, member), (.put, updateMember), (.delete, removeMember)])
        v2.resource("/schemas/:name", [(.get, schema)])
        v2.resource("/schemas/metadefs/:name", [(.get, MetadefRoutes.schema)])
        v2.resource("/info/import", [(.get, importInfo)])
        v2.resource("/info/stores", [(.get, stores)])
        v2.resource("/info/stores/detail", [(.get, storesDetail)])
        v2.resource("/info/usage", [(.get, usage)])
        v2.resource("/cache", [(.get, cacheState), (.delete, clearCache)])
        v2.resource("/cache/:id", [(.put, queueForCache), (.delete, removeFromCache)])
        MetadefRoutes(metadefs: metadefs).add(to: v2)
        v2.add(to: router, at: "/v2")
    }

    /// The id path parameter; an empty id names nothing.
    static func imageId(_ context: GlimpseRequestContext) throws(ServiceError) -> String {
        let id = context.parameters.decoded("id")
        if id.isEmpty { throw .notFound() }
        return id
    }
}
