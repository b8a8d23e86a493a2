import OpenStackJSON
import Synchronization

/// The image properties through which Glance reports imports into stores.
enum ImportProperty {
    /// The id of the import that holds the image (one import at a time).
    static let lock = "os_glance_import_task"
    /// Stores still to receive the data, comma-separated, sorted.
    static let importing = "os_glance_importing_to_stores"
    /// Stores the data could not be written to, comma-separated, sorted.
    static let failed = "os_glance_failed_import"

    /// The stores a list property names.
    static func stores(_ key: String, of image: Image) -> Set<String> {
        Set((image.properties[key]?.stringValue ?? "").split(separator: ",").map(String.init))
    }

    /// Sets a list property to `stores`, as Glance writes it (sorted, `""` when empty).
    static func set(_ key: String, _ stores: Set<String>, on image: inout Image) {
        image.properties[key] = .string(stores.sorted().joined(separator: ","))
    }
}

/// One import that writes an image's data into stores (`glance-direct` with stores other
/// than the staging one, `web-download`, `glance-download`, `copy-image`): what it was asked
/// for and how far it got.
///
/// Its effect on the image record is a function of this state, applied afresh to the current
/// record at each step, so that a step retried after a concurrent write changes the same
/// things. Glance's rules: the stores still to do are listed in `os_glance_importing_to_stores`
/// and failures in `os_glance_failed_import`; an image that receives its data (`glance-direct`,
/// `web-download`) becomes active once the last store has its copy, or with the first copy
/// when not all stores must succeed; when all must succeed, the first failure ends the import
/// and undoes it (the copies it made are removed; an image receiving its data goes back to
/// `queued` without data).
struct ImportRun: Sendable {
    enum Method: String, Sendable {
        case glanceDirect = "glance-direct"
        case webDownload = "web-download"
        case copyImage = "copy-image"
        case glanceDownload = "glance-download"

        /// Whether the import gives the image its data (rather than copying the data it has).
        var fillsImage: Bool { self != .copyImage }
    }

    let imageId: String
    /// The import's id, held in `os_glance_import_task` while it runs.
    let taskId: String
    let method: Method
    /// The stores to write to, in the order asked for.
    let targets: [String]
    let allMustSucceed: Bool
    /// `glance-direct`: the staged data, in the default store. When that store is a target
    /// and the data goes in as staged, the staged data is its copy; otherwise it is removed
    /// once the image is active (or replaced by the new copy in its store).
    let staged: ImageLocation?
    /// Whether the import plugins make new data of the staged or fetched data (decompressed,
    /// converted) before it goes into the stores.
    let processesData: Bool
    /// Copies made so far (the staged data among them when its store is a target).
    private(set) var succeeded: [ImageLocation] = []
    private(set) var failed: [String] = []
    /// Whether nothing is left to do.
    private(set) var finished = false
    /// Why the import stopped, for its task, when a reason is known.
    private(set) var failure: String?

    init(
        imageId: String, taskId: String, method: Method, targets: [String], allMustSucceed: Bool,
        staged: ImageLocation?, processesData: Bool = false
    ) {
        self.imageId = imageId
        self.taskId = taskId
        self.method = method
        self.targets = targets
        self.allMustSucceed = allMustSucceed
        self.staged = staged
        self.processesData = processesData
        if let staged, !processesData, targets.contains(staged.storeId) { succeeded = [staged] }
        finished = remaining.isEmpty
    }

    /// Stores neither done nor failed, in order.
    var remaining: [String] {
        targets.filter { t in !failed.contains(t) && !succeeded.contains { $0.storeId == t } }
    }

    /// Whether the import is undone: a failure where all had to succeed, or an import that
    /// was to give the image its data and ended without any copy.
    var undone: Bool {
        (allMustSucceed && !failed.isEmpty) || (method.fillsImage && finished && succeeded.isEmpty)
    }

    mutating func succeed(_ copy: ImageLocation) {
        succeeded.append(copy)
        if remaining.isEmpty { finished = true }
    }

    /// A store failed: the import ends if all had to succeed.
    mutating func fail(_ store: String) {
        failed.append(store)
        if remaining.isEmpty || allMustSucceed { finished = true }
    }

    /// Ends the import: the stores not done count as failed.
    mutating func stop(because reason: String? = nil) {
        failed += remaining
        finished = true
        failure = reason ?? failure
    }

