import groovy.json.JsonOutput
import org.junit.After
import org.junit.Assume
import org.junit.Before
import org.junit.Test

import static StepHarness.*

/**
 * Releases (issue 11): modes promote (file), plan (file -> lock) and apply (lock). Argv, both sides'
 * credentials, validation before running, the per-image results read from the CLI's report file
 * (--report-file: the --json object, also when some images failed; {"error":...} when the CLI stopped
 * before the images), the JUnit file and its publication, and failures. The script runs in a real `dash` with a fake imgpromote wherever the shell matters.
 */
class ImgpromoteReleaseTest {
    static final String HOST = 'default-route-openshift-image-registry.apps.prod.example.com'
    static final String D2 = 'sha256:' + ('fedcba9876543210' * 4)
    static final Map SIDES = [sourceCluster: 'https://api.dev.example.com:6443', sourceCredentialsId: 'dev-login',
                              destinationCluster: 'https://api.prod.example.com:6443', destinationCredentialsId: 'prod-token']
    File dir

    @Before
    void setUp() {
        dir = tempDir('imgpromote-release-test')
    }

    @After
    void tearDown() {
        dir?.deleteDir()
    }

    /** One image of the CLI's --json (ReleaseOutput.swift, ReleaseJSON.Image), as it prints it. */
    static Map image(String name, String status, String digest, Map error = null) {
        String repo = 'prod/' + name.substring(name.indexOf('/') + 1, name.indexOf(':'))
        Map m = [name: name, status: status, tags: [name.substring(name.indexOf(':') + 1)], alreadyPresent: status == 'present',
                 seconds: 0.7]
        if (status != 'failed' && status != 'cancelled') {
            m.pinned = "${HOST}/${repo}@${digest}".toString()
            m.source = [reference: "registry.dev.example.com/${name}".toString(), digest: digest]
            m.destination = [reference: "${HOST}/${repo}:1.4".toString(), digest: digest]
            m.blobs = [copied: 2, mounted: 1, skipped: 0]
            m.bytes = [copied: 2048, total: 4096]
        }
        if (error) {
            m.error = error
        }
        return m
    }

    static final List GOOD = [image('dev/api:1.4', 'promoted', DIGEST), image('dev/web:1.4', 'present', D2)]
    static final Map NOT_FOUND = [exitCode: 5, class: 'notFound', message: 'registry.dev.example.com/dev/tools:1.4.2 not found']

    static String json(List images) {
        return JsonOutput.toJson([images: images]) + '\n'
    }

    /** What the script prints for a release run: status, the CLI's report file (text), its stderr tail. */
    static String releaseProtocol(int status, String report, List<String> stderr) {
        List lines = ["@@imgpromote-status ${status}"]
        if (report != null) {
            lines << ('@@imgpromote-report ' + report.getBytes('UTF-8').encodeBase64().toString())
        }
        lines << ('@@imgpromote-stderr ' + (stderr ? stderr.join('\n') + '\n' : '').getBytes('UTF-8').encodeBase64().toString())
        return lines.join('\n') + '\n'
    }

    static StepHarness harness(int status = 0, String report = json(GOOD), List<String> stderr = ['imgpromote: release: 1 promoted, 1 already present']) {
        StepHarness h = new StepHarness()
        h.shHandler = { Map a, Map e -> releaseProtocol(status, report, stderr) }
        return h
    }

    Map inDash(Map stepArgs, Map fake) {
        return StepHarness.inDash(dir, stepArgs, fake)
    }

    // ---- argv, credentials, results ----------------------------------------------------------------

