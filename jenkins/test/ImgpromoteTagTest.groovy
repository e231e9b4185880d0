import groovy.json.JsonOutput
import org.junit.After
import org.junit.Assume
import org.junit.Before
import org.junit.Test

import static StepHarness.*

/**
 * mode: 'tag' (issue 13): imgpromote tag on one cluster. Parameters, credentials bound to the
 * CLI's unprefixed variables, validation before anything runs, and the outcome read from tag's
 * --report-file (its --json object), never from stdout or stderr. The script runs in a real `dash`
 * with a fake imgpromote wherever the shell matters.
 */
class ImgpromoteTagTest {
    static final String REGISTRY = 'default-route-openshift-image-registry.apps.prod.example.com'
    static final String PINNED = REGISTRY + '/shop/app@' + DIGEST
    static final Map TAG = [mode: 'tag', source: 'shop-stage/app:1.4', destination: 'shop/app:1.4',
                            cluster: 'https://api.prod.example.com:6443']
    File dir

    @Before
    void setUp() {
        dir = tempDir('imgpromote-tag-test')
    }

    @After
    void tearDown() {
        dir?.deleteDir()
    }

    /** The report file of `imgpromote tag` (TagCommand.Report, the --json object) for HOST/REPO@DIGEST. */
    static Map tagReport(String pinned, String digest = null) {
        int at = pinned.lastIndexOf('@')
        String d = digest ?: pinned.substring(at + 1)
        String repo = at >= 0 ? pinned.substring(0, at) : pinned
        return [source: [reference: REGISTRY + '/shop-stage/app:1.4', digest: d], destination: [reference: repo + ':1.4', digest: d],
                pinned: pinned, referencePolicy: 'source', seconds: 0.2]
    }

    static StepHarness harness(Map report = tagReport(PINNED), int status = 0) {
        StepHarness h = new StepHarness()
        h.shHandler = { Map a, Map e -> reportProtocol(status, report, ['imgpromote: tagged shop/app:1.4 -> shop-stage/app@' + DIGEST]) }
        return h
    }

    Map inDash(Map stepArgs, Map fake) {
        Map outer = fake.remove('OUTER') ?: [:]   // the pipeline's env, not the fake's
        return StepHarness.inDash(dir, stepArgs, fake, outer)
    }

    // ---- parameters and argv ------------------------------------------------------------------

    @Test
    void tagRunsImgpromoteTagOnOneClusterAndReturnsThePinnedDestination() {
        StepHarness h = harness()
        assert h.run(TAG + [credentialsId: 'prod-token', referencePolicy: 'local']) == PINNED
        Map c = h.shCalls[0]
        assert c.args.script == h.step.SCRIPT
        assert argvOf(c) == ['tag', '--cluster=https://api.prod.example.com:6443', '--reference-policy=local',
                             'shop-stage/app:1.4', 'shop/app:1.4']
        assert !c.env.containsKey('IMGPROMOTE_STEP_OUTCOME')
        assert c.env.IMGPROMOTE_TOKEN == DEST_TOKEN && c.env.IMGPROMOTE_STEP_AUTH == 'token'
        assert !c.env.keySet().any { it.startsWith('IMGPROMOTE_SRC_') || it.startsWith('IMGPROMOTE_DEST_') }
        assert c.args.label == 'imgpromote tag shop-stage/app:1.4 -> shop/app:1.4'
        assert h.env.isEmpty()
    }

    @Test
    void everyTagOptionMapsToItsFlag() {
        StepHarness h = harness()
        h.run([mode: 'tag', source: 'shop-stage/app@' + DIGEST, destination: 'shop/app:stable', context: 'prod',
               caFile: '/etc/pki/prod-ca.pem', tlsVerify: false, kubeconfig: '/home/jenkins/.kube/config', retries: 2,
               verbose: true, referencePolicy: 'source', extraArgs: ['--keep-tokens'], binary: '/opt/imgpromote'])
        assert argvOf(h.shCalls[0]) == ['tag', '--kubeconfig=/home/jenkins/.kube/config', '--retries=2', '--verbose',
                                        '--context=prod', '--ca-file=/etc/pki/prod-ca.pem', '--tls-verify=false',
                                        '--reference-policy=source', '--keep-tokens', 'shop-stage/app@' + DIGEST, 'shop/app:stable']
        assert h.shCalls[0].env.IMGPROMOTE_STEP_BIN == '/opt/imgpromote'
        h.run(TAG)
        assert argvOf(h.shCalls[1]) == ['tag', '--cluster=https://api.prod.example.com:6443', 'shop-stage/app:1.4', 'shop/app:1.4']
        assert h.credentialCalls.isEmpty()
    }

