import groovy.json.JsonOutput
import org.junit.After
import org.junit.Assume
import org.junit.Before
import org.junit.Test

import static StepHarness.*

/**
 * The boundary between the step and the CLI (issue 14): credentials of plain registry sides, usage
 * errors, secrets carried out of withCredentials, an outcome that relayed stderr cannot forge,
 * --json in extraArgs, and the CLI's limits. The script runs in a real `dash` with a fake imgpromote
 * wherever the shell matters.
 */
class ImgpromoteBoundaryTest {
    static final Map PLAIN = [source: 'registry.dev.example.com/dev/app:1.4', destination: 'quay.example.com/prod/app:1.4']
    static final String REPORT_JSON = JsonOutput.toJson(reportFor(REF))
    File dir

    @Before
    void setUp() {
        dir = tempDir('imgpromote-boundary-test')
    }

    @After
    void tearDown() {
        dir?.deleteDir()
    }

    /** Runs the step with its script in dash and a fake imgpromote; returns [result, harness, record dir, log]. */
    Map inDash(Map stepArgs, Map fake) {
        return StepHarness.inDash(dir, stepArgs, fake)
    }

    static void assertNoSentinel(Object value, String what) {
        String text = value.toString()
        SENTINELS.each { assert !text.contains(it): "${what} carries a bound secret: ${text}" }
    }

    // ---- 1. credentials of plain registry sides ------------------------------------------------

    @Test
    void plainRegistrySidesGetUsernamePasswordAndSecretTextCredentials() {
        Map run = inDash(PLAIN + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token'],
                         [FAKE_REPORT: REPORT_JSON])
        assert run.result == REF
        Map env = readEnv(new File(run.rec, 'env'))
        // The CLI reads these on a side without a cluster: Basic user/password, and a bearer registry token.
        assert env.IMGPROMOTE_SRC_USERNAME == 'developer' && env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD
        assert env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        assert !env.containsKey('IMGPROMOTE_SRC_TOKEN') && !env.containsKey('IMGPROMOTE_DEST_USERNAME')
        List argv = readNulList(new File(run.rec, 'argv'))
        assert !argv.any { it.startsWith('--src-cluster') || it.startsWith('--dest-cluster') }
        SENTINELS.each { s -> assert !argv.any { it.contains(s) } }
    }

    @Test
    void aRegistrySideWithOnlyARegistryOverrideIsPlainToo() {
        StepHarness h = new StepHarness()
        h.run([source: 'dev/app:1.4', sourceRegistry: 'registry.dev.example.com', sourceCredentialsId: 'other-token',
               destination: 'quay.example.com/prod/app:1.4', destinationCredentialsId: 'dev-login'])
        Map e = h.shCalls[0].env
        assert e.IMGPROMOTE_SRC_TOKEN == SECRET_TEXT
        assert e.IMGPROMOTE_DEST_USERNAME == 'developer' && e.IMGPROMOTE_DEST_PASSWORD == SRC_PASSWORD
    }

    @Test
    void usernameTokenOnAPlainSideIsRejectedBeforeRunning() {
        StepHarness h = new StepHarness()
        String m = h.failure(PLAIN + [destinationCredentialsId: 'sa-basic-auth', destinationCredentialsKind: 'usernameToken'])
        assert m.contains("destinationCredentialsKind 'usernameToken' is for a cluster's API token, and destination names no cluster")
        assert m.contains('for a registry use usernamePassword')
        assert h.shCalls.isEmpty() && h.credentialCalls.isEmpty()
        // With a cluster it stays allowed.
        h.run(PLAIN + [destinationCluster: 'https://api.prod.example.com:6443', destination: 'prod/app:1.4',
                       destinationCredentialsId: 'sa-basic-auth', destinationCredentialsKind: 'usernameToken'])
        assert h.shCalls[0].env.IMGPROMOTE_DEST_TOKEN == TOKEN_IN_PASSWORD
    }

    @Test
    void aCredentialTheCliCannotApplyFailsWithTheCliMessage() {
        // The CLI refuses (exit 2, before any request) what cannot apply; the step passes its line on.
        String line = 'imgpromote: the source registry got a password but no user name: set IMGPROMOTE_SRC_USERNAME (or --src-username) as well'
        Map run = inDash(PLAIN, [FAKE_RC: '2', FAKE_STDERR: line])
        assert run.result instanceof hudson.AbortException
        assert run.result.message.endsWith('failed [usage, exit 2]: ' + line)
    }

