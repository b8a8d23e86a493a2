import PackagePlugin

/// Compiles each `.yaml` file of a target into the target as a string constant named after
/// the file (`openapi.yaml` → `openapiYAML`), through the `EmbedText` tool.
@main
struct EmbedTextPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let tool = try context.tool(named: "EmbedText").url
        return target.sourceFiles(withSuffix: ".yaml").map { file in
            let base = file.url.deletingPathExtension().lastPathComponent
            let identifier = base.filter { $0.isLetter || $0.isNumber } + "YAML"
            let output = context.pluginWorkDirectoryURL.appending(path: base + "+Embedded.swift")
            return .buildCommand(
                displayName: "Embedding \(file.url.lastPathComponent)", executable: tool,
                arguments: [file.url.path(), output.path(), identifier], inputFiles: [file.url],
                outputFiles: [output])
        }
    }
}