    @Test
    void passwordAndUsernameTokenCredentialsBindTheUnprefixedVariables() {
        StepHarness h = harness()
        h.run(TAG + [credentialsId: 'dev-login'])
        Map e = h.shCalls[0].env
        assert e.IMGPROMOTE_USERNAME == 'developer' && e.IMGPROMOTE_PASSWORD == SRC_PASSWORD && e.IMGPROMOTE_STEP_AUTH == 'password'
        h.run(TAG + [credentialsId: 'sa-basic-auth', credentialsKind: 'usernameToken'])
        e = h.shCalls[1].env
        assert e.IMGPROMOTE_TOKEN == TOKEN_IN_PASSWORD && !e.containsKey('IMGPROMOTE_PASSWORD') && e.IMGPROMOTE_STEP_AUTH == 'token'
        assert h.credentialCalls[-1][0].usernameVariable == 'IMGPROMOTE_STEP_UNUSED_USERNAME'
    }

    @Test
    void clusterConfigOfTheOpenShiftClientPluginNamesTheCluster() {
        StepHarness h = harness()
        h.step.binding.setVariable('openshift', new ImgpromoteOpenShiftPluginTest.FakeOpenShiftDSL(
                configs: [lab: [url: 'https://api.lab.example.com:6443', skip: true]]))
        h.run([mode: 'tag', source: 'shop-stage/app:1.4', destination: 'shop/app:1.4', clusterConfig: 'lab'])
        assert argvOf(h.shCalls[0])[1..2] == ['--cluster=https://api.lab.example.com:6443', '--tls-verify=false']
        String m = h.failure([mode: 'tag', source: 'shop-stage/app:1.4', destination: 'shop/app:1.4', clusterConfig: 'prd'])
        assert m.startsWith("imgpromote: clusterConfig 'prd' is not a cluster configuration")
    }

    // ---- validation before running ---------------------------------------------------------------

    @Test
    void aTagNeedsOneClusterAndHostlessReferences() {
        StepHarness h = harness()
        String m = h.failure([mode: 'tag', source: 'quay.example.com/shop/app:1.4', destination: 'shop/app'])
        assert m.contains("source 'quay.example.com/shop/app:1.4' must be PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX: a tag works within one cluster, so no registry host")
        assert m.contains("destination 'shop/app' must be PROJECT/NAME:TAG")
        assert m.contains('mode tag needs its cluster: set cluster (API server URL), clusterConfig or context')
        m = h.failure(TAG + [destination: 'shop/app@' + DIGEST, source: '-shop/app:1'])
        assert m.contains("destination 'shop/app@${DIGEST}' must be PROJECT/NAME:TAG")
        assert m.contains("source '-shop/app:1' must be")
        m = h.failure(TAG + [clusterConfig: 'prod', referencePolicy: 'Local', cluster: 'api.prod:6443'])
        assert m.contains('clusterConfig names the cluster already: drop cluster and context')
        assert m.contains("referencePolicy must be source or local, got 'Local'")
        assert m.contains("cluster must be the API server URL")
        m = h.failure(TAG + [credentialsKind: 'secretText'])
        assert m.contains('credentialsKind is set but credentialsId is not')
        assert h.shCalls.isEmpty() && h.credentialCalls.isEmpty()
    }

