import Foundation
import GlimpseTestSupport
import OpenStack
import Testing

@Suite("SDK: compute images against a real server")
struct ComputeServiceTests {
    @Test("list (paged, filtered), show, metadata, delete, changes-since")
    func computeImages() async throws {
        try await TestServer.with { s in
            let os = try admin(s)
            let images = os.imagesV2()
            let compute = os.computeV2()
            let since = Date().addingTimeInterval(-5)
            var ids: [String] = []
            for i in 0..<5 {
                let image = try await images.createImage(
                    ImageCreate(
                        name: "c\(i)", diskFormat: .raw, containerFormat: .bare,
                        properties: i == 0 ? ["image_type": "snapshot", "instance_uuid": "srv-1"] : [:]))
                ids.append(image.id)
            }
            _ = try await images.uploadData(ids[1], from: .bytes([1, 2, 3]))
            let all = try await compute.listImages(detailed: true, pageSize: 2).collect()
            #expect(Set(all.map(\.id)) == Set(ids))
            let index = try await compute.listImages(detailed: false).collect()
            #expect(index.allSatisfy { $0.status == nil } && index.count == 5)
            let active = try await compute.listImages(filters: ComputeImageFilter(status: .active)).collect()
            #expect(active.map(\.id) == [ids[1]] && active.first?.progress == 100 && active.first?.size == 3)
            let snaps = try await compute.listImages(filters: ComputeImageFilter(server: "srv-1", type: .snapshot))
                .collect()
            #expect(snaps.map(\.id) == [ids[0]] && snaps.first?.serverId == "srv-1")

            let shown = try await compute.image(ids[2])
            #expect(
                shown.name == "c2" && shown.status == .saving
                    && shown.links["self"]?.hasSuffix("/images/\(ids[2])") == true)
            #expect(try await compute.updateMetadata(ids[2], ["a": "1", "b": "2"]) == ["a": "1", "b": "2"])
            #expect(try await compute.replaceMetadata(ids[2], ["c": "3"]) == ["c": "3"])
            try await compute.deleteMetadata(ids[2], key: "c")
            #expect(try await compute.metadata(ids[2]).isEmpty)

            try await compute.delete(ids[3])
            let changed = try await compute.listImages(filters: ComputeImageFilter(changesSince: since)).collect()
            #expect(changed.first { $0.id == ids[3] }?.status == .deleted)
            do {
                _ = try await compute.image(ids[3])
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .notFound && e.message == "Image not found.")
            }
        }
    }
}