    // ---- 2. a usage error keeps the line that says what is wrong -------------------------------

    @Test
    void usageErrorKeepsTheLineThatSaysWhatIsWrong() {
        // What the real CLI prints for an unknown option (ArgumentParser): the error, then usage lines.
        String stderr = "Error: Unknown option '--no-such-flag'\n" +
                        'Usage: imgpromote copy [<options>] <source> <destination>\n' +
                        "  See 'imgpromote copy --help' for more information."
        Map run = inDash(PLAIN + [extraArgs: ['--no-such-flag']], [FAKE_RC: '2', FAKE_STDERR: stderr])
        assert run.result instanceof hudson.AbortException
        assert run.result.message == 'imgpromote: promoting registry.dev.example.com/dev/app:1.4 to quay.example.com/prod/app:1.4 ' +
                                     "failed [usage, exit 2]: Error: Unknown option '--no-such-flag'"
        run = inDash(PLAIN + [extraArgs: ['--no-such-flag'], returnResult: true], [FAKE_RC: '2', FAKE_STDERR: stderr])
        assert run.result.message == "Error: Unknown option '--no-such-flag'"
        assert run.result.stderr.contains("  See 'imgpromote copy --help' for more information.")
    }

    @Test
    void anImgpromoteWithoutReportFileIsNamedAsTheCause() {
        String stderr = "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json'\n" +
                        "Usage: imgpromote copy [<options>] <source> <destination>\n  See 'imgpromote copy --help' for more information."
        Map run = inDash(PLAIN + [returnResult: true], [FAKE_RC: '2', FAKE_STDERR: stderr])
        assert run.result.exitClass == 'usage'
        assert run.result.message == "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json' " +
                                     '(the imgpromote on this agent predates --report-file, which this step needs: update the agent image or binary:)'
    }

    @Test
    void theReportsMessageWinsOverStderr() {
        Map report = failureReport(5, 'quay.example.com/dev/app:1.4: manifest unknown')
        Map run = inDash(PLAIN + [returnResult: true],
                         [FAKE_RC: '5', FAKE_REPORT: JsonOutput.toJson(report), FAKE_STDERR: 'imgpromote: something relayed later'])
        assert !run.result.ok && run.result.exitCode == 5 && run.result.exitClass == 'not-found'
        assert run.result.message == 'quay.example.com/dev/app:1.4: manifest unknown'
    }

    // ---- 3. bound secrets never leave withCredentials -------------------------------------------

    @Test
    void boundSecretsAreScrubbedFromTheErrorAndTheResultMap() {
        // A CLI (or something it relays) that prints the secrets it was given, in stderr and in its report.
        Map args = PLAIN + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token']
        Map run = inDash(args, [FAKE_RC: '3', FAKE_LEAK: '1'])
        assert run.result instanceof hudson.AbortException
        assert run.result.message.endsWith('failed [auth, exit 3]: imgpromote: leaked **** ****')
        assertNoSentinel(run.result.message, 'error()')
        run = inDash(args, [FAKE_RC: '3', FAKE_STDERR: "imgpromote: refused ${SRC_PASSWORD} and ${DEST_TOKEN}".toString(),
                            FAKE_REPORT: JsonOutput.toJson(failureReport(3, "login refused for ${SRC_PASSWORD}".toString()))])
        assert run.result instanceof hudson.AbortException
        assert run.result.message.contains('login refused for ****')
        assertNoSentinel(run.result.message, 'error()')
        run = inDash(args + [returnResult: true],
                     [FAKE_RC: '3', FAKE_STDERR: "imgpromote: refused ${SRC_PASSWORD} and ${DEST_TOKEN}".toString(),
                      FAKE_REPORT: JsonOutput.toJson(failureReport(3, "login refused for ${DEST_TOKEN}".toString()))])
        Map r = run.result
        assertNoSentinel(r, 'returnResult')
        assert r.stderr.contains('imgpromote: refused **** and ****')
        assert r.report.error.message == 'login refused for ****'
        assert run.h.env.isEmpty()
        // A success report carrying a secret is scrubbed as well.
        Map report = reportFor(REF)
        report.source.reference = "registry.dev.example.com/dev/app:${SECRET_TEXT}".toString()
        run = inDash(PLAIN + [sourceCredentialsId: 'other-token', returnResult: true], [FAKE_REPORT: JsonOutput.toJson(report)])
        assert run.result.ok
        assertNoSentinel(run.result, 'returnResult')
    }

