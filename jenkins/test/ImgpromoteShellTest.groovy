import org.junit.After
import org.junit.Assume
import org.junit.Before
import org.junit.Test

import static StepHarness.*

/**
 * Runs the step's script for real, in every POSIX shell found here (bash, dash, busybox sh), with
 * a fake imgpromote on PATH that records its argv and environment. Proves that hostile values
 * reach imgpromote verbatim (no shell injection, no globbing, no word splitting), that secrets
 * travel only in the environment, and that exit status, stdout and stderr come back intact.
 */
class ImgpromoteShellTest {
    static final String REPORT_JSON = groovy.json.JsonOutput.toJson(reportFor(REF))
    static final List<List<String>> SHELLS = [['bash'], ['dash'], ['busybox', 'sh']]
    // Each hostile command, if ever run, creates a file named PWNED* in the working directory.
    static final String HOSTILE = ' lead $(touch PWNED1) `touch PWNED2`; touch PWNED3 | touch PWNED4 & ' +
                                  '\'q\' "qq" \\ * ? [a] ~ $HOME ${IFS} %s %n -- trail '
    File dir

    @Before
    void setUp() {
        dir = tempDir('imgpromote-shell-test')
    }

    @After
    void tearDown() {
        dir?.deleteDir()
    }

    static List<String> shells() {
        List<String> found = []
        for (List<String> s in SHELLS) {
            if (['sh', '-c', 'command -v "$1"', 'x', s[0]].execute().waitFor() == 0) {
                found << (s.size() == 1 ? s[0] : s.join(' '))
            }
        }
        return found
    }

    /** Runs the step once per shell; `check` gets (shell, result, record dir, log). */
    private void eachShell(Map stepArgs, Map fake, Map outerEnv, Closure check) {
        List<String> sh = shells()
        Assume.assumeTrue('no POSIX shell found', !sh.isEmpty())
        assert sh.contains('bash') && sh.contains('dash'): "bash and dash are expected here, found ${sh}"
        for (String shell in sh) {
            File work = new File(dir, shell.replace(' ', '-'))
            work.mkdirs()
            String exe = shell.contains(' ') ? writeWrapper(work, shell) : shell
            Map run = StepHarness.inShell(work, exe, stepArgs, fake, outerEnv)
            assert !work.list().any { it.startsWith('PWNED') }: "${shell}: a hostile value was executed: ${work.list()}"
            String script = new File(work, 'script.sh').text
            SENTINELS.each { assert !script.contains(it): "${shell}: script file contains a secret" }
            check(shell, run.result, run.rec, run.log)
        }
    }

    private static String writeWrapper(File work, String shell) {
        File w = new File(work, 'shell-wrapper')
        w.text = "#!/bin/sh\nexec ${shell} \"\$@\"\n"
        w.setExecutable(true)
        return w.absolutePath
    }

    @Test
    void hostileValuesReachImgpromoteVerbatimAndSecretsStayInTheEnvironment() {
        Map args = [
            source: 'dev/app:1.4;$(touch${IFS}PWNED5)`touch${IFS}PWNED6`',
            destination: 'prod/app:1.4&&touch>PWNED7',
            sourceCluster: 'https://api.dev.example.com:6443/$(touch${IFS}PWNED8)',
            sourceContext: 'ctx' + HOSTILE,
            sourceCaFile: '/tmp/ca dir/it\'s "quoted" $(touch PWNED9).pem',
            destinationRegistry: 'reg.prod:5000',
            destinationCaFile: HOSTILE,
            kubeconfig: '*',
            extraArgs: ['--keep-tokens', HOSTILE, ''],
            sourceCredentialsId: 'dev-login',
            destinationCredentialsId: 'prod-token',
        ]
        List<String> expected = [
            'copy', '--kubeconfig=*',
            '--src-cluster=https://api.dev.example.com:6443/$(touch${IFS}PWNED8)',
            '--src-context=ctx' + HOSTILE,
            '--src-ca-file=/tmp/ca dir/it\'s "quoted" $(touch PWNED9).pem',
            '--dest-registry=reg.prod:5000',
            '--dest-ca-file=' + HOSTILE,
            '--keep-tokens', HOSTILE, '',
            'dev/app:1.4;$(touch${IFS}PWNED5)`touch${IFS}PWNED6`',
            'prod/app:1.4&&touch>PWNED7',
        ]
        eachShell(args, [FAKE_REPORT: REPORT_JSON], [:]) { String shell, result, File rec, String log ->
            assert result == REF: "${shell}: ${result}"
            List<String> argv = readNulList(new File(rec, 'argv'))
            // The step adds its report file right after the subcommand.
            assert argv[1].startsWith('--report-file=') && argv[1].endsWith('/report.json')
            assert argv[0..0] + argv[2..-1] == expected: "${shell}: argv differs"
            SENTINELS.each { s -> assert !argv.any { it.contains(s) }: "${shell}: a secret is in argv" }
            Map<String, String> env = readEnv(new File(rec, 'env'))
            assert env.IMGPROMOTE_SRC_USERNAME == 'developer'
            assert env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD
            assert env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
            assert !env.containsKey('IMGPROMOTE_SRC_TOKEN') && !env.containsKey('IMGPROMOTE_DEST_PASSWORD')
            assert log.contains('progress: copying blobs'): "${shell}: imgpromote's stderr must reach the build log"
        }
    }

