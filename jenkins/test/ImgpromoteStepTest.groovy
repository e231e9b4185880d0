import org.junit.Before
import org.junit.Test

import static StepHarness.*

/** The step with stubbed Jenkins steps: parameters, credentials, argv, results and failures. */
class ImgpromoteStepTest {
    StepHarness h

    static final Map BASE = [
        source: 'dev/app:1.4', destination: 'prod/app:1.4',
        sourceCluster: 'https://api.dev.example.com:6443', destinationCluster: 'https://api.prod.example.com:6443',
    ]

    @Before
    void setUp() {
        h = new StepHarness()
    }

    private Map only(List list) {
        assert list.size() == 1: "expected exactly one call, got ${list.size()}: ${list}"
        return list[0]
    }

    @Test
    void returnsTheDigestPinnedReference() {
        assert h.run(BASE) == REF
    }

    @Test
    void runsOneConstantScriptWithReturnStdoutAndALabel() {
        h.run(BASE + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token'])
        h.run(BASE + [source: 'dev/other:2', platform: 'linux/arm64', sourceContext: 'ctx $(touch HOSTILE-ctx)'])
        assert h.shCalls.size() == 2
        h.shCalls.each { c ->
            assert c.args.script == h.step.SCRIPT
            assert c.args.returnStdout == true
            assert !c.args.containsKey('returnStatus')
            assert c.args.label.startsWith('imgpromote ')
        }
        String script = h.step.SCRIPT
        assert script.startsWith('#!/bin/sh\n')
        // Nothing the caller passed, and no secret, is ever part of the script text.
        (SENTINELS + ['dev/app', 'prod/app', 'api.dev.example.com', 'linux/arm64', 'HOSTILE-ctx']).each {
            assert !script.contains(it): "script text contains ${it}"
        }
    }

    @Test
    void passwordCredentialIsBoundForAPasswordLogin() {
        h.run(BASE + [sourceCredentialsId: 'dev-login', sourceCredentialsKind: 'usernamePassword'])
        List bindings = h.credentialCalls[-1]
        assert bindings == [[kind: 'usernamePassword', credentialsId: 'dev-login',
                             usernameVariable: 'IMGPROMOTE_SRC_USERNAME', passwordVariable: 'IMGPROMOTE_SRC_PASSWORD']]
        Map e = only(h.shCalls).env
        assert e.IMGPROMOTE_SRC_USERNAME == 'developer'
        assert e.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD
        assert e.IMGPROMOTE_STEP_SRC_AUTH == 'password'
        assert !e.containsKey('IMGPROMOTE_SRC_TOKEN')
        assert !e.keySet().any { it.startsWith('IMGPROMOTE_DEST_') || it == 'IMGPROMOTE_STEP_DEST_AUTH' }
        assert h.env.isEmpty(): 'secrets must not outlive withCredentials'
    }

    @Test
    void secretTextCredentialIsBoundAsAToken() {
        h.run(BASE + [destinationCredentialsId: 'prod-token', destinationCredentialsKind: 'secretText'])
        assert h.credentialCalls[-1] == [[kind: 'string', credentialsId: 'prod-token', variable: 'IMGPROMOTE_DEST_TOKEN']]
        Map e = only(h.shCalls).env
        assert e.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        assert e.IMGPROMOTE_STEP_DEST_AUTH == 'token'
        assert !e.containsKey('IMGPROMOTE_DEST_PASSWORD')
    }

    @Test
    void autoDetectsBothCredentialKinds() {
        h.run(BASE + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token'])
        List bindings = h.credentialCalls[-1]
        assert bindings*.kind == ['usernamePassword', 'string']
        assert bindings[0].passwordVariable == 'IMGPROMOTE_SRC_PASSWORD'
        assert bindings[1].variable == 'IMGPROMOTE_DEST_TOKEN'
        Map e = only(h.shCalls).env
        assert e.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD && e.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        assert e.IMGPROMOTE_STEP_SRC_AUTH == 'password' && e.IMGPROMOTE_STEP_DEST_AUTH == 'token'
    }

    @Test
    void autoDetectionProbesDoNotRunTheScript() {
        h.run(BASE + [sourceCredentialsId: 'other-token'])
        // probe as usernamePassword (fails), probe as string (works), then the real binding
        assert h.credentialCalls.size() == 2
        assert only(h.shCalls).env.IMGPROMOTE_SRC_TOKEN == SECRET_TEXT
    }

    @Test
    void usernameTokenKindPassesThePasswordFieldAsAToken() {
        h.run(BASE + [sourceCredentialsId: 'sa-basic-auth', sourceCredentialsKind: 'usernameToken'])
        Map e = only(h.shCalls).env
        assert e.IMGPROMOTE_SRC_TOKEN == TOKEN_IN_PASSWORD
        assert !e.containsKey('IMGPROMOTE_SRC_PASSWORD') && !e.containsKey('IMGPROMOTE_SRC_USERNAME')
        assert e.IMGPROMOTE_STEP_SRC_AUTH == 'token'
    }

    @Test
    void unusableCredentialsFailWithBothReasons() {
        String m = h.failure(BASE + [sourceCredentialsId: 'a-file'])
        assert m.contains("sourceCredentialsId 'a-file'")
        assert m.contains("is of type 'Secret file' where 'Username with password' was expected")
        assert m.contains("where 'Secret text' was expected")
        m = h.failure(BASE + [destinationCredentialsId: 'nope'])
        assert m.contains("destinationCredentialsId 'nope'") && m.contains("Could not find credentials entry with ID 'nope'")
        assert h.shCalls.isEmpty()
    }

    @Test
    void explicitKindMismatchFailsBeforeRunning() {
        try {
            h.run(BASE + [sourceCredentialsId: 'prod-token', sourceCredentialsKind: 'usernamePassword'])
            assert false: 'expected failure'
        } catch (hudson.AbortException e) {
            assert e.message.contains("is of type 'Secret text' where 'Username with password' was expected")
        }
        assert h.shCalls.isEmpty()
    }

    @Test
    void missingSourceAndDestinationAreReported() {
        String m = h.failure([:])
        assert m.startsWith('imgpromote: invalid parameters:')
        assert m.contains('source is required') && m.contains('destination is required')
        assert h.shCalls.isEmpty()
    }

    @Test
    void unknownParametersAreRejectedWithASuggestion() {
        String m = h.failure(BASE + [sourceCredentialId: 'dev-login', tlsverify: false])
        assert m.contains("unknown parameter 'sourceCredentialId' (did you mean 'sourceCredentialsId'?)")
        assert m.contains("unknown parameter 'tlsverify'")
    }

    @Test
    void wrongTypesAreRejected() {
        String m = h.failure(BASE + [dryRun: 'false', jobs: 0, retries: 'many', sourceTlsVerify: 'no',
                                     source: 42, extraArgs: '--x'])
        assert m.contains("dryRun must be true or false, got String 'false'")
        assert m.contains("jobs must be a whole number from 1 to 64 (the CLI's limits), got '0'")
        assert m.contains("retries must be a whole number from 0 to 20 (the CLI's limits), got 'many'")
        assert m.contains("sourceTlsVerify must be true or false")
        assert m.contains('source must be a string, got Integer')
        assert m.contains('extraArgs must be a list of strings')
    }

    @Test
    void numbersMayComeFromStringParameters() {
        h.run(BASE + [jobs: '8', retries: 0])
        assert argvOf(only(h.shCalls)).containsAll(['--jobs=8', '--retries=0'])
    }

    @Test
    void controlCharactersAndBadReferencesAreRejected() {
        String m = h.failure(BASE + [sourceContext: 'a\nb', destination: '-rf'])
        assert m.contains('sourceContext must not contain control characters')
        m = h.failure(BASE + [destination: '--help'])
        assert m.contains("destination '--help' is not an image reference")
        m = h.failure(BASE + [source: 'dev/app 1.4'])
        assert m.contains("source 'dev/app 1.4' is not an image reference")
        m = h.failure(BASE + [source: ''])
        assert m.contains('source must not be empty')
    }

    @Test
    void aReferenceWithoutHostNeedsAClusterOrRegistry() {
        String m = h.failure([source: 'dev/app:1.4', destination: 'prod/app:1.4', destinationContext: 'prod'])
        assert m.contains("source 'dev/app:1.4' names no registry host: set sourceCluster, sourceClusterConfig, sourceContext or sourceRegistry")
        assert !m.contains("destination 'prod/app:1.4' names no registry host")
        assert h.run([source: 'quay.example.com/dev/app:1.4', destination: 'localhost:5000/prod/app:1.4']) == REF
    }

    @Test
    void clusterMustBeAnHttpUrlAndOtherValuesAreChecked() {
        String m = h.failure(BASE + [sourceCluster: 'api.dev.example.com:6443', platform: 'amd64',
                                     quiet: true, verbose: true, destinationCredentialsKind: 'token'])
        assert m.contains("sourceCluster must be the API server URL")
        assert m.contains("platform must look like OS/ARCH[/VARIANT]")
        assert m.contains('quiet and verbose cannot both be true')
        assert m.contains("destinationCredentialsKind must be one of auto, usernamePassword, secretText, usernameToken; got 'token'")
        assert m.contains('destinationCredentialsKind is set but destinationCredentialsId is not')
    }

    @Test
    void everyOptionMapsToItsFlag() {
        h.run([source: 'dev/app:1.4', destination: 'prod/app:1.4',
               kubeconfig: '/home/jenkins/.kube/config', platform: 'linux/arm64/v8', jobs: 6, retries: 3,
               dryRun: true, verbose: true,
               sourceCluster: 'https://api.dev:6443', sourceContext: 'dev', sourceRegistry: 'reg.dev:443',
               sourceCaFile: '/run/secrets/kubernetes.io/serviceaccount/ca.crt', sourceTlsVerify: true,
               destinationCluster: 'https://api.prod:6443', destinationContext: 'prod',
               destinationRegistry: 'reg.prod', destinationCaFile: '/etc/pki/prod-ca.pem', destinationTlsVerify: false,
               extraArgs: ['--keep-tokens']])
        assert argvOf(only(h.shCalls)) == [
            'copy', '--kubeconfig=/home/jenkins/.kube/config', '--platform=linux/arm64/v8', '--jobs=6', '--retries=3',
            '--dry-run', '--verbose',
            '--src-cluster=https://api.dev:6443', '--src-context=dev', '--src-registry=reg.dev:443',
            '--src-ca-file=/run/secrets/kubernetes.io/serviceaccount/ca.crt',
            '--dest-cluster=https://api.prod:6443', '--dest-context=prod', '--dest-registry=reg.prod',
            '--dest-ca-file=/etc/pki/prod-ca.pem', '--dest-tls-verify=false',
            '--keep-tokens', 'dev/app:1.4', 'prod/app:1.4']
        assert only(h.shCalls).env.IMGPROMOTE_STEP_BIN == 'imgpromote'
    }

    @Test
    void minimalCallHasMinimalArgv() {
        h.run([source: 'quay.example.com/a/b:1', destination: 'quay.example.com/c/d:1', quiet: true, binary: '/opt/bin/imgpromote'])
        assert argvOf(only(h.shCalls)) == ['copy', '--quiet', 'quay.example.com/a/b:1', 'quay.example.com/c/d:1']
        assert only(h.shCalls).env.IMGPROMOTE_STEP_BIN == '/opt/bin/imgpromote'
        assert h.credentialCalls.isEmpty()
    }

    @Test
    void failureFailsTheBuildWithTheClassAndImgpromotesMessage() {
        h.shHandler = { Map a, Map e -> protocol(3, [], ['progress: logging in', 'error: login to https://api.dev.example.com:6443 refused for user developer', '']) }
        String m = h.failure(BASE + [sourceCredentialsId: 'dev-login'])
        assert m == 'imgpromote: promoting dev/app:1.4 to prod/app:1.4 failed [auth, exit 3]: ' +
                    'error: login to https://api.dev.example.com:6443 refused for user developer'
        SENTINELS.each { assert !m.contains(it) }
    }

    @Test
    void everyExitStatusHasAClass() {
        Map expected = [0: 'ok', 1: 'failure', 2: 'usage', 3: 'auth', 4: 'permission', 5: 'not-found',
                        6: 'network', 7: 'integrity', 8: 'policy', 127: 'not-installed', 42: 'failure']
        expected.each { int code, String cls ->
            h.shHandler = { Map a, Map e -> protocol(code, code == 0 ? [REF] : [], code == 0 ? [] : ["error: code ${code}".toString()]) }
            Map r = h.run(BASE + [returnResult: true])
            assert r.exitCode == code && r.exitClass == cls && r.ok == (code == 0)
            assert r.message == (code == 0 ? '' : "error: code ${code}".toString())
        }
    }

    @Test
    void returnResultGivesAMapAndDoesNotFail() {
        Map r = h.run(BASE + [returnResult: true])
        assert r.ok && r.reference == REF && r.digest == DIGEST && r.exitClass == 'ok'
        h.shHandler = { Map a, Map e -> protocol(5, [], ['error: dev/app:1.4: manifest unknown']) }
        r = h.run(BASE + [returnResult: true])
        assert !r.ok && r.exitCode == 5 && r.exitClass == 'not-found' && r.reference == null
        assert r.message == 'error: dev/app:1.4: manifest unknown'
        assert h.errors.isEmpty()
    }

    @Test
    void successWithoutDigestIsAFailureUnlessDryRun() {
        h.shHandler = { Map a, Map e -> protocol(0, ['prod/app:1.4'], []) }
        String m = h.failure(BASE)
        assert m.contains('[failure, exit 1]: imgpromote succeeded but its report holds no destination digest')
        Map r = h.run(BASE + [dryRun: true, returnResult: true])
        assert r.ok && r.reference == null && r.report.destination.reference == 'prod/app:1.4'
        // Exit 0 without a report (an imgpromote older than the step) is not taken for a success.
        h.shHandler = { Map a, Map e -> protocol(0, [], []) }
        m = h.failure(BASE + [dryRun: true])
        assert m.contains('[failure, exit 1]: imgpromote exited 0 but wrote no report')
    }

    @Test
    void missingStatusIsAFailure() {
        h.shHandler = { Map a, Map e -> '' }
        Map r = h.run(BASE + [returnResult: true])
        assert !r.ok && r.exitClass == 'failure' && r.message.contains('no exit status')
    }

    @Test
    void containerOptionRunsTheScriptInsideTheSidecar() {
        h.run(BASE + [container: 'imgpromote', sourceCredentialsId: 'dev-login'])
        Map c = only(h.shCalls)
        assert c.container == 'imgpromote'
        assert c.env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD
    }

    @Test
    void labelIsShortAndCustomisable() {
        h.run(BASE + [source: 'dev/' + ('x' * 200) + ':1'])
        assert h.shCalls[-1].args.label.length() == 100
        h.run(BASE + [label: 'promote to prod'])
        assert h.shCalls[-1].args.label == 'promote to prod'
    }

    @Test
    void withEnvCarriesOnlyNonSecretValues() {
        h.run(BASE + [sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token'])
        List vars = h.envCalls.flatten()
        assert vars.every { it.startsWith('IMGPROMOTE_STEP_') }
        SENTINELS.each { s -> assert !vars.any { it.contains(s) } }
    }
}
