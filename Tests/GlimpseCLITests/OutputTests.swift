import OpenStack
import Testing

@testable import glimpse

@Suite("CLI output formats")
struct OutputTests {
    let headers = ["ID", "Name", "Tags"]
    let rows: [[JSONValue]] = [["a1", "first", ["x", "y"]], ["b2", nil, []]]

    func options(_ format: OutputFormat, columns: [String] = []) throws -> OutputOptions {
        var args = ["-f", format.rawValue]
        for c in columns { args += ["-c", c] }
        return try OutputOptions.parse(args)
    }

    @Test("table, json, yaml and value listings, as openstack prints them")
    func listings() throws {
        #expect(
            try Output.list(headers, rows, options(.table)) == """
                +----+-------+------+
                | ID | Name  | Tags |
                +----+-------+------+
                | a1 | first | x, y |
                | b2 |       |      |
                +----+-------+------+
                """)
        #expect(try Output.list(headers, rows, options(.value)) == "a1 first x, y\nb2  ")
        #expect(
            try Output.list(headers, rows, options(.yaml))
                == "- ID: a1\n  Name: first\n  Tags:\n  - x\n  - y\n- ID: b2\n  Name: null\n  Tags: []")
        let json = try JSONValue.parse(Output.list(headers, rows, options(.json)))
        #expect(json == [["ID": "a1", "Name": "first", "Tags": ["x", "y"]], ["ID": "b2", "Name": nil, "Tags": []]])
        #expect(try Output.list(headers, [], options(.table)) == "")
        #expect(try Output.list(headers, rows, options(.value, columns: ["Name"])) == "first\n")
        #expect(throws: CLIError.self) { try Output.list(headers, rows, options(.table, columns: ["Nope"])) }
    }

    @Test("records are sorted by field; YAML quotes what could be misread")
    func records() throws {
        let fields: JSONObject = [
            "size": 6, "created_at": "2026-11-23T11:37:21Z", "name": "yes", "properties": ["k": "v", "e": ""],
        ]
        #expect(
            try Output.record(fields, options(.yaml)) == """
                created_at: '2026-11-23T11:37:21Z'
                name: 'yes'
                properties:
                  e: ''
                  k: v
                size: 6
                """)
        #expect(try Output.record(fields, options(.value, columns: ["size"])) == "6")
        let table = try Output.record(fields, options(.table))
        #expect(table.contains("| properties | e='', k='v'          |"))
    }

    @Test("show fields match openstack image show's")
    func showFields() throws {
        let image = try Image(json: [
            "id": "i", "status": "active", "visibility": "private", "os_hash_algo": "sha512",
            "os_hash_value": "ab", "os_hidden": false, "hw_x": "1", "stores": "local",
        ])
        let fields = ImageCommand.fields(image)
        #expect(
            Set(fields.keys) == [
                "checksum", "container_format", "created_at", "disk_format", "file", "id", "min_disk", "min_ram",
                "name", "owner", "properties", "protected", "schema", "size", "status", "tags", "updated_at",
                "virtual_size", "visibility",
            ])
        #expect(
            fields["properties"] == [
                "hw_x": "1", "os_hidden": false, "os_hash_algo": "sha512", "os_hash_value": "ab", "stores": "local",
            ])
    }
}
