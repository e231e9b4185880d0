package hudson

/** Test stand-in for Jenkins' hudson.AbortException, which the error step throws. */
class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
