import HTTPTransport
import OCIRegistry

/// The HTTP client of these tests (each `HTTPClient` costs a thread); each test makes its own
/// `RegistrySession`, so what one test's registry answered never leaks into another's.
let testHTTP = HTTPClient()

func newSession() -> RegistrySession { RegistrySession(http: testHTTP) }