    /// Brings `image` to this state. `new` are copies committed since the last write; a copy
    /// that cannot be recorded (its store has one already) comes back with the copies the
    /// record no longer holds, whose data is to be deleted once the record is written.
    func apply(to image: inout Image, adding new: [ImageLocation]) -> [ImageLocation] {
        let targets = Set(targets)
        let remaining = finished ? [] : Set(remaining)
        ImportProperty.set(
            ImportProperty.importing,
            ImportProperty.stores(ImportProperty.importing, of: image).subtracting(targets).union(remaining),
            on: &image)
        ImportProperty.set(
            ImportProperty.failed,
            ImportProperty.stores(ImportProperty.failed, of: image).subtracting(targets).union(failed), on: &image)
        if !finished {
            image.properties[ImportProperty.lock] = .string(taskId)
        } else if image.properties[ImportProperty.lock]?.stringValue == taskId {
            image.properties.removeValue(forKey: ImportProperty.lock)
        }
        if undone {
            if method.fillsImage { return Self.requeue(&image) + new }
            let mine = new + succeeded
            let dropped = new + image.locations.filter { mine.contains($0) }
            image.locations.removeAll { mine.contains($0) }
            return dropped
        }
        var dropped: [ImageLocation] = []
        for copy in new {
            if let staged, copy.storeId == staged.storeId, !succeeded.contains(staged),
                let index = image.locations.firstIndex(of: staged)
            {
                image.locations[index] = copy
                dropped.append(staged)
            } else if image.location(in: copy.storeId) == nil {
                image.locations.append(copy)
            } else {
                dropped.append(copy)
            }
        }
        if method.fillsImage, image.status == .importing,
            allMustSucceed ? finished : !succeeded.isEmpty
        {
            try? image.transition(to: .active)
        }
        if let staged, !succeeded.contains(staged),
            image.status == .active || finished || (processesData && !succeeded.isEmpty),
            image.locations.contains(staged)
        {
            image.locations.removeAll { $0 == staged }
            dropped.append(staged)
        }
        return dropped
    }
}

extension ImportRun {
    /// Puts an image whose import was to give it its data, and failed, back to `queued`
    /// without data; returns the copies it held.
    static func requeue(_ image: inout Image) -> [ImageLocation] {
        let dropped = image.locations
        image.locations = []
        image.size = nil
        image.virtualSize = nil
        image.checksum = nil
        image.osHashAlgo = nil
        image.osHashValue = nil
        if image.status == .importing { try? image.transition(to: .queued) }
        return dropped
    }

    /// Ends the import of an image whose process died (its lease ran out): the stores it had
    /// not done count as failed, the lock goes, and an image that was receiving its data goes
    /// back to `queued`. Returns the copies the image dropped.
    static func abandon(_ image: inout Image) -> [ImageLocation] {
        let left = ImportProperty.stores(ImportProperty.importing, of: image)
        ImportProperty.set(
            ImportProperty.failed, ImportProperty.stores(ImportProperty.failed, of: image).union(left), on: &image)
        ImportProperty.set(ImportProperty.importing, [], on: &image)
        image.properties.removeValue(forKey: ImportProperty.lock)
        return image.status == .importing ? requeue(&image) : []
    }
}

/// The imports this process runs in the background, so that they can be awaited (tests) or
/// stopped before the stores close (shutdown).
public final class BackgroundImports: Sendable {
    private let running = Mutex<[Int: Task<Void, Never>]>([:])
    private let counter = Atomic<Int>(0)

    public init() {}

    /// Runs `work` in a task of its own, which outlives the request that started it.
    @discardableResult
    func start(_ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        let key = counter.add(1, ordering: .relaxed).newValue
        return running.withLock { tasks in
            let task = Task { [self] in
                await work()
                _ = running.withLock { $0.removeValue(forKey: key) }
            }
            tasks[key] = task
            return task
        }
    }

    /// Returns once every import started so far has ended.
    public func wait() async {
        while let task = running.withLock({ $0.values.first }) { await task.value }
    }

    /// Cancels the imports (each records the stores it has not done as failed, and ends),
    /// and waits for them.
    public func stop() async {
        for task in running.withLock({ Array($0.values) }) { task.cancel() }
        await wait()
    }
}
