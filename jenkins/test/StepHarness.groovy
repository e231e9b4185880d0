import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer

import java.util.concurrent.TimeUnit

/**
 * Loads vars/imgpromote.groovy with stand-ins for the Jenkins steps it calls (sh, withCredentials,
 * usernamePassword, string, withEnv, container, error, echo, junit) and records every call.
 *
 * Step semantics kept from Jenkins:
 *  - withCredentials resolves every binding before running its body (unknown id or wrong type
 *    throws), exports the secrets only for the body's duration, then restores the environment;
 *  - withEnv takes "NAME=VALUE" strings (split at the first '='); an empty value removes NAME;
 *  - error throws hudson.AbortException; sh gets the environment as it is at that moment.
 * Run from the library root (jenkins/): the step is loaded from vars/imgpromote.groovy.
 */
class StepHarness {
    static final String SRC_PASSWORD = 'SENTINEL-src-p4ss\'"$(touch PWNED-src)`x`'
    static final String DEST_TOKEN = 'SENTINEL-dest-t0ken;$HOME|&*'
    static final String SECRET_TEXT = 'SENTINEL-secret-text-$(id)'
    static final String TOKEN_IN_PASSWORD = 'SENTINEL-sa-token-in-password'
    static final List<String> SENTINELS = [SRC_PASSWORD, DEST_TOKEN, SECRET_TEXT, TOKEN_IN_PASSWORD]

    static final String DIGEST = 'sha256:' + ('0123456789abcdef' * 4)
    static final String REF = 'registry.prod.example.com/prod/app@' + DIGEST

    /** The environment of the pipeline at this point (what sh would inherit). */
    Map<String, String> env = [:]
    /** Jenkins credentials store: id -> [type: 'usernamePassword'|'secretText'|'file', ...]. */
    Map<String, Map> credentials = [
        'dev-login'    : [type: 'usernamePassword', username: 'developer', password: SRC_PASSWORD],
        'prod-token'   : [type: 'secretText', secret: DEST_TOKEN],
        'other-token'  : [type: 'secretText', secret: SECRET_TEXT],
        'sa-basic-auth': [type: 'usernamePassword', username: 'serviceaccount', password: TOKEN_IN_PASSWORD],
        'a-file'       : [type: 'file', path: '/tmp/x'],
    ]
    List<Map> shCalls = []
    List<List> credentialCalls = []
    List<List> envCalls = []
    List<String> containers = []
    List<String> errors = []
    List<String> echoes = []
    /** junit(testResults: ...) calls, with the environment at that moment. */
    List<Map> junitCalls = []
    /** Returns what sh(returnStdout: true) returns; gets the sh args and the environment snapshot. */
    Closure shHandler = { Map args, Map env -> protocol(0, [REF], ['copied 3 blobs']) }
    Script step

    StepHarness() {
        Binding b = new Binding()
        b.setVariable('sh', { Map args ->
            Map snapshot = new LinkedHashMap(env)
            shCalls << [args: args, env: snapshot, container: containers ? containers[-1] : null]
            return shHandler(args, snapshot)
        })
        b.setVariable('usernamePassword', { Map m -> [kind: 'usernamePassword'] + m })
        b.setVariable('string', { Map m -> [kind: 'string'] + m })
        b.setVariable('withCredentials', { List bindings, Closure body -> withCredentials(bindings, body) })
        b.setVariable('withEnv', { List vars, Closure body -> withEnv(vars, body) })
        b.setVariable('container', { String name, Closure body ->
            containers << name
            try {
                return body()
            } finally {
                containers.remove(containers.size() - 1)
            }
        })
        b.setVariable('error', { String message ->
            errors << message
            throw new hudson.AbortException(message)
        })
        b.setVariable('echo', { String message -> echoes << message })
        b.setVariable('junit', { Map m -> junitCalls << [args: m, env: new LinkedHashMap(env)] })
        // Jenkins' env: the variables as they are at this point (withEnv / withCredentials included).
        b.setVariable('env', env)

        CompilerConfiguration cc = new CompilerConfiguration()
        cc.addCompilationCustomizers(new ImportCustomizer().addImports('com.cloudbees.groovy.cps.NonCPS'))
        step = new GroovyShell(StepHarness.classLoader, b, cc).parse(new File('vars/imgpromote.groovy'))
    }

    def run(Map args) {
        return step.call(args)
    }

    /** Runs the step and returns the message it failed with (fails the test if it did not fail). */
    String failure(Map args) {
        try {
            def r = step.call(args)
            throw new AssertionError("expected the step to fail, it returned ${r}")
        } catch (hudson.AbortException e) {
            return e.message
        }
    }