    @Test
    void failureStatusAndMessageComeBack() {
        Map args = [source: 'quay.example.com/dev/app:1.4', destination: 'quay.example.com/prod/app:1.4',
                    destinationCredentialsId: 'prod-token']
        Map fake = [FAKE_RC: '5', FAKE_STDERR: 'error: quay.example.com/dev/app:1.4: manifest unknown']
        eachShell(args, fake, [:]) { String shell, result, File rec, String log ->
            assert result instanceof hudson.AbortException: "${shell}: ${result}"
            assert result.message == 'imgpromote: promoting quay.example.com/dev/app:1.4 to quay.example.com/prod/app:1.4 ' +
                                     'failed [not-found, exit 5]: error: quay.example.com/dev/app:1.4: manifest unknown'
            assert log.contains('manifest unknown')
        }
        eachShell(args + [returnResult: true], fake + [FAKE_RC: '6', FAKE_STDERR: 'error: x509: certificate signed by unknown authority'], [:]) {
            String shell, Map r, File rec, String log ->
            assert r.exitCode == 6 && r.exitClass == 'network' && !r.ok
            assert r.message == 'error: x509: certificate signed by unknown authority'
        }
    }

    @Test
    void reportAndStderrLinesAreKept() {
        Map args = [source: 'a.example.com/x/y:1', destination: 'b.example.com/x/y:1', returnResult: true]
        eachShell(args, [FAKE_REPORT: REPORT_JSON, FAKE_STDOUT: 'not-the-result', FAKE_STDERR: 'warning: one\nwarning: two'], [:]) {
            String shell, Map r, File rec, String log ->
            assert r.ok && r.reference == REF && r.digest == DIGEST: "${shell}: ${r}"
            assert r.stderr == ['progress: copying blobs', 'warning: one', 'warning: two', 'not-the-result']
            assert r.report.destination.digest == DIGEST
            assert log.contains('not-the-result'): 'imgpromote stdout goes to the build log'
        }
    }

    @Test
    void credentialsOfTheOtherKindFromOutsideAreDropped() {
        Map outer = [IMGPROMOTE_SRC_TOKEN: 'stale-outer-token', IMGPROMOTE_DEST_USERNAME: 'stale',
                     IMGPROMOTE_DEST_PASSWORD: 'stale-outer-password']
        Map args = [source: 'a.example.com/x/y:1', destination: 'b.example.com/x/y:1',
                    sourceCredentialsId: 'dev-login', destinationCredentialsId: 'prod-token']
        eachShell(args, [FAKE_REPORT: REPORT_JSON], outer) { String shell, result, File rec, String log ->
            Map<String, String> env = readEnv(new File(rec, 'env'))
            assert !env.containsKey('IMGPROMOTE_SRC_TOKEN')
            assert !env.containsKey('IMGPROMOTE_DEST_USERNAME') && !env.containsKey('IMGPROMOTE_DEST_PASSWORD')
            assert env.IMGPROMOTE_SRC_PASSWORD == SRC_PASSWORD && env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        }
        // Without a credentials id for a side, credentials bound outside the step pass through.
        eachShell(args.findAll { !it.key.startsWith('source') || it.key == 'source' }, [FAKE_REPORT: REPORT_JSON], outer) {
            String shell, result, File rec, String log ->
            assert readEnv(new File(rec, 'env')).IMGPROMOTE_SRC_TOKEN == 'stale-outer-token'
        }
    }

    @Test
    void missingBinaryIsReportedAsNotInstalled() {
        Map args = [source: 'a.example.com/x/y:1', destination: 'b.example.com/x/y:1', binary: 'imgpromote-not-here',
                    returnResult: true]
        eachShell(args, [:], [:]) { String shell, Map r, File rec, String log ->
            assert r.exitCode == 127 && r.exitClass == 'not-installed'
            assert r.message == 'imgpromote step: imgpromote-not-here: not found on this agent ' +
                                '(run on the imgpromote agent, or set container: or binary:)'
        }
    }

    @Test
    void scriptPassesSyntaxChecks() {
        String script = new StepHarness().step.SCRIPT
        File f = new File(dir, 'script.sh')
        f.text = script
        for (String shell in shells()) {
            List cmd = shell.split(' ') as List
            Process p = (cmd + ['-n', f.absolutePath]).execute()
            assert p.waitFor() == 0: "${shell} -n: ${p.errorStream.text}"
        }
        if (['sh', '-c', 'command -v shellcheck'].execute().waitFor() == 0) {
            Process p = ['shellcheck', '-s', 'sh', f.absolutePath].execute()
            String out = p.inputStream.text
            assert p.waitFor() == 0: "shellcheck -s sh: ${out}"
        }
        // POSIX only: no bash arrays, [[ ]], $'..', local, or process substitution
        ['[[', '$\'', 'local ', '<(', '>(', 'function ', 'pipefail'].each {
            assert !script.contains(it): "non-POSIX construct ${it}"
        }
    }
}