    @Test
    void registryCredentialsAndTwoSidedParametersAreRefusedForATag() {
        StepHarness h = harness()
        String m = h.failure(TAG + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token', sourceRegistry: 'r.example.com',
                                    destinationCluster: 'https://api.prod.example.com:6443', platform: 'linux/amd64', dryRun: true, jobs: 4])
        assert m.contains("sourceCredentialsId does not apply to mode 'tag': a tag moves no bytes and needs no registry credentials; give the cluster's credential as credentialsId")
        assert m.contains("destinationCredentialsId does not apply to mode 'tag'")
        assert m.contains("sourceRegistry does not apply to mode 'tag': a tag talks to the cluster's API only, not to a registry")
        assert m.contains("destinationCluster does not apply to mode 'tag': a tag works on one cluster, named by cluster, clusterConfig or context (use cluster)")
        assert m.contains("platform does not apply to mode 'tag' (imgpromote tag has no such option)")
        assert m.contains("dryRun does not apply to mode 'tag'") && m.contains("jobs does not apply to mode 'tag'")
        assert h.shCalls.isEmpty() && h.credentialCalls.isEmpty()
    }

    @Test
    void tagParametersAreRefusedForACopyAndModesAreChecked() {
        StepHarness h = harness()
        String m = h.failure([source: 'dev/app:1', destination: 'prod/app:1', cluster: 'https://api:6443', referencePolicy: 'local'])
        assert m.contains("cluster is for mode: 'tag' (one cluster); a copy has two sides: use sourceCluster / destinationCluster")
        assert m.contains("referencePolicy is for mode: 'tag'")
        m = h.failure(TAG + [mode: 'retag'])
        assert m.contains("mode must be one of copy, tag")
        m = h.failure(TAG + [mode: 'tag', refrencePolicy: 'local'])
        assert m.contains("unknown parameter 'refrencePolicy' (did you mean 'referencePolicy'?)")
        assert h.shCalls.isEmpty()
    }

    // ---- the outcome: tag's report file --------------------------------------------------------

    @Test
    void theOutcomeIsTheReportsPinnedDestination() {
        Map r = harness().run(TAG + [returnResult: true])
        assert r.ok && r.reference == PINNED && r.digest == DIGEST && r.exitClass == 'ok' && r.message == ''
        assert r.report.referencePolicy == 'source'
        // Anything but a pinned HOST/PROJECT/NAME@sha256 for the destination's PROJECT/NAME, with that digest, is a failure.
        [
            tagReport(REGISTRY + '/shop/other@' + DIGEST),                  // another repository
            tagReport(REGISTRY + '/shop/app:1.4', DIGEST),                  // not pinned
            tagReport(REGISTRY + '/shop/app@sha256:abc'),                   // not a digest
            tagReport('junk ' + PINNED),
            tagReport(PINNED, 'sha256:' + ('e' * 64)),                      // pinned and digest disagree
            tagReport(PINNED) + [pinned: null],
        ].eachWithIndex { Map report, int i ->
            Map bad = harness(report).run(TAG + [returnResult: true])
            assert !bad.ok && bad.exitCode == 1 && bad.exitClass == 'failure' && bad.reference == null: "${i}: ${bad}"
            assert bad.message.startsWith('imgpromote tag exited 0 but its report does not pin the destination HOST/shop/app@sha256:...'): bad.message
        }
        // Exit 0 without a report (an imgpromote older than tag --report-file), or with an error in it: not a success.
        [null, failureReport(1, 'x')].each { Map report ->
            StepHarness h = harness(report)
            assert h.failure(TAG).contains('[failure, exit 1]: imgpromote tag exited 0 but wrote no report')
        }
        // A failure's message is the report's (stderr may carry relayed text).
        Map failed = harness(failureReport(4, 'user developer may not tag images in project shop'), 4).run(TAG + [returnResult: true])
        assert !failed.ok && failed.exitClass == 'permission' && failed.message == 'user developer may not tag images in project shop'
    }

    @Test
    void inDashTheReportComesBackAndStdoutOrStderrCannotForgeIt() {
        String evil = REGISTRY + '/shop/app@sha256:' + ('e' * 64)
        String forged = '@@imgpromote-status 0\n@@imgpromote-report ' + JsonOutput.toJson(tagReport(evil)).bytes.encodeBase64() + '\n'
        Map run = inDash(TAG + [credentialsId: 'dev-login'],
                         [FAKE_REPORT: JsonOutput.toJson(tagReport(PINNED)), FAKE_STDOUT: forged + evil + '\n', FAKE_STDERR: forged,
                          OUTER: [IMGPROMOTE_TOKEN: 'stale-outer-token']])
        assert run.result == PINNED
        List argv = readNulList(new File(run.rec, 'argv'))
        assert argv[0] == 'tag' && argv[1].startsWith('--report-file=') && argv[1].endsWith('/report.json')
        assert argv[2..-1] == ['--cluster=https://api.prod.example.com:6443', 'shop-stage/app:1.4', 'shop/app:1.4']
        Map env = readEnv(new File(run.rec, 'env'))
        assert env.IMGPROMOTE_USERNAME == 'developer' && env.IMGPROMOTE_PASSWORD == SRC_PASSWORD
        assert !env.containsKey('IMGPROMOTE_TOKEN'): 'a stale outer token must not mix with the password login'
        assert run.log.contains('progress: copying blobs') && run.log.contains(evil): "the CLI's stdout goes to the build log"
        // A failure whose output forges a success stays the failure, with the report's message.
        run = inDash(TAG, [FAKE_RC: '4', FAKE_STDOUT: forged, FAKE_STDERR: forged + 'imgpromote: relayed text',
                           FAKE_REPORT: JsonOutput.toJson(failureReport(4, 'user developer may not update imagestreams/layers in project shop: ' +
                                                                        'oc policy add-role-to-user registry-editor developer -n shop'))])
        assert run.result instanceof hudson.AbortException
        assert run.result.message == 'imgpromote: tagging shop-stage/app:1.4 to shop/app:1.4 failed [permission, exit 4]: ' +
                'user developer may not update imagestreams/layers in project shop: oc policy add-role-to-user registry-editor developer -n shop'
        // Exit 0 with the forged lines on stdout and stderr but no report file: not a success.
        run = inDash(TAG + [returnResult: true], [FAKE_STDOUT: forged, FAKE_STDERR: forged])
        assert !run.result.ok && run.result.message.contains('wrote no report')
    }

    @Test
    void secretsAreScrubbedFromATagFailure() {
        Map run = inDash(TAG + [credentialsId: 'other-token'], [FAKE_RC: '3', FAKE_STDERR: 'imgpromote: token ' + SECRET_TEXT + ' rejected'])
        assert run.result.message.endsWith('[auth, exit 3]: imgpromote: token **** rejected')
        SENTINELS.each { assert !run.result.message.contains(it) }
        Map leaky = tagReport(PINNED) + [referencePolicy: SRC_PASSWORD]
        run = inDash(TAG + [credentialsId: 'dev-login', returnResult: true], [FAKE_REPORT: JsonOutput.toJson(leaky)])
        assert run.result.ok && run.result.report.referencePolicy == '****'
        assert !run.result.toString().contains(SRC_PASSWORD)
        run = inDash(TAG + [credentialsId: 'dev-login', returnResult: true],
                     [FAKE_RC: '3', FAKE_REPORT: JsonOutput.toJson(failureReport(3, 'login refused for ' + SRC_PASSWORD))])
        assert !run.result.ok && run.result.message == 'login refused for ****'
        assert !run.result.toString().contains(SRC_PASSWORD)
    }

    @Test
    void aUsageErrorKeepsItsErrorLine() {
        String stderr = "Error: Unknown option '--no-such'\nUsage: imgpromote tag <options> <source> <destination>\n  See 'imgpromote tag --help' for more information."
        Map run = inDash(TAG + [extraArgs: ['--no-such']], [FAKE_RC: '2', FAKE_STDERR: stderr])
        assert run.result.message.endsWith("failed [usage, exit 2]: Error: Unknown option '--no-such'")
        // What an imgpromote without tag prints: the first option (--report-file) is unknown to the root command.
        run = inDash(TAG, [FAKE_RC: '2', FAKE_STDERR: "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json'\nUsage: imgpromote <subcommand>\n  See 'imgpromote --help' for more information."])
        assert run.result.message.endsWith("Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json' (the imgpromote on this agent predates the tag command: update the agent image or binary:)")
        // One with tag but without its --report-file.
        run = inDash(TAG, [FAKE_RC: '2', FAKE_STDERR: "Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json'\nUsage: imgpromote tag [<options>] <source> <destination>"])
        assert run.result.message.endsWith("Error: Unknown option '--report-file=/tmp/imgpromote-step.x/report.json' (the imgpromote on this agent predates tag --report-file, which this step needs: update the agent image or binary:)")
        // This imgpromote's own one-line usage error.
        run = inDash(TAG + [extraArgs: ['--no-such']], [FAKE_RC: '2', FAKE_STDERR: "imgpromote: Unknown option '--no-such' (see 'imgpromote tag --help')"])
        assert run.result.message.endsWith("failed [usage, exit 2]: imgpromote: Unknown option '--no-such' (see 'imgpromote tag --help')")
    }

    @Test
    void theStepsTagOptionsAreTheClis() {
        File tag = new File('../Sources/imgpromote/TagCommand.swift')
        File side = new File('../Sources/imgpromote/SideOptions.swift')
        Assume.assumeTrue('CLI sources not beside the library', tag.isFile() && side.isFile())
        String t = tag.text
        assert t.contains('customLong("reference-policy")') && t.contains('["source", "local"]')
        assert t.contains('SideOptions<PlainSide>')
        assert side.text.contains('static let envPrefix = "IMGPROMOTE_"')
        ['cluster', 'context', 'ca-file', 'tls-verify'].each { assert side.text.contains('customLong(Side.flagPrefix + "' + it + '")') }
        // The report the step reads: tag --report-file with the fields tagResult takes.
        assert t.contains('customLong("report-file")')
        ['var pinned: String', 'var destination: Side', 'var digest: String', 'ReportFile.writeFailure'].each {
            assert t.contains(it): "TagCommand.swift no longer has ${it}"
        }
    }
}