    private Object withCredentials(List bindings, Closure body) {
        Map<String, String> values = [:]
        for (Map binding in bindings) {
            Map c = credentials[binding.credentialsId]
            if (c == null) {
                throw new hudson.AbortException("Could not find credentials entry with ID '${binding.credentialsId}'")
            }
            String want = binding.kind == 'usernamePassword' ? 'usernamePassword' : 'secretText'
            if (c.type != want) {
                throw new hudson.AbortException("Credentials '${binding.credentialsId}' is of type '${human(c.type)}' " +
                                                "where '${human(want)}' was expected")
            }
            if (want == 'usernamePassword') {
                values[binding.usernameVariable] = c.username
                values[binding.passwordVariable] = c.password
            } else {
                values[binding.variable] = c.secret
            }
        }
        credentialCalls << bindings
        return scoped(values, body)
    }

    private Object withEnv(List vars, Closure body) {
        envCalls << vars
        Map<String, String> values = [:]
        for (Object v in vars) {
            String s = v.toString()
            int eq = s.indexOf('=')
            assert eq > 0: "withEnv entry without NAME=: ${s}"
            values[s.substring(0, eq)] = s.substring(eq + 1)
        }
        return scoped(values, body)
    }

    private Object scoped(Map<String, String> values, Closure body) {
        Map<String, String> saved = new LinkedHashMap(env)
        values.each { k, v -> if (v == null || v.isEmpty()) { env.remove(k) } else { env[k] = v } }
        try {
            return body()
        } finally {
            env.clear()
            env.putAll(saved)
        }
    }

    private static String human(String type) {
        return [usernamePassword: 'Username with password', secretText: 'Secret text', file: 'Secret file',
                openshiftToken: 'OpenShift Token for OpenShift Client Plugin'][type]
    }

    /** What the step script prints: status, the CLI's report file (if any) and its stderr tail. */
    static String reportProtocol(int status, Map report, List<String> stderr) {
        List lines = ["@@imgpromote-status ${status}"]
        if (report != null) {
            lines << ('@@imgpromote-report ' + groovy.json.JsonOutput.toJson(report).bytes.encodeBase64().toString())
        }
        lines << ('@@imgpromote-stderr ' + (stderr ? (stderr.join('\n') + '\n') : '').getBytes('UTF-8').encodeBase64().toString())
        return lines.join('\n') + '\n'
    }

    /** The same, with the report the CLI writes for a promotion whose pinned destination is `pinned`. */
    static String protocol(int status, List<String> pinned, List<String> stderr) {
        return reportProtocol(status, pinned ? reportFor(pinned[-1]) : null, stderr)
    }

    /** A --report-file object (the --json shape) for HOST/REPO@DIGEST, or HOST/REPO:TAG without digest. */
    static Map reportFor(String pinned) {
        int at = pinned.indexOf('@')
        String name = at >= 0 ? pinned.substring(0, at) : pinned
        Map destination = at >= 0 ? [reference: name + ':1.4', digest: pinned.substring(at + 1)] : [reference: name]
        return [source: [reference: 'registry.dev.example.com/dev/app:1.4', digest: DIGEST], destination: destination,
                mediaType: 'application/vnd.oci.image.manifest.v1+json', platforms: ['linux/amd64'],
                blobs: [copied: 3, mounted: 0, skipped: 0], bytes: [copied: 1234, total: 1234], manifests: 1,
                alreadyPresent: false, dryRun: false, seconds: 0.5]
    }

    /** The report file the CLI writes when a promotion fails after its options were accepted. */
    static Map failureReport(int code, String message) {
        return [error: [exitCode: code, message: message]]
    }

    /** The argv the step hands to the shell (from the IMGPROMOTE_STEP_ARG_* variables of an sh call). */
    static List<String> argvOf(Map shCall) {
        Map e = shCall.env
        int n = e.IMGPROMOTE_STEP_ARGC as int
        return (0..<n).collect { e["IMGPROMOTE_STEP_ARG_${it}".toString()] }
    }

    // ---- running the step script in a real shell ------------------------------------------

    /**
     * Runs the step once with its script in dash (a real shell) and a fake imgpromote, in a fresh
     * directory under dir; outerEnv is the pipeline's env. Returns what inShell returns.
     */
    static Map inDash(File dir, Map stepArgs, Map fake, Map outerEnv = [:]) {
        org.junit.Assume.assumeTrue('dash is needed', ['sh', '-c', 'command -v dash'].execute().waitFor() == 0)
        return inShell(new File(dir, "run-${dir.list().size()}"), 'dash', stepArgs, fake, outerEnv)
    }

