#if RBD
import GlimpseCore
import OpenStackEncoding

/// Where an RBD store keeps images and how it reaches the cluster: Glance's `rbd_store_pool`,
/// `rbd_store_ceph_conf`, `rbd_store_user` and `rbd_store_chunk_size`.
public struct RBDSettings: Sendable, Hashable {
    /// The pool the images go to.
    public var pool: String
    /// The cluster's configuration file; nil reads librados's default places (`$CEPH_CONF`,
    /// `/etc/ceph/ceph.conf`, `~/.ceph/config`, `./ceph.conf`).
    public var confPath: String?
    /// The RADOS user, without `client.`.
    public var user: String
    /// The size of the objects an image is striped over, a power of two from 4 KiB to 32 MiB.
    public var chunkSize: Int

    public init(pool: String, confPath: String? = nil, user: String = "admin", chunkSize: Int = 8 << 20) {
        self.pool = pool
        self.confPath = confPath
        self.user = user
        self.chunkSize = chunkSize
    }

    /// Reads `rbd://POOL?conf=/etc/ceph/ceph.conf&user=glance&chunk_size_mb=8` (every option
    /// optional).
    public init(url text: String) throws(StoreURLError) {
        var url = try StoreURL(text)
        func bad(_ why: String) -> StoreURLError { StoreURLError("bad RBD store URL '\(url)': \(why)") }
        guard url.scheme == "rbd" else { throw bad("it does not start with rbd://") }
        let pool = URLCoding.decode(url.host)
        guard !pool.isEmpty else { throw bad("it names no pool (rbd://POOL)") }
        guard url.user == nil, url.port == nil, url.path.isEmpty || url.path == "/" else {
            throw bad("'\(url.hostAndPort)\(url.path)' is not a pool name (rbd://POOL)")
        }
        self.init(pool: pool)
        if let conf = url.take("conf") {
            guard !conf.isEmpty else { throw bad("conf is empty") }
            confPath = conf
        }
        if let name = url.take("user") {
            guard !name.isEmpty, !name.hasPrefix("client.") else {
                throw bad("user must be a RADOS user name without 'client.' (e.g. glance)")
            }
            user = name
        }
        if let value = url.take("chunk_size_mb") {
            guard let mb = Int(value), (1...32).contains(mb), mb & (mb - 1) == 0 else {
                throw bad("chunk_size_mb must be a power of two from 1 to 32, not '\(value)'")
            }
            chunkSize = mb << 20
        }
        try url.rejectUnknownOptions(known: ["conf", "user", "chunk_size_mb"])
    }

    /// The RBD object order: the chunk size as a power of two.
    var order: Int { Int.bitWidth - 1 - chunkSize.leadingZeroBitCount }
}
#endif