    @Test
    void fileRunsPromoteAndReturnsOneMapPerImage() {
        StepHarness h = harness()
        List images = h.run(SIDES + [file: 'release.yaml'])
        Map c = h.shCalls[0]
        assert c.args.script == h.step.SCRIPT && c.args.label == 'imgpromote promote release.yaml'
        assert argvOf(c) == ['promote', '--src-cluster=https://api.dev.example.com:6443', '--dest-cluster=https://api.prod.example.com:6443',
                             '--file=release.yaml']
        assert !c.env.containsKey('IMGPROMOTE_STEP_OUTCOME')
        assert c.env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD && c.env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        assert images*.name == ['dev/api:1.4', 'dev/web:1.4']
        assert images*.status == ['promoted', 'present'] && images.every { it.ok && it.exitCode == 0 && it.exitClass == 'ok' && it.message == '' }
        assert images[0].reference == "${HOST}/prod/api@${DIGEST}".toString() && images[0].digest == DIGEST
        assert images[1].reference == "${HOST}/prod/web@${D2}".toString()
        assert images[0].source == 'registry.dev.example.com/dev/api:1.4' && images[0].sourceDigest == DIGEST
        assert images[0].tags == ['1.4'] && images[0].blobs == [copied: 2, mounted: 1, skipped: 0] && images[0].seconds == 0.7
        assert images[0].report.name == 'dev/api:1.4'
        assert h.junitCalls.isEmpty() && h.env.isEmpty()
    }

    @Test
    void planWritesTheLockAndApplyTakesItLast() {
        StepHarness h = harness(0, json([image('dev/api:1.4', 'planned', DIGEST)]))
        List planned = h.run(SIDES + [mode: 'plan', file: 'release.yaml', lock: 'out/release.lock.json'])
        assert argvOf(h.shCalls[0])[-2..-1] == ['--file=release.yaml', '--output=out/release.lock.json']
        assert argvOf(h.shCalls[0])[0] == 'plan' && h.shCalls[0].args.label == 'imgpromote plan release.yaml -> out/release.lock.json'
        assert planned*.status == ['planned'] && planned[0].ok
        Map r = h.run(SIDES + [mode: 'plan', file: 'release.yaml', lock: 'out/release.lock.json', returnResult: true])
        assert r.ok && r.lock == 'out/release.lock.json' && r.images.size() == 1 && r.report.images.size() == 1
        h.run([lock: 'release.lock.json', shard: '2/4', failFast: true, junit: 'reports/imgpromote.xml', jobs: 8, retries: 3, dryRun: true,
               quiet: true, kubeconfig: '/k', sourceContext: 'dev', destinationRegistry: 'quay.example.com', destinationCaFile: '/ca.pem',
               destinationTlsVerify: false, extraArgs: ['--images-at-once=8', '--requests-per-second=50']])
        assert argvOf(h.shCalls[2]) == ['apply', '--kubeconfig=/k', '--jobs=8', '--retries=3', '--dry-run', '--quiet',
                                        '--src-context=dev', '--dest-registry=quay.example.com', '--dest-ca-file=/ca.pem', '--dest-tls-verify=false',
                                        '--shard=2/4', '--fail-fast', '--junit=reports/imgpromote.xml',
                                        '--images-at-once=8', '--requests-per-second=50', 'release.lock.json']
        assert h.shCalls[2].args.label == 'imgpromote apply release.lock.json (shard 2/4)'
        // The two runs with SIDES bind both sides (after probing the kinds); the apply binds nothing.
        assert h.credentialCalls.findAll { !it[0].usernameVariable?.contains('PROBE') && !it[0].variable?.contains('PROBE') }.size() == 2
    }

