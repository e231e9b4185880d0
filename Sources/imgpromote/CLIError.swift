/// A failure the CLI reports with its own one-line message and exit status.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32

    static func usage(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }

    var description: String { message }
}