    /**
     * Runs the step once with its script in `shell` (an executable) and a fake imgpromote, in work
     * (created); outerEnv is the pipeline's env. Returns [result (the step's value or its
     * AbortException), h, rec (what the fake recorded), log].
     */
    static Map inShell(File work, String shell, Map stepArgs, Map fake, Map outerEnv = [:]) {
        work.mkdirs()
        File bin = new File(work, 'bin')
        File rec = new File(work, 'record')
        fakeImgpromote(bin, rec)
        StringBuilder log = new StringBuilder()
        StepHarness h = new StepHarness()
        h.env.putAll(outerEnv)
        h.shHandler = realShell(shell, work, bin, [FAKE_RECORD: rec.absolutePath] + fake, log)
        def result
        try {
            result = h.run(stepArgs)
        } catch (hudson.AbortException e) {
            result = e
        }
        assert h.shCalls.size() == 1
        return [result: result, h: h, rec: rec, log: log.toString()]
    }

    /**
     * An sh handler that runs the script for real with `shell` (bash, dash...), in `workDir`,
     * with PATH starting at `binDir` (which holds a fake imgpromote) and the snapshot environment.
     * Extra variables (the fake's controls) come from `extraEnv`. The process's stderr (the build
     * log) is appended to `log`. Bounded: 30 s per run.
     */
    static Closure realShell(String shell, File workDir, File binDir, Map extraEnv, StringBuilder log) {
        return { Map args, Map snapshot ->
            File script = new File(workDir, 'script.sh')
            script.text = args.script
            ProcessBuilder pb = new ProcessBuilder(shell, script.absolutePath)
            pb.directory(workDir)
            Map<String, String> pe = pb.environment()
            pe.clear()
            pe.PATH = binDir.absolutePath + ':/usr/bin:/bin'
            pe.HOME = workDir.absolutePath
            pe.TMPDIR = workDir.absolutePath
            pe.putAll(snapshot)
            pe.putAll(extraEnv)
            Process p = pb.start()
            StringBuilder out = new StringBuilder()
            StringBuilder err = new StringBuilder()
            Thread to = p.consumeProcessOutputStream(out)
            Thread te = p.consumeProcessErrorStream(err)
            p.outputStream.close()
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly()
                throw new AssertionError("${shell} did not finish in 30 s")
            }
            to.join(10000)
            te.join(10000)
            log.append(err)
            assert p.exitValue() == 0: "the step script must always exit 0, got ${p.exitValue()}; stderr: ${err}"
            return out.toString()
        }
    }

    /** Writes a fake imgpromote that records argv (NUL-separated) and env, then obeys FAKE_*. */
    static File fakeImgpromote(File binDir, File recordDir) {
        binDir.mkdirs()
        File f = new File(binDir, 'imgpromote')
        f.text = '''#!/bin/sh
for a in "$@"; do printf '%s\\0' "$a"; done >"$FAKE_RECORD/argv"
env -0 >"$FAKE_RECORD/env"
printf 'progress: copying blobs\\n' >&2
[ -n "${FAKE_STDERR-}" ] && printf '%s\\n' "$FAKE_STDERR" >&2
[ -n "${FAKE_STDOUT-}" ] && printf '%s' "$FAKE_STDOUT"
# A CLI that leaks what it was given (FAKE_LEAK=1): the step must scrub it.
[ -n "${FAKE_LEAK-}" ] && printf 'imgpromote: leaked %s %s\\n' "${IMGPROMOTE_SRC_PASSWORD-}" "${IMGPROMOTE_DEST_TOKEN-}" >&2
# Like the CLI: the report (FAKE_REPORT) goes to the file named by --report-file=PATH.
for a in "$@"; do
  case "$a" in --report-file=*) [ -n "${FAKE_REPORT-}" ] && printf '%s\\n' "$FAKE_REPORT" >"${a#--report-file=}" ;; esac
done
exit "${FAKE_RC:-0}"
'''
        f.setExecutable(true)
        recordDir.mkdirs()
        return f
    }

    static List<String> readNulList(File f) {
        String s = f.getText('UTF-8')
        if (s.isEmpty()) {
            return []
        }
        assert s.endsWith('\u0000')
        return s.substring(0, s.length() - 1).split('\u0000', -1) as List
    }

    static Map<String, String> readEnv(File f) {
        Map<String, String> m = [:]
        for (String kv in readNulList(f)) {
            int eq = kv.indexOf('=')
            m[kv.substring(0, eq)] = kv.substring(eq + 1)
        }
        return m
    }

    static File tempDir(String prefix) {
        File d = File.createTempDir(prefix, '')
        return d
    }
}
