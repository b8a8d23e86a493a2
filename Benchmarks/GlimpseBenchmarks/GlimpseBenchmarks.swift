import Benchmark
import GlimpseCore
import GlimpseHTTP
import GlimpseSQL
import NIOCore
import NIOPosix
import OpenStackEncoding
import OpenStackJSON
import StreamDigests

/// Micro-benchmarks of the hot paths: run with `GLIMPSE_BENCHMARKS=1 swift package benchmark`.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.metrics = [.wallClock, .throughput, .mallocCountTotal]
    Benchmark.defaultConfiguration.maxDuration = .seconds(3)

    let images25 = (0..<25).map(sampleImage)
    let images1000 = (0..<1000).map(sampleImage)

    Benchmark("JSON: list page of 25 images") { b in
        for _ in b.scaledIterations {
            blackHole(ImageJSON.page(images25, view: ImageDataView(), first: "/v2/images", next: "/v2/images?marker=x"))
        }
    }
    Benchmark("JSON: list page of 1000 images") { b in
        for _ in b.scaledIterations {
            blackHole(ImageJSON.page(images1000, view: ImageDataView(), first: "/v2/images", next: nil))
        }
    }

    let createBody = Array(
        #"{"name": "cirros", "disk_format": "qcow2", "container_format": "bare", "visibility": "private", "tags": ["a", "b"], "min_ram": 512, "owner_specified.openstack.md5": "", "owner_specified.openstack.sha256": "", "owner_specified.openstack.object": "images/cirros", "hw_rng_model": "virtio"}"#
            .utf8)
    Benchmark("JSON: parse an image create body") { b in
        for _ in b.scaledIterations { blackHole(try JSONValue.parse(createBody)) }
    }

    // Objects of 10,000 and 100,000 members (100 KiB and 1 MiB): linear time means the same
    // time per member at both sizes.
    for members in [10_000, 100_000] {
        let object = Array(("{" + (0..<members).map { "\"k\($0)\":0" }.joined(separator: ",") + "}").utf8)
        Benchmark(
            "JSON: parse an object of \(members) members (\(object.count / 1024) KiB)",
            configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one, maxIterations: 50)
        ) { b in
            for _ in b.scaledIterations { blackHole(try JSONValue.parse(object)) }
        }
    }

    let query = ImageListQuery(
        scope: ListScope(projectId: "p1", isAdmin: false, visibility: .default, memberStatus: .accepted),
        conditions: [
            .oneOf(.status, ["active"]), .tags(["base", "gold"]), .atLeast(.size, 1 << 20),
            .property("os_distro", "ubuntu"),
        ],
        sort: ImageListQuery.completeSort(
            [SortKey(.name, ascending: true), SortKey(.size, ascending: false)], defaultAscending: false),
        limit: 26, marker: images25[3])
    Benchmark("SQL: build a filtered, sorted list query after a marker") { b in
        for _ in b.scaledIterations { blackHole(ImageQueryBuilder.select(query)) }
    }

    let chunk = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    let hashing = NIOThreadPool(numberOfThreads: 2)
    hashing.start()
    Benchmark(
        "Digests: MD5 + SHA-512 of 64 MiB in 1 MiB chunks",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one, maxIterations: 20)
    ) { b in
        for _ in b.scaledIterations {
            var d = ImageDigests(pool: hashing)
            for _ in 0..<64 { await d.update(chunk) }
            blackHole(await d.finalize())
        }
    }
    // Each digest alone, on one core: the pair above should cost about the slower one.
    for algorithm in [StreamDigest.Algorithm.md5, .sha512] {
        Benchmark(
            "Digests: \(algorithm.rawValue) alone of 64 MiB",
            configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one, maxIterations: 20)
        ) { b in
            for _ in b.scaledIterations {
                let d = StreamDigest(algorithm)
                for _ in 0..<64 { chunk.withUnsafeReadableBytes { d.update($0) } }
                blackHole(d.hexDigest())
            }
        }
    }
}

func sampleImage(_ i: Int) -> Image {
    let t = Timestamp(seconds: 1_800_000_000 + Int64(i))
    return Image(
        id: "8e6d1ffa-fcc5-41ac-a7ed-\(String(100_000_000_000 + i))", name: "image-\(i)", status: .active,
        visibility: .shared,
        owner: "4ae9db5510fd1b90e4c4bf3de5e825d1", size: 1 << 30, virtualSize: 1 << 30, diskFormat: "qcow2",
        containerFormat: "bare", checksum: "b1946ac92492d2347c6235b4d2611184", osHashAlgo: "sha512",
        osHashValue: String(repeating: "e7c22b994c59d9cf", count: 8), minDisk: 10, minRam: 512, createdAt: t,
        updatedAt: t,
        properties: ["os_distro": "ubuntu", "hw_disk_bus": "virtio", "owner_specified.openstack.object": "images/x"],
        tags: ["base", "gold"])
}