    @Test
    void junitIsPublishedWhenAskedAndOnlyOnceTheCliRan() {
        StepHarness h = harness()
        h.run(SIDES + [lock: 'release.lock.json', junit: 'imgpromote.xml', publishJunit: true])
        assert h.junitCalls*.args == [[testResults: 'imgpromote.xml']]
        assert !h.junitCalls[0].env.keySet().any { it.startsWith('IMGPROMOTE_') }: 'published outside withCredentials'
        h.run(SIDES + [lock: 'release.lock.json', junit: 'imgpromote.xml'])
        assert h.junitCalls.size() == 1
        // A failed image: published, then the build fails.
        h = harness(5, json(GOOD + [image('dev/tools:1.4.2', 'failed', null, NOT_FOUND)]))
        String m = h.failure(SIDES + [lock: 'release.lock.json', junit: 'imgpromote.xml', publishJunit: true])
        assert h.junitCalls.size() == 1
        assert m == 'imgpromote: apply release.lock.json failed [not-found, exit 5]: 1 of 3 image(s) failed; first: dev/tools:1.4.2: ' +
                    'registry.dev.example.com/dev/tools:1.4.2 not found'
        // A usage error: the CLI wrote no report and no JUnit file, nothing is published.
        h = harness(2, null, ["imgpromote: Unknown option '--frobnicate' (see 'imgpromote apply --help')"])
        m = h.failure(SIDES + [lock: 'release.lock.json', junit: 'imgpromote.xml', publishJunit: true, extraArgs: ['--frobnicate']])
        assert m.endsWith("failed [usage, exit 2]: imgpromote: Unknown option '--frobnicate' (see 'imgpromote apply --help')")
        assert h.junitCalls.isEmpty()
        // Stopped before the images (a lock it cannot read): the report's error, nothing published.
        h = harness(2, JsonOutput.toJson(failureReport(2, 'cannot read the lock release.lock.json: No such file or directory')),
                    ['imgpromote: cannot read the lock release.lock.json: No such file or directory'])
        m = h.failure(SIDES + [lock: 'release.lock.json', junit: 'imgpromote.xml', publishJunit: true])
        assert m == 'imgpromote: apply release.lock.json failed [usage, exit 2]: cannot read the lock release.lock.json: No such file or directory'
        assert h.junitCalls.isEmpty()
    }

    @Test
    void failedAndCancelledImagesAreReportedOneByOne() {
        List images = GOOD + [image('dev/tools:1.4.2', 'failed', null, NOT_FOUND),
                              image('dev/db:1.4', 'cancelled', null, [exitCode: 1, class: 'other', message: 'cancelled by --fail-fast'])]
        Map r = harness(5, json(images)).run(SIDES + [file: 'release.yaml', failFast: true, returnResult: true])
        assert !r.ok && r.exitCode == 5 && r.exitClass == 'not-found'
        assert r.message == '2 of 4 image(s) failed; first: dev/tools:1.4.2: registry.dev.example.com/dev/tools:1.4.2 not found'
        assert r.images*.ok == [true, true, false, false]
        assert r.images[2].exitCode == 5 && r.images[2].exitClass == 'not-found' && r.images[2].reference == null
        assert r.images[3].status == 'cancelled' && r.images[3].message == 'cancelled by --fail-fast'
        assert r.lock == null && r.junit == null
    }

    @Test
    void anOutcomeWithoutAWholeJsonReportIsAFailure() {
        Map r = harness(0, null, []).run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.exitCode == 1 && r.message == 'imgpromote promote exited 0 but its report file is not the per-image report (got no report)'
        r = harness(0, HOST + '/prod/api@' + DIGEST + '\n').run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.message == 'imgpromote promote exited 0 but its report file is not the per-image report (got no report)'
        r = harness(0, JsonOutput.toJson(failureReport(1, 'odd'))).run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.message == 'imgpromote promote exited 0 but its report file is not the per-image report (got \'{"error":{"exitCode":1,"message":"odd"}}\')'
        r = harness(0, json(GOOD) + 'trailing text\n').run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.images == null
        r = harness(0, '{"images":{"a":1}}').run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.images == null
        ['{"images":[]} {"images":[]}', '{"images":[]}}', '{"images":["x"]}', '[{"images":[]}]', '{"images":[{"name":"a\\"}"}]} x'].each { out ->
            Map bad = harness(0, out).run(SIDES + [file: 'release.yaml', returnResult: true])
            assert !bad.ok && bad.images == null: out
        }
        // Braces and escaped quotes inside strings do not end the object early.
        Map tricky = image('dev/api:1.4', 'promoted', DIGEST)
        tricky.tags = ['}{"', '\\', ']']
        assert harness(0, json([tricky])).run(SIDES + [file: 'release.yaml'])[0].tags == ['}{"', '\\', ']']
        // Exit 0 yet an image failed: not a success.
        r = harness(0, json(GOOD + [image('dev/tools:1.4.2', 'failed', null, NOT_FOUND)])).run(SIDES + [file: 'release.yaml', returnResult: true])
        assert !r.ok && r.exitCode == 1 && r.message == 'imgpromote promote exited 0 but 1 image(s) are not done: dev/tools:1.4.2 (failed)'
        // An empty release is a success with no images.
        assert harness(0, '{"images":[]}\n').run(SIDES + [file: 'release.yaml']) == []
        // No status line at all.
        StepHarness h = harness()
        h.shHandler = { Map a, Map e -> '' }
        assert h.failure(SIDES + [file: 'release.yaml']).contains('[failure, exit 1]: the step script reported no exit status')
    }

