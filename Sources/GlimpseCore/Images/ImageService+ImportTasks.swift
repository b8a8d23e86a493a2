import Logging
import OpenStackEncoding
import OpenStackJSON

/// Each import recorded as Glance records it: an `api_image_import` task, `pending` once the
/// import holds the image, `processing` while it runs in the background, then `success` or
/// `failure`, kept for `task_time_to_live` hours after that. Its id is the import's lock
/// (`os_glance_import_task`). The records tell what happened; an import goes on (and a
/// request succeeds) whether or not they can be written.
extension ImageService {
    /// The task of an import that has just taken its image: `run`'s image and stores, the
    /// request's `body`, the caller and the request's id.
    func importTask(_ run: ImportRun, body: JSONValue, by p: Principal, requestId: String?) -> ImageTask {
        let now = clock.now()
        return ImageTask(
            id: run.taskId, type: "api_image_import", owner: p.projectId ?? "", imageId: run.imageId,
            requestId: requestId, userId: p.userId,
            input: [
                "image_id": .string(run.imageId), "import_req": body,
                "backend": .array(run.targets.map { .string($0) }),
            ], createdAt: now, updatedAt: now)
    }

    /// Writes a new task record.
    func recordTask(_ task: ImageTask) async {
        do {
            try await store.insertTask(task)
        } catch {
            logger.warning(
                "could not record a task", metadata: ["task_id": "\(task.id)", "error": "\(error)"])
        }
    }

    /// Moves a task that has not ended to `processing`.
    func startTask(_ id: String) async {
        await changeTask(id) { task in
            guard task.status == .pending else { return false }
            task.status = .processing
            return true
        }
    }

    /// Ends a task that has not ended: `success` with the image as its result, or `failure`
    /// with `message`; it expires `task_time_to_live` hours from now.
    func endTask(_ id: String, succeeded: Bool, message: String) async {
        let expiry = clock.now().adding(seconds: config.taskTimeToLive * 3600)
        await changeTask(id) { task in
            guard !task.status.isFinal else { return false }
            task.status = succeeded ? .success : .failure
            if succeeded { task.result = ["image_id": .string(task.imageId ?? "")] }
            task.message = message
            task.expiresAt = expiry
            return true
        }
    }

    /// Ends an import's task as the import ended: `run` when it did, nil when it lost its
    /// image (deleted, or the import taken over). `size` is the image's, for the message
    /// Glance writes (`Copied N MiB`).
    func endImportTask(_ run: ImportRun?, id: String, size: Int?) async {
        if let run, !run.undone {
            await endTask(id, succeeded: true, message: "Copied \((size ?? 0) >> 20) MiB")
        } else {
            await endTask(id, succeeded: false, message: run?.failure ?? "Task failed due to Internal Error")
        }
    }

    /// Ends the task of an import whose process died (its lock was taken over, or its lease
    /// ran out), as Glance does when it breaks such a lock.
    func endAbandonedImportTask(_ id: String) async {
        await endTask(id, succeeded: false, message: "Expired lock preempted")
    }

    /// Records the image a legacy `import` task has made (its result once it succeeds).
    func setTaskImage(_ id: String, _ imageId: String) async {
        await changeTask(id) { task in
            task.imageId = imageId
            return true
        }
    }

    /// Read-modify-write of a task record; `change` says whether it changed anything.
    private func changeTask(_ id: String, _ change: (inout ImageTask) -> Bool) async {
        do {
            guard var task = try await store.task(id: id), change(&task) else { return }
            task.updatedAt = clock.now()
            _ = try await store.updateTask(task)
        } catch {
            logger.warning("could not record a task's progress", metadata: ["task_id": "\(id)", "error": "\(error)"])
        }
    }
}
