import OpenStack
import Testing

@testable import glimpse

@Suite("CLI output formats")
struct OutputTests {
    let headers = ["ID", "Name", "Tags"]
    let rows: [[JSONValue]] = [["a1", "first", ["y", "x"]], ["b2", nil, []]]

    func options(_ format: OutputFormat, columns: [String] = []) throws -> OutputOptions {
        var args = ["-f", format.rawValue]
        for c in columns { args += ["-c", c] }
        return try OutputOptions.parse(args)
    }

    @Test("properties holding lists of dictionaries (locations), as osc-lib and PyYAML write them")
    func nestedProperties() throws {
        let locations: JSONValue = [["url": "file:///d/x", "metadata": ["store": "local"]]]
        let properties: JSONObject = ["locations": locations, "k": "v", "n": .null, "d": ["a": 1]]
        #expect(
            Output.keyValues(properties, prefix: nil)
                == "d.a='1', k='v', locations='[{'url': 'file:///d/x', 'metadata': {'store': 'local'}}]', n=")
        #expect(Output.keyValues(["locations": []], prefix: nil) == "locations='[]'")
        #expect(
            Output.yamlEntry("properties", .object(["locations": locations]), indent: 0) == """
                properties:
                  locations:
                  - metadata:
                      store: local
                    url: file:///d/x
                """)
    }

    @Test("table, json, yaml and value listings, as openstack prints them")
    func listings() throws {
        #expect(
            try Output.list(headers, rows, options(.table)) == """
                +----+-------+------+
                | ID | Name  | Tags |
                +----+-------+------+
                | a1 | first | x, y |
                | b2 | None  |      |
                +----+-------+------+
                """)
        #expect(try Output.list(headers, rows, options(.value)) == "a1 first ['y', 'x']\nb2 None []")
        #expect(
            try Output.list(headers, rows, options(.yaml))
                == "- ID: a1\n  Name: first\n  Tags:\n  - y\n  - x\n- ID: b2\n  Name: null\n  Tags: []")
        let json = try JSONValue.parse(Output.list(headers, rows, options(.json)))
        #expect(json == [["ID": "a1", "Name": "first", "Tags": ["y", "x"]], ["ID": "b2", "Name": nil, "Tags": []]])
        #expect(try Output.list(headers, [], options(.table)) == "")
        #expect(try Output.list(headers, rows, options(.value, columns: ["Name"])) == "first\nNone")
        #expect(throws: CLIError.self) { try Output.list(headers, rows, options(.table, columns: ["Nope"])) }
    }

    @Test("numbers align right in tables; values print as Python's str does, as openstack's")
    func numbersAndValues() throws {
        let rows: [[JSONValue]] = [["a", 5, true, nil], ["b", 12345, false, 7]]
        #expect(
            try Output.list(["Name", "Size", "Protected", "Min"], rows, options(.table)) == """
                +------+-------+-----------+------+
                | Name |  Size | Protected | Min  |
                +------+-------+-----------+------+
                | a    |     5 | True      | None |
                | b    | 12345 | False     | 7    |
                +------+-------+-----------+------+
                """)
        #expect(
            Output.python(["it's", ["k": "v", "n": nil, "b": true], [1, 2.5]])
                == #"["it's", {'k': 'v', 'n': None, 'b': True}, [1, 2.5]]"#)
        #expect(Output.python("plain text") == "plain text")
        #expect(try Output.record(["tags": ["t"], "size": nil], options(.value)) == "None\n['t']")
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
        // Quoted only what YAML would read as a time: not an id that starts with digits.
        #expect(Output.yamlScalar("10503451-6cc1-4587-a4e4-2e9d2139336d") == "10503451-6cc1-4587-a4e4-2e9d2139336d")
        #expect(Output.yamlScalar("2026-12-01") == "'2026-12-01'")
        #expect(Output.yamlScalar("2026-12-01 08:00:00") == "'2026-12-01 08:00:00'")
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
        // Like `openstack image show`, what has no value is left out (a queued image's size).
        #expect(
            Set(fields.keys) == [
                "id", "min_disk", "min_ram", "properties", "protected", "status", "tags", "visibility",
            ])
        #expect(
            fields["properties"] == [
                "hw_x": "1", "os_hidden": false, "os_hash_algo": "sha512", "os_hash_value": "ab", "stores": "local",
            ])
    }
}