    // ---- validation before running ---------------------------------------------------------------

    @Test
    void modesFilesLocksAndShardsAreCheckedBeforeRunning() {
        StepHarness h = harness()
        assert h.failure(SIDES + [file: 'release.yaml', lock: 'release.lock.json']).contains(
                "file and lock together: set mode: 'plan' to resolve the file and write the lock there")
        String m = h.failure(SIDES + [mode: 'plan', file: '-rf'])
        assert m.contains("file '-rf' must not start with '-' (write ./-rf)")
        assert m.contains('mode plan needs lock: where plan writes the lock, e.g. release.lock.json')
        assert h.failure(SIDES + [mode: 'apply']).contains('mode apply needs lock: a lock written by mode plan')
        assert h.failure(SIDES + [mode: 'promote']).contains('mode promote needs file: a promotion file or oc image mirror mapping file')
        assert h.failure(SIDES + [mode: 'plan', file: 'r.yaml', lock: 'r.yaml']).contains('lock must not be the promotion file itself')
        ['0/3', '4/3', '1/0', 'a/b', '1-3', '1/3/5', ' 1/3', '12345/99999'].each { bad ->
            assert h.failure(SIDES + [lock: 'l.json', shard: bad]).contains("shard must be 'I/N' with 1 <= I <= N (e.g. '2/4', as --shard), got '${bad}'")
        }
        assert h.failure(SIDES + [lock: 'l.json', shard: 3]).contains('shard must be a string, got Integer')
        assert h.failure(SIDES + [lock: 'l.json', publishJunit: true]).contains('publishJunit needs junit')
        assert h.failure(SIDES + [lock: 'l.json', junit: 'reports/*.xml', publishJunit: true]).contains("must be one file name, not a pattern")
        assert h.failure(SIDES + [lock: 'l.json', junit: '--help']).contains("junit '--help' must not start with '-'")
        ['--junit=x.xml', '--shard=1/2', '-o', '--output=x', '--fail-fast', '-f', '--report-file=x'].each { flag ->
            assert h.failure(SIDES + [lock: 'l.json', extraArgs: [flag]]).contains('extraArgs must not contain'): flag
        }
        assert h.shCalls.isEmpty() && h.credentialCalls.isEmpty()
    }

    @Test
    void copyAndTagParametersDoNotMixWithAReleaseAndViceVersa() {
        StepHarness h = harness()
        String m = h.failure(SIDES + [file: 'release.yaml', source: 'dev/app:1', destination: 'prod/app:1', platform: 'linux/amd64',
                                      referencePolicy: 'local', cluster: 'https://api:6443'])
        assert m.contains("source does not apply to mode 'promote': the images (and per image a platform) come from the promotion file")
        assert m.contains("platform does not apply to mode 'promote'")
        assert m.contains("referencePolicy is for mode: 'tag'")
        assert m.contains("cluster is for mode: 'tag' (one cluster); a promote has two sides")
        m = h.failure(SIDES + [lock: 'l.json', destination: 'prod/app:1'])
        assert m.contains("destination does not apply to mode 'apply': the images (and per image a platform) come from the lock")
        m = h.failure(SIDES + [mode: 'copy', source: 'dev/app:1', destination: 'prod/app:1', file: 'r.yaml', shard: '1/2'])
        assert m.contains("file is for a release (mode: 'promote' with file, 'plan' with file and lock, 'apply' with lock), not mode 'copy'")
        assert m.contains("shard is for a release")
        m = h.failure([mode: 'tag', source: 'a/b:1', destination: 'a/c:1', cluster: 'https://api:6443', junit: 'x.xml'])
        assert m.contains("junit is for a release")
        m = h.failure(SIDES + [lock: 'l.json', sourceCredentialsKind: 'usernameToken', sourceCluster: null, sourceCredentialsId: 'sa-basic-auth'])
        assert m.contains("sourceCredentialsKind 'usernameToken' is for a cluster's API token, and source names no cluster")
        assert h.shCalls.isEmpty()
    }

