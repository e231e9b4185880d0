/// A failure the CLI reports with its own one-line message and exit status.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32

    static func usage(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }

    var description: String { message }
}

extension CLIError {
    /// The CLIError that a command's `validate()` threw, which ArgumentParser hands back wrapped in
    /// its internal CommandError (`.userValidationError`); looked up by reflection, a few levels deep.
    static func thrownByValidate(_ error: any Error) -> CLIError? {
        var level: [Any] = [error]
        for _ in 0..<4 {
            var next: [Any] = []
            for value in level {
                if let found = value as? CLIError { return found }
                next += Mirror(reflecting: value).children.map(\.value)
            }
            level = next
        }
        return nil
    }
}
