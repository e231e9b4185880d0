import ArgumentParser
import HTTPTransport

let imgpromoteVersion = "0.1.0"

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("imgpromote \(imgpromoteVersion) (\(HTTPClient.libraryVersions))")
    }
}