    @Test
    void theLongerSecretIsScrubbedFirst() {
        Map r = new StepHarness().step.scrubSecrets([message: 'abc-long and abc'], ['abc', 'abc-long'])
        assert r.message == '**** and ****'
    }

    // ---- 4. relayed stderr cannot forge the outcome --------------------------------------------

    @Test
    void carriageReturnsAndFakeMarkersInStderrCannotForgeTheOutcome() {
        String forgedReport = JsonOutput.toJson(reportFor('evil.example.com/x/y@sha256:' + ('e' * 64))).bytes.encodeBase64().toString()
        String forged = 'exec plugin says hi\r@@imgpromote-status 0\r@@imgpromote-report ' + forgedReport +
                        '\r@@imgpromote-stdout evil.example.com/x/y@sha256:' + ('e' * 64) +
                        '\n@@imgpromote-status 0\n@@imgpromote-report ' + forgedReport + '\n'
        Map run = inDash(PLAIN + [returnResult: true], [FAKE_RC: '3', FAKE_STDERR: forged, FAKE_STDOUT: forged])
        Map r = run.result
        assert !r.ok && r.exitCode == 3 && r.exitClass == 'auth' && r.reference == null && r.report == null
        // And the other way round: a success stays the real success.
        run = inDash(PLAIN + [returnResult: true], [FAKE_REPORT: REPORT_JSON, FAKE_STDERR: forged.replace('status 0', 'status 7')])
        assert run.result.ok && run.result.reference == REF && run.result.exitCode == 0
    }

    @Test
    void onlyTheScriptsOwnLinesAreRead() {
        StepHarness h = new StepHarness()
        // Anything but the exact three line shapes is ignored, even when it looks like a marker.
        h.shHandler = { Map a, Map e ->
            protocol(4, [], ['denied']) + '@@imgpromote-status 0 \n@@imgpromote-status 0\r\n@@imgpromote-report {"destination":{}}\n'
        }
        Map r = h.run(PLAIN + [returnResult: true])
        assert !r.ok && r.exitCode == 4 && r.message == 'denied'
    }

    // ---- 5. --json in extraArgs -----------------------------------------------------------------

    @Test
    void jsonInExtraArgsDoesNotBreakASuccessfulPromotion() {
        Map run = inDash(PLAIN + [extraArgs: ['--json']], [FAKE_REPORT: REPORT_JSON, FAKE_STDOUT: REPORT_JSON + '\n'])
        assert run.result == REF
        assert readNulList(new File(run.rec, 'argv')).contains('--json')
    }

    @Test
    void reportFileInExtraArgsIsRejected() {
        StepHarness h = new StepHarness()
        String m = h.failure(PLAIN + [extraArgs: ['--report-file=/tmp/x']])
        assert m.contains('extraArgs must not contain --report-file')
        assert h.shCalls.isEmpty()
    }

    // ---- 6. the step's limits are the CLI's ------------------------------------------------------

    @Test
    void limitsEqualTheClis() {
        StepHarness h = new StepHarness()
        h.run(PLAIN + [jobs: 64, retries: 20])
        h.run(PLAIN + [jobs: 1, retries: 0])
        assert h.shCalls.size() == 2
        [[jobs: 65], [jobs: 100], [jobs: 0], [retries: 21], [retries: 9999]].each { bad ->
            String m = h.failure(PLAIN + bad)
            assert m.contains("${bad.keySet()[0]} must be a whole number from"): m
        }
        assert h.shCalls.size() == 2
    }

    @Test
    void limitsAreReadFromTheCliSources() {
        // The CLI's own checks, as written in its sources (run from jenkins/: the repository is ..).
        File copy = new File('../Sources/imgpromote/CopyCommand.swift')
        File global = new File('../Sources/imgpromote/GlobalOptions.swift')
        Assume.assumeTrue('CLI sources not beside the library', copy.isFile() && global.isFile())
        def jobs = copy.text =~ /\((\d+)\.\.\.(\d+)\)\.contains\(jobs\)/
        def retries = global.text =~ /\((\d+)\.\.\.(\d+)\)\.contains\(retries\)/
        assert jobs.find() && retries.find()
        Map ranges = new StepHarness().step.INTEGER_RANGES
        assert ranges.jobs == [jobs.group(1).toInteger(), jobs.group(2).toInteger()]
        assert ranges.retries == [retries.group(1).toInteger(), retries.group(2).toInteger()]
    }
}
