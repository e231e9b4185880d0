import HTTPTransport
import OCIRegistry

/// What one run of a command shares, created on first use (`version` and `--help` create nothing):
/// the HTTP client every request of the run goes through (one curl thread; SIGINT/SIGTERM cancel its
/// transfers), and the registry session every registry client of the run is given, so both sides of a
/// copy on one registry learn its scheme and challenge once. The libraries keep no such state: a
/// process runs one command, so the run's values live here.
enum CommandRun {
    static let http = HTTPClient()
    static let registries = RegistrySession(http: http)
}