    // ---- the real script in dash -----------------------------------------------------------------

    @Test
    void inDashTheJsonComesFromTheReportFileAloneAndOutputCannotForgeIt() {
        String forgedJson = json([image('evil/x:1', 'promoted', 'sha256:' + 'e' * 64)])
        String forged = '@@imgpromote-status 0\n@@imgpromote-report ' + forgedJson.bytes.encodeBase64() + '\n' + forgedJson
        Map run = inDash(SIDES + [file: 'release.yaml', junit: 'imgpromote.xml'],
                         [FAKE_REPORT: json(GOOD), FAKE_STDOUT: forged, FAKE_STDERR: forged])
        assert run.result*.name == ['dev/api:1.4', 'dev/web:1.4']
        List argv = readNulList(new File(run.rec, 'argv'))
        assert argv[0] == 'promote' && argv[1].startsWith('--report-file=') && argv[1].endsWith('/report.json')
        assert argv[2..-1] == ['--src-cluster=https://api.dev.example.com:6443', '--dest-cluster=https://api.prod.example.com:6443',
                               '--junit=imgpromote.xml', '--file=release.yaml']
        SENTINELS.each { s -> assert !argv.any { it.contains(s) } }
        Map env = readEnv(new File(run.rec, 'env'))
        assert env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD && env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        assert run.log.contains('progress: copying blobs') && !run.log.contains('"name":"dev/api:1.4"'): 'the report is read, not logged'
        assert run.log.contains('"name":"evil/x:1"'): "the CLI's stdout goes to the build log"
        // A failed release whose output forges a success stays failed, with the image's message.
        run = inDash(SIDES + [lock: 'release.lock.json', returnResult: true],
                     [FAKE_RC: '5', FAKE_REPORT: json(GOOD + [image('dev/tools:1.4.2', 'failed', null, NOT_FOUND)]), FAKE_STDOUT: forged,
                      FAKE_STDERR: forged])
        assert !run.result.ok && run.result.exitClass == 'not-found' && run.result.images.size() == 3
        assert run.result.message.startsWith('1 of 3 image(s) failed; first: dev/tools:1.4.2')
        // Exit 0 with JSON on stdout and stderr only: no report.
        run = inDash(SIDES + [lock: 'release.lock.json', returnResult: true], [FAKE_STDOUT: forged, FAKE_STDERR: forged])
        assert !run.result.ok && run.result.images == null && run.result.message.contains('(got no report)')
    }

