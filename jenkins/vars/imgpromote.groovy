// imgpromote: promote a container image between OpenShift clusters with the imgpromote CLI.
// Parameter reference: imgpromote.txt beside this file. Tests: ../test/.
//
// Rules this file keeps (the tests enforce them):
//  * Secrets are bound only by withCredentials, straight into the variables the CLI reads
//    (IMGPROMOTE_{SRC,DEST}_{USERNAME,PASSWORD,TOKEN}). They never enter a Groovy string or argv.
//  * Every other value reaches the shell through withEnv, as IMGPROMOTE_STEP_ARG_<n>.
//  * The shell script is the constant SCRIPT: no Groovy interpolation, so no shell injection.

import groovy.transform.Field

// Exit status of imgpromote (see the CLI contract) -> class name given to the caller.
@Field static final Map EXIT_CLASSES = [
    0: 'ok', 1: 'failure', 2: 'usage', 3: 'auth', 4: 'permission',
    5: 'not-found', 6: 'network', 7: 'integrity', 8: 'policy', 127: 'not-installed',
]

@Field static final List CREDENTIAL_KINDS = ['auto', 'usernamePassword', 'secretText', 'usernameToken']

@Field static final List STRING_KEYS = [
    'source', 'destination', 'kubeconfig', 'platform', 'binary', 'container', 'label',
    'sourceCluster', 'sourceContext', 'sourceRegistry', 'sourceCaFile', 'sourceCredentialsId', 'sourceCredentialsKind',
    'destinationCluster', 'destinationContext', 'destinationRegistry', 'destinationCaFile',
    'destinationCredentialsId', 'destinationCredentialsKind',
]
@Field static final List BOOLEAN_KEYS = [
    'dryRun', 'verbose', 'quiet', 'returnResult', 'sourceTlsVerify', 'destinationTlsVerify',
]
@Field static final List INTEGER_KEYS = ['jobs', 'retries']
@Field static final List LIST_KEYS = ['extraArgs']

// The one shell script this step runs. POSIX sh (dash, bash, busybox), needs only coreutils.
// Reads: IMGPROMOTE_STEP_ARGC, IMGPROMOTE_STEP_ARG_0.., IMGPROMOTE_STEP_BIN,
// IMGPROMOTE_STEP_{SRC,DEST}_AUTH; the CLI itself reads the credential variables.
// Prints a line protocol on stdout ("@@imgpromote-status N", "-stdout LINE", "-stderr LINE")
// while imgpromote's stderr streams to the build log. Always exits 0; the status is in the protocol.
@Field static final String SCRIPT = '''#!/bin/sh
say() { printf '@@imgpromote-%s\\n' "$*"; }
fail() {
  printf 'imgpromote step: %s\\n' "$2" >&2
  say "status $1"
  say "stderr imgpromote step: $2"
  exit 0
}
case "${IMGPROMOTE_STEP_ARGC-}" in
  ''|*[!0-9]*) fail 1 'internal error: IMGPROMOTE_STEP_ARGC is not a number' ;;
esac
set --
i=0
while [ "$i" -lt "$IMGPROMOTE_STEP_ARGC" ]; do
  eval 'set -- "$@" "$IMGPROMOTE_STEP_ARG_'"$i"'"'
  i=$((i + 1))
done
case "${IMGPROMOTE_STEP_SRC_AUTH-}" in
  password) unset IMGPROMOTE_SRC_TOKEN ;;
  token) unset IMGPROMOTE_SRC_USERNAME IMGPROMOTE_SRC_PASSWORD ;;
esac
case "${IMGPROMOTE_STEP_DEST_AUTH-}" in
  password) unset IMGPROMOTE_DEST_TOKEN ;;
  token) unset IMGPROMOTE_DEST_USERNAME IMGPROMOTE_DEST_PASSWORD ;;
esac
bin=${IMGPROMOTE_STEP_BIN:-imgpromote}
command -v "$bin" >/dev/null 2>&1 ||
  fail 127 "$bin: not found on this agent (run on the imgpromote agent, or set container: or binary:)"
d=$(mktemp -d "${TMPDIR:-/tmp}/imgpromote-step.XXXXXX") || fail 1 'cannot create a temporary directory'
trap 'rm -rf "$d"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
{ "$bin" "$@" </dev/null 2>&1 >"$d/out"; echo "$?" >"$d/rc"; } | tee "$d/err" >&2
rc=$(cat "$d/rc" 2>/dev/null)
case "$rc" in ''|*[!0-9]*) rc=1 ;; esac
say "status $rc"
while IFS= read -r line || [ -n "$line" ]; do say "stdout $line"; done <"$d/out"
tail -n 20 "$d/err" | while IFS= read -r line || [ -n "$line" ]; do say "stderr $line"; done
exit 0
'''

