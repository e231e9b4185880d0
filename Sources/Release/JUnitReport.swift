/// A JUnit XML report, one test case per image, in the dialect Jenkins' `junit` step reads.
public enum JUnitReport {
    public struct Case: Sendable {
        public enum Outcome: Sendable {
            case passed(output: String)
            case failed(type: String, message: String)
            case skipped(message: String)
        }
        public var classname: String
        public var name: String
        public var seconds: Double
        public var outcome: Outcome

        public init(classname: String, name: String, seconds: Double, outcome: Outcome) {
            self.classname = classname
            self.name = name
            self.seconds = seconds
            self.outcome = outcome
        }
    }

    public static func render(_ cases: [Case], suite: String) -> String {
        var failures = 0, skipped = 0
        for c in cases {
            switch c.outcome {
            case .failed: failures += 1
            case .skipped: skipped += 1
            case .passed: break
            }
        }
        let total = time(cases.reduce(0.0) { $0 + $1.seconds })
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(cases.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(total)\">\n"
        xml += "  <testsuite name=\"\(escape(suite))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" "
            + "skipped=\"\(skipped)\" time=\"\(total)\">\n"
        for c in cases {
            xml += "    <testcase classname=\"\(escape(c.classname))\" name=\"\(escape(c.name))\" time=\"\(time(c.seconds))\">\n"
            switch c.outcome {
            case .passed(let output):
                xml += "      <system-out>\(escape(output))</system-out>\n"
            case .failed(let type, let message):
                xml += "      <failure type=\"\(escape(type))\" message=\"\(escape(message))\">\(escape(message))</failure>\n"
            case .skipped(let message):
                xml += "      <skipped message=\"\(escape(message))\"/>\n"
            }
            xml += "    </testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// Seconds with millisecond precision, never exponent notation (JUnit readers parse a decimal).
    static func time(_ seconds: Double) -> String {
        let ms = Int((max(0, seconds.isFinite ? seconds : 0) * 1000).rounded())
        let frac = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// Text and attribute escaping. Characters XML 1.0 cannot carry at all (controls other than tab,
    /// newline and carriage return; lone surrogates never reach a Swift String; U+FFFE/U+FFFF) become
    /// U+FFFD; newlines and tabs in attributes become character references so they survive.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default:
                if u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}