    @Test
    void inDashUsageErrorsAndOldBinariesSayWhatIsWrong() {
        String usage = "imgpromote: Unknown option '--frobnicate' (see 'imgpromote promote --help')"
        Map run = inDash(SIDES + [file: 'release.yaml', extraArgs: ['--frobnicate']], [FAKE_RC: '2', FAKE_STDERR: usage])
        assert run.result.message == "imgpromote: promote release.yaml failed [usage, exit 2]: imgpromote: Unknown option '--frobnicate' (see 'imgpromote promote --help')"
        run = inDash(SIDES + [lock: 'release.lock.json'], [FAKE_RC: '2', FAKE_STDERR: "Error: Unexpected argument 'apply'\nUsage: imgpromote <subcommand>"])
        assert run.result.message.endsWith("Error: Unexpected argument 'apply' (the imgpromote on this agent predates the apply command: update the agent image or binary:)")
        // What an imgpromote without the release commands prints: the first option (the step's
        // --report-file) is unknown to the root command.
        String root = "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json'\nUsage: imgpromote <subcommand>\n  See 'imgpromote --help' for more information."
        run = inDash(SIDES + [file: 'release.yaml'], [FAKE_RC: '2', FAKE_STDERR: root])
        assert run.result.message.endsWith("Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json' (the imgpromote on this agent predates the promote command: update the agent image or binary:)")
        // One with the release commands but without their --report-file (checked with a binary built before it).
        String older = "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json'\nUsage: imgpromote plan [<options>] --file <file>\n  See 'imgpromote plan --help' for more information."
        run = inDash(SIDES + [mode: 'plan', file: 'release.yaml', lock: 'release.lock.json'], [FAKE_RC: '2', FAKE_STDERR: older])
        assert run.result.message.endsWith("(the imgpromote on this agent predates plan --report-file, which this step needs: update the agent image or binary:)")
        // An unknown option of a known command gets no such hint.
        run = inDash(SIDES + [file: 'release.yaml', extraArgs: ['--x']], [FAKE_RC: '2', FAKE_STDERR: "Error: Unknown option '--x'\nUsage: imgpromote promote [<options>] --file <file>"])
        assert run.result.message.endsWith("Error: Unknown option '--x'")
    }

    @Test
    void inDashSecretsAreScrubbedFromTheImagesAndTheError() {
        Map leak = [exitCode: 3, class: 'auth', message: 'login refused for ' + SRC_PASSWORD]
        Map run = inDash(SIDES + [file: 'release.yaml'],
                         [FAKE_RC: '3', FAKE_REPORT: json([image('dev/api:1.4', 'failed', null, leak)]), FAKE_LEAK: '1'])
        assert run.result.message == 'imgpromote: promote release.yaml failed [auth, exit 3]: 1 of 1 image(s) failed; first: dev/api:1.4: login refused for ****'
        run = inDash(SIDES + [file: 'release.yaml', returnResult: true],
                     [FAKE_RC: '3', FAKE_REPORT: json([image('dev/api:1.4', 'failed', null, leak)]), FAKE_LEAK: '1'])
        String all = run.result.toString()
        SENTINELS.each { assert !all.contains(it) }
        assert run.result.images[0].report.error.message == 'login refused for ****'
        assert run.result.stderr.contains('imgpromote: leaked **** ****')
        // A successful list carrying a secret is scrubbed too.
        Map ok = image('dev/api:1.4', 'promoted', DIGEST)
        ok.tags = [DEST_TOKEN]
        run = inDash(SIDES + [file: 'release.yaml'], [FAKE_REPORT: json([ok])])
        assert run.result[0].tags == ['****'] && !run.result.toString().contains(DEST_TOKEN)
    }

    // ---- the CLI's own interface ------------------------------------------------------------------

    /** A CLI source beside the library (run from jenkins/: the repository is ..), or null. */
    static String cliSource(String name) {
        File f = new File('../Sources/imgpromote/' + name)
        return f.isFile() ? f.text : null
    }

    @Test
    void theFlagsTheStepPassesAreTheReleaseCommands() {
        String c = cliSource('ReleaseCommands.swift')
        String o = cliSource('ReleaseOutput.swift')
        Assume.assumeTrue('CLI sources not beside the library', c != null && o != null)
        ['"plan"', '"apply"', '"promote"', 'customLong("shard")', 'customLong("fail-fast")', 'customLong("junit")', 'customLong("dry-run")',
         'var json = false', 'var file: String', 'var output: String?', 'var lock: String'].each {
            assert c.contains(it): "ReleaseCommands.swift no longer has ${it}"
        }
        assert c.contains('(1...64).contains(jobs)')
        // The fields imageResult reads.
        ['var name: String', 'var status: String', 'var pinned: String?', 'var tags: [String]', 'var error: Failure?',
         'var exitCode: Int32', 'var message: String', 'var images: [Image]'].each { assert o.contains(it): "ReleaseJSON lost ${it}" }
        assert c.contains('customLong("report-file")'): 'the step reads the release commands\' --report-file'
    }
}