/**
 * Promotes args.source to args.destination. Returns the digest-pinned destination reference
 * (HOST/REPO@sha256:...), or with returnResult: true a Map describing the outcome.
 * A failed promotion fails the build (error) unless returnResult is true.
 */
def call(Map args = [:]) {
    List problems = validate(args)
    if (problems) {
        error("imgpromote: invalid parameters:\n  - " + problems.join('\n  - '))
    }

    List bindings = []
    List envVars = []
    Map sides = [
        source: [flag: 'src', id: args.sourceCredentialsId, kind: args.sourceCredentialsKind ?: 'auto'],
        destination: [flag: 'dest', id: args.destinationCredentialsId, kind: args.destinationCredentialsKind ?: 'auto'],
    ]
    for (String side in ['source', 'destination']) {
        Map s = sides[side]
        if (!s.id) {
            continue
        }
        String kind = s.kind == 'auto' ? detectCredentialsKind(side, s.id as String) : s.kind
        String prefix = 'IMGPROMOTE_' + s.flag.toUpperCase() + '_'
        String stepVar = 'IMGPROMOTE_STEP_' + s.flag.toUpperCase() + '_AUTH'
        if (kind == 'usernamePassword') {
            bindings << usernamePassword(credentialsId: s.id, usernameVariable: prefix + 'USERNAME',
                                         passwordVariable: prefix + 'PASSWORD')
            envVars << (stepVar + '=password')
        } else if (kind == 'secretText') {
            bindings << string(credentialsId: s.id, variable: prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        } else { // usernameToken: a Username with password credential whose password is a token
            bindings << usernamePassword(credentialsId: s.id, usernameVariable: 'IMGPROMOTE_STEP_' + s.flag.toUpperCase() + '_UNUSED_USERNAME',
                                         passwordVariable: prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        }
    }

    List argv = buildArgv(args)
    envVars << ('IMGPROMOTE_STEP_ARGC=' + argv.size())
    for (int i = 0; i < argv.size(); i++) {
        envVars << ('IMGPROMOTE_STEP_ARG_' + i + '=' + argv[i])
    }
    envVars << ('IMGPROMOTE_STEP_BIN=' + (args.binary ?: 'imgpromote'))

    String label = (args.label ?: ('imgpromote ' + args.source + ' -> ' + args.destination)) as String
    if (label.length() > 100) {
        label = label.substring(0, 97) + '...'
    }

    String protocol = null
    Closure run = {
        withEnv(envVars) {
            if (args.container) {
                container(args.container as String) {
                    protocol = sh(script: SCRIPT, returnStdout: true, label: label)
                }
            } else {
                protocol = sh(script: SCRIPT, returnStdout: true, label: label)
            }
        }
    }
    if (bindings) {
        withCredentials(bindings) { run() }
    } else {
        run()
    }

    Map result = parseResult(protocol, args.dryRun == true)
    if (args.returnResult == true) {
        return result
    }
    if (!result.ok) {
        error('imgpromote: promoting ' + args.source + ' to ' + args.destination + ' failed [' +
              result.exitClass + ', exit ' + result.exitCode + ']: ' + result.message)
    }
    return result.reference
}

/** Tries the credential as Username with password, then as Secret text; returns the kind. */
String detectCredentialsKind(String side, String id) {
    String first = null
    try {
        withCredentials([usernamePassword(credentialsId: id, usernameVariable: 'IMGPROMOTE_STEP_PROBE_USERNAME',
                                          passwordVariable: 'IMGPROMOTE_STEP_PROBE_PASSWORD')]) { }
        return 'usernamePassword'
    } catch (InterruptedException e) {
        throw e
    } catch (Exception e) {
        first = e.message
    }
    try {
        withCredentials([string(credentialsId: id, variable: 'IMGPROMOTE_STEP_PROBE_TOKEN')]) { }
        return 'secretText'
    } catch (InterruptedException e) {
        throw e
    } catch (Exception e) {
        error("imgpromote: ${side}CredentialsId '${id}' is neither a usable Username with password " +
              "credential (${first}) nor a Secret text credential (${e.message})")
    }
    return null
}

/** All problems with the parameters, as readable sentences; empty when they are fine. */
@NonCPS
List validate(Map args) {
    List problems = []
    List known = STRING_KEYS + BOOLEAN_KEYS + INTEGER_KEYS + LIST_KEYS
    for (Object key in args.keySet()) {
        if (!(key in known)) {
            String hint = closestKey(key as String, known)
            problems << ("unknown parameter '${key}'" + (hint ? " (did you mean '${hint}'?)" : '')).toString()
        }
    }
    for (String key in STRING_KEYS) {
        Object v = args[key]
        if (v != null && !(v instanceof CharSequence)) {
            problems << ("${key} must be a string, got ${v.getClass().simpleName}").toString()
        } else if (v != null && hasControlChars(v.toString())) {
            problems << ("${key} must not contain control characters such as newlines").toString()
        } else if (v != null && v.toString().trim().isEmpty()) {
            problems << ("${key} must not be empty").toString()
        }
    }
    for (String key in BOOLEAN_KEYS) {
        Object v = args[key]
        if (v != null && !(v instanceof Boolean)) {
            problems << ("${key} must be true or false, got ${v.getClass().simpleName} '${v}'").toString()
        }
    }
    for (String key in INTEGER_KEYS) {
        Object v = args[key]
        int min = key == 'jobs' ? 1 : 0
        if (v != null && !(v.toString() ==~ /\d{1,4}/ && (v instanceof Integer || v instanceof Long || v instanceof CharSequence)
                           && v.toString().toInteger() >= min)) {
            problems << ("${key} must be a whole number >= ${min}, got '${v}'").toString()
        }
    }
    Object extra = args.extraArgs
    if (extra != null) {
        if (!(extra instanceof List) || extra.any { !(it instanceof CharSequence) || hasControlChars(it.toString()) }) {
            problems << 'extraArgs must be a list of strings without control characters'
        }
    }
    if (!problems.isEmpty()) {
        return problems
    }

    for (String side in ['source', 'destination']) {
        String ref = args[side]
        if (!ref) {
            problems << ("${side} is required (an image reference such as 'dev/app:1.4' or 'registry.example.com/dev/app:1.4')").toString()
            continue
        }
        if (ref.startsWith('-') || ref =~ /\s/) {
            problems << ("${side} '${ref}' is not an image reference").toString()
            continue
        }
        if (!referenceHasHost(ref) && !args[side + 'Cluster'] && !args[side + 'Context'] && !args[side + 'Registry']) {
            problems << ("${side} '${ref}' names no registry host: set ${side}Cluster, ${side}Context or ${side}Registry").toString()
        }
        String url = args[side + 'Cluster']
        if (url && !(url ==~ /(?i)https?:\/\/[^\s\/]+(\/\S*)?/)) {
            problems << ("${side}Cluster must be the API server URL (https://api.example.com:6443), got '${url}'").toString()
        }
        String kind = args[side + 'CredentialsKind']
        if (kind && !(kind in CREDENTIAL_KINDS)) {
            problems << ("${side}CredentialsKind must be one of ${CREDENTIAL_KINDS.join(', ')}; got '${kind}'").toString()
        }
        if (kind && !args[side + 'CredentialsId']) {
            problems << ("${side}CredentialsKind is set but ${side}CredentialsId is not").toString()
        }
    }
    if (args.platform && !(args.platform ==~ /[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?/)) {
        problems << ("platform must look like OS/ARCH[/VARIANT] (linux/amd64), got '${args.platform}'").toString()
    }
    if (args.quiet == true && args.verbose == true) {
        problems << 'quiet and verbose cannot both be true'
    }
    return problems
}

/** The imgpromote argv after the program name. Values use --flag=VALUE so none is read as an option. */
@NonCPS
List buildArgv(Map args) {
    List argv = ['copy']
    if (args.kubeconfig) argv << ('--kubeconfig=' + args.kubeconfig)
    if (args.platform) argv << ('--platform=' + args.platform)
    if (args.jobs != null) argv << ('--jobs=' + args.jobs.toString().toInteger())
    if (args.retries != null) argv << ('--retries=' + args.retries.toString().toInteger())
    if (args.dryRun == true) argv << '--dry-run'
    if (args.verbose == true) argv << '--verbose'
    if (args.quiet == true) argv << '--quiet'
    Map flags = [source: 'src', destination: 'dest']
    for (String side in ['source', 'destination']) {
        String f = flags[side]
        if (args[side + 'Cluster']) argv << ("--${f}-cluster=" + args[side + 'Cluster']).toString()
        if (args[side + 'Context']) argv << ("--${f}-context=" + args[side + 'Context']).toString()
        if (args[side + 'Registry']) argv << ("--${f}-registry=" + args[side + 'Registry']).toString()
        if (args[side + 'CaFile']) argv << ("--${f}-ca-file=" + args[side + 'CaFile']).toString()
        if (args[side + 'TlsVerify'] == false) argv << ("--${f}-tls-verify=false").toString()
    }
    for (Object a in (args.extraArgs ?: [])) {
        argv << a.toString()
    }
    argv << args.source.toString()
    argv << args.destination.toString()
    return argv
}

/** Reads the script's line protocol into [ok, exitCode, exitClass, reference, digest, message, stderr]. */
@NonCPS
Map parseResult(String protocol, boolean dryRun) {
    Integer code = null
    List out = []
    List err = []
    for (String line in (protocol ?: '').readLines()) {
        if (line.startsWith('@@imgpromote-status ')) {
            String n = line.substring('@@imgpromote-status '.length()).trim()
            code = n ==~ /\d+/ ? n.toInteger() : 1
        } else if (line.startsWith('@@imgpromote-stdout ')) {
            out << line.substring('@@imgpromote-stdout '.length())
        } else if (line.startsWith('@@imgpromote-stderr ')) {
            err << line.substring('@@imgpromote-stderr '.length())
        }
    }
    List nonEmptyErr = err.findAll { it.trim() }
    String lastErr = nonEmptyErr ? nonEmptyErr[-1].trim() : null
    List nonEmptyOut = out.findAll { it.trim() }
    String reference = nonEmptyOut ? nonEmptyOut[-1].trim() : null
    Map result = [ok: false, exitCode: code, exitClass: null, reference: reference, digest: null,
                  message: null, stderr: err]
    if (code == null) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = 'the step script reported no exit status (was the shell killed?)'
        return result
    }
    result.exitClass = EXIT_CLASSES[code] ?: 'failure'
    if (code != 0) {
        result.message = lastErr ?: "imgpromote exited with status ${code} and printed no message".toString()
        return result
    }
    def m = reference ? (reference =~ /@(sha256:[0-9a-f]{64})$/) : null
    if (m != null && m.find()) {
        result.digest = m.group(1)
    } else if (!dryRun) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = "imgpromote succeeded but did not print a digest-pinned reference (stdout: '${reference ?: ''}')".toString()
        return result
    }
    result.ok = true
    result.message = ''
    return result
}

/** Docker's rule: the first path component is a registry host if it has '.' or ':' or is localhost. */
@NonCPS
static boolean referenceHasHost(String ref) {
    String r = ref.startsWith('docker://') ? ref.substring('docker://'.length()) : ref
    int slash = r.indexOf('/')
    if (slash < 0) {
        return false
    }
    String first = r.substring(0, slash)
    return first.contains('.') || first.contains(':') || first == 'localhost'
}

@NonCPS
static boolean hasControlChars(String s) {
    return s.toCharArray().any { char c -> (c as int) < 0x20 || (c as int) == 0x7f }
}

/** The known key closest to a mistyped one (edit distance <= 3, or equal ignoring case). */
@NonCPS
static String closestKey(String key, List known) {
    String best = null
    int bestDistance = 4
    for (String k in known) {
        if (k.equalsIgnoreCase(key)) {
            return k
        }
        int d = editDistance(key.toLowerCase(), k.toLowerCase())
        if (d < bestDistance) {
            best = k
            bestDistance = d
        }
    }
    return best
}

@NonCPS
static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1]
    for (int j = 0; j <= b.length(); j++) prev[j] = j
    for (int i = 1; i <= a.length(); i++) {
        int[] cur = new int[b.length() + 1]
        cur[0] = i
        for (int j = 1; j <= b.length(); j++) {
            int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
            cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost)
        }
        prev = cur
    }
    return prev[b.length()]
}
