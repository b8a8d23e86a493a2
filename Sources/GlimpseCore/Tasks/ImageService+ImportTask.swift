import Logging
import OpenStackEncoding
import OpenStackJSON

/// Glance's legacy `import` task (`POST /v2/tasks`, admins only, as Glance 33 still offers
/// it): the server makes an image of `input.image_properties` and fetches `input.import_from`
/// into it, as a `web-download` import does, and the task ends with the image as its result
/// (or, failed, deletes it, as Glance reverts the flow).
extension ImageService {
    /// Checks the request as Glance does, records the task (`pending`) and starts it.
    public func createImportTask(_ body: JSONValue, requestId: String?, by p: Principal) async throws -> ImageTask {
        try policy.enforce(.tasksAPIAccess, p, .project(p.projectId))
        try policy.enforce(.addTask, p, .project(p.projectId))
        guard body.objectValue != nil else { throw ServiceError.badRequest("Body expected in request") }
        for key in ["type", "input"] where body[key] == nil {
            throw ServiceError.badRequest("Task '\(key)' is required")
        }
        guard let type = body["type"]?.stringValue, type == "import" else {
            let given = body["type"]?.stringValue ?? body["type"]?.jsonString ?? ""
            throw ServiceError.badRequest("Invalid type value: \(given)")
        }
        guard let input = body["input"], input.objectValue != nil else {
            throw ServiceError.badRequest("Input must be an object")
        }
        for key in ["import_from", "import_from_format", "image_properties"] where input[key] == nil {
            throw ServiceError.badRequest("Input does not contain '\(key)' field")
        }
        guard let properties = input["image_properties"], properties.objectValue != nil else {
            throw ServiceError.badRequest("Input field 'image_properties' must be an object")
        }
        guard let uri = input["import_from"]?.stringValue, let webDownloader, await webDownloader.permits(uri) else {
            let given = input["import_from"]?.stringValue ?? input["import_from"]?.jsonString ?? "None"
            throw ServiceError.badRequest("URI for import does not pass filtering: \(given)")
        }
        let now = clock.now()
        let task = ImageTask(
            id: Identifiers.uuid(), type: "import", owner: p.projectId ?? "", requestId: requestId, userId: p.userId,
            input: input, createdAt: now, updatedAt: now)
        try await store.insertTask(task)
        imports.start { [self] in
            await self.runImportTask(task.id, uri: uri, properties: properties, requestId: requestId, by: p)
        }
        return task
    }

    /// Makes the image and fetches its data; ends the task with the image, or the reason.
    func runImportTask(_ id: String, uri: String, properties: JSONValue, requestId: String?, by p: Principal) async {
        await startTask(id)
        var imageId: String?
        do {
            let image = try await create(properties, by: p)
            imageId = image.id
            await setTaskImage(id, image.id)
            let body: JSONValue = ["method": ["name": "web-download", "uri": .string(uri)]]
            await (try importImage(image.id, body: body, requestId: requestId, by: p))?.value
            let ended = try await store.image(id: image.id)
            guard let ended, ended.status == .active else {
                throw ServiceError.badRequest("the image's data could not be fetched from \(uri)")
            }
            await endTask(id, succeeded: true, message: "")
        } catch {
            logger.info(
                "import task failed",
                metadata: ["task_id": "\(id)", "image_id": "\(imageId ?? "")", "error": "\(error)"])
            let reason = (error as? ServiceError)?.message ?? "\(error)"
            // As Glance reverts its flow: the image made for the task goes with it.
            if let imageId {
                do {
                    try await delete(imageId, by: p)
                } catch {
                    logger.warning(
                        "could not delete the image of a failed import task",
                        metadata: ["task_id": "\(id)", "image_id": "\(imageId)", "error": "\(error)"])
                }
            }
            await endTask(id, succeeded: false, message: reason)
        }
    }
}
