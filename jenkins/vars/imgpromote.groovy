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
    5: 'not-found', 6: 'network', 7: 'integrity', 127: 'not-installed',
]

@Field static final List CREDENTIAL_KINDS = ['auto', 'usernamePassword', 'secretText', 'usernameToken']

@Field static final List STRING_KEYS = [
    'source', 'destination', 'kubeconfig', 'platform', 'binary', 'container', 'label',
    'sourceClusterConfig', 'destinationClusterConfig',
    'sourceCluster', 'sourceContext', 'sourceRegistry', 'sourceCaFile', 'sourceCredentialsId', 'sourceCredentialsKind',
    'destinationCluster', 'destinationContext', 'destinationRegistry', 'destinationCaFile',
    'destinationCredentialsId', 'destinationCredentialsKind',
]
@Field static final List BOOLEAN_KEYS = [
    'dryRun', 'verbose', 'quiet', 'returnResult', 'sourceTlsVerify', 'destinationTlsVerify',
]
@Field static final List INTEGER_KEYS = ['jobs', 'retries']
// The CLI's own limits (imgpromote copy --jobs, --retries): checked here so a bad value fails first.
@Field static final Map INTEGER_RANGES = [jobs: [1, 64], retries: [0, 20]]
@Field static final List LIST_KEYS = ['extraArgs']

// The one shell script this step runs. POSIX sh (dash, bash, busybox), needs only coreutils.
// Reads: IMGPROMOTE_STEP_ARGC, IMGPROMOTE_STEP_ARG_0.., IMGPROMOTE_STEP_BIN,
// IMGPROMOTE_STEP_{SRC,DEST}_AUTH; the CLI itself reads the credential variables.
// imgpromote's stdout and stderr stream to the build log. The script's own stdout (what the step
// reads) is three lines the CLI's output cannot reach or break: "@@imgpromote-status N" from the
// exit status, "@@imgpromote-report B64" with the --report-file the CLI wrote, and
// "@@imgpromote-stderr B64" with the last lines of its stderr (for messages only), both base64.
// Always exits 0; the status is in those lines.
@Field static final String SCRIPT = '''#!/bin/sh
say() { printf '@@imgpromote-%s\\n' "$*"; }
fail() {
  printf 'imgpromote step: %s\\n' "$2" >&2
  say "status $1"
  say "stderr $(printf 'imgpromote step: %s\\n' "$2" | base64 | tr -d '\\n')"
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
[ "$#" -gt 0 ] || fail 1 'internal error: no imgpromote command'
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
sub=$1
shift
{ "$bin" "$sub" "--report-file=$d/report.json" "$@" </dev/null 2>&1; echo "$?" >"$d/rc"; } | tee "$d/err" >&2
rc=$(cat "$d/rc" 2>/dev/null)
case "$rc" in ''|*[!0-9]*) rc=1 ;; esac
say "status $rc"
if [ -f "$d/report.json" ]; then say "report $(base64 <"$d/report.json" | tr -d '\\n')"; fi
say "stderr $(tail -n 20 "$d/err" | base64 | tr -d '\\n')"
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
    // Variables holding bound secrets: scrubbed from everything carried out of withCredentials.
    List secretVars = []
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
            secretVars << (prefix + 'PASSWORD')
            envVars << (stepVar + '=password')
        } else if (kind == 'secretText') {
            bindings << string(credentialsId: s.id, variable: prefix + 'TOKEN')
            secretVars << (prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        } else { // usernameToken: a Username with password credential whose password is a token
            bindings << usernamePassword(credentialsId: s.id, usernameVariable: 'IMGPROMOTE_STEP_' + s.flag.toUpperCase() + '_UNUSED_USERNAME',
                                         passwordVariable: prefix + 'TOKEN')
            secretVars << (prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        }
    }

    // A cluster configuration of the OpenShift Client plugin names the API server (and whether TLS is
    // verified); its OpenShift Token credential cannot be bound by withCredentials (see README).
    Map resolved = new LinkedHashMap(args)
    for (String side in ['source', 'destination']) {
        String name = args[side + 'ClusterConfig']
        if (name) {
            Map cc = clusterConfiguration(side, name)
            resolved[side + 'Cluster'] = cc.url
            if (cc.skipTlsVerify) {
                resolved[side + 'TlsVerify'] = false
            }
        }
    }
    List argv = buildArgv(resolved)
    envVars << ('IMGPROMOTE_STEP_ARGC=' + argv.size())
    for (int i = 0; i < argv.size(); i++) {
        envVars << ('IMGPROMOTE_STEP_ARG_' + i + '=' + argv[i])
    }
    envVars << ('IMGPROMOTE_STEP_BIN=' + (args.binary ?: 'imgpromote'))

    String label = (args.label ?: ('imgpromote ' + args.source + ' -> ' + args.destination)) as String
    if (label.length() > 100) {
        label = label.substring(0, 97) + '...'
    }

    Map result = null
    Closure run = {
        String lines = null
        withEnv(envVars) {
            if (args.container) {
                container(args.container as String) {
                    lines = sh(script: SCRIPT, returnStdout: true, label: label)
                }
            } else {
                lines = sh(script: SCRIPT, returnStdout: true, label: label)
            }
        }
        // Still inside withCredentials: the secrets are known here and nowhere after.
        List secrets = []
        for (String name in secretVars) {
            String value = env[name]
            if (value) {
                secrets << value
            }
        }
        result = scrubSecrets(parseResult(lines, args.dryRun == true), secrets)
    }
    if (bindings) {
        withCredentials(bindings) { run() }
    } else {
        run()
    }

    if (args.returnResult == true) {
        return result
    }
    if (!result.ok) {
        error('imgpromote: promoting ' + args.source + ' to ' + args.destination + ' failed [' +
              result.exitClass + ', exit ' + result.exitCode + ']: ' + result.message)
    }
    return result.reference
}

/** The API server URL and TLS setting of an OpenShift Client plugin cluster configuration. */
Map clusterConfiguration(String side, String name) {
    def dsl
    try {
        dsl = openshift
    } catch (MissingPropertyException e) {
        error("imgpromote: ${side}ClusterConfig needs the OpenShift Client plugin (its 'openshift' global variable), " +
              "which this Jenkins does not have: give ${side}Cluster instead")
    }
    String url = null
    boolean insecure = false
    dsl.withCluster(name) {
        url = dsl.cluster()
        insecure = dsl.skipTLSVerify()
    }
    // withCluster takes a name it does not know for a URL: then cluster() gives the name back.
    if (!url || url == name || !(url ==~ /(?i)https?:\/\/\S+/)) {
        error("imgpromote: ${side}ClusterConfig '${name}' is not a cluster configuration of the OpenShift Client plugin " +
              "(Manage Jenkins > System > OpenShift Client Plugin > Cluster Configurations)")
    }
    return [url: url, skipTlsVerify: insecure]
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
        String hint = (first + ' ' + e.message).contains('OpenShift Token') ?
                '; an OpenShift Token credential cannot be bound by withCredentials: store the same token as a Secret text credential' : ''
        error("imgpromote: ${side}CredentialsId '${id}' is neither a usable Username with password " +
              "credential (${first}) nor a Secret text credential (${e.message})${hint}")
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
        List range = INTEGER_RANGES[key]
        if (v != null && !(v.toString() ==~ /\d{1,4}/ && (v instanceof Integer || v instanceof Long || v instanceof CharSequence)
                           && v.toString().toInteger() >= range[0] && v.toString().toInteger() <= range[1])) {
            problems << ("${key} must be a whole number from ${range[0]} to ${range[1]} (the CLI's limits), got '${v}'").toString()
        }
    }
    Object extra = args.extraArgs
    if (extra != null) {
        if (!(extra instanceof List) || extra.any { !(it instanceof CharSequence) || hasControlChars(it.toString()) }) {
            problems << 'extraArgs must be a list of strings without control characters'
        } else if (extra.any { it.toString().startsWith('--report-file') }) {
            problems << 'extraArgs must not contain --report-file: the step reads the outcome from its own report file (use returnResult: true for the details)'
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
        if (!referenceHasHost(ref) && !args[side + 'Cluster'] && !args[side + 'Context'] && !args[side + 'Registry']
                && !args[side + 'ClusterConfig']) {
            problems << ("${side} '${ref}' names no registry host: set ${side}Cluster, ${side}ClusterConfig, ${side}Context or ${side}Registry").toString()
        }
        if (args[side + 'ClusterConfig'] && (args[side + 'Cluster'] || args[side + 'Context'])) {
            problems << ("${side}ClusterConfig names the cluster already: drop ${side}Cluster and ${side}Context").toString()
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
        if (kind == 'usernameToken' && !args[side + 'Cluster'] && !args[side + 'Context'] && !args[side + 'ClusterConfig']) {
            problems << ("${side}CredentialsKind 'usernameToken' is for a cluster's API token, and ${side} names no cluster " +
                         "(${side}Cluster, ${side}ClusterConfig or ${side}Context): for a registry use usernamePassword (robot accounts, API keys " +
                         "and registry tokens that go with a user name) or secretText (a bearer token the registry accepts as is)").toString()
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

/**
 * Reads the script's three lines into [ok, exitCode, exitClass, reference, digest, message, stderr, report].
 * The outcome comes from the exit status and the report file only; stderr gives messages when the
 * CLI wrote no report (usage errors, a missing binary).
 */
@NonCPS
Map parseResult(String lines, boolean dryRun) {
    Integer code = null
    String reportText = null
    String stderrText = ''
    // The script prints exactly these prefixes followed by digits or base64: nothing else is read.
    for (String line in (lines ?: '').split('\n')) {
        if (line ==~ /@@imgpromote-status \d{1,3}/) {
            code = line.substring('@@imgpromote-status '.length()).toInteger()
        } else if (line ==~ /@@imgpromote-report [A-Za-z0-9+\/=]*/) {
            reportText = decodeBase64(line.substring('@@imgpromote-report '.length()))
        } else if (line ==~ /@@imgpromote-stderr [A-Za-z0-9+\/=]*/) {
            stderrText = decodeBase64(line.substring('@@imgpromote-stderr '.length()))
        }
    }
    List err = stderrText.split('\n').collect { it.endsWith('\r') ? it.substring(0, it.length() - 1) : it }
    if (err && err[-1] == '') {
        err = err.subList(0, err.size() - 1)
    }
    Map report = null
    if (reportText != null) {
        try {
            Object parsed = new groovy.json.JsonSlurperClassic().parseText(reportText)
            report = parsed instanceof Map ? (Map) parsed : null
        } catch (Exception e) {
            report = null
        }
    }
    Map result = [ok: false, exitCode: code, exitClass: null, reference: null, digest: null,
                  message: null, stderr: err, report: report]
    if (code == null) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = 'the step script reported no exit status (was the shell killed?)'
        return result
    }
    result.exitClass = EXIT_CLASSES[code] ?: 'failure'
    if (code != 0) {
        Object reported = report?.error instanceof Map ? report.error.message : null
        result.message = reported instanceof CharSequence && reported.toString().trim() ? reported.toString().trim()
                : (messageFromStderr(err) ?: "imgpromote exited with status ${code} and printed no message".toString())
        if (code == 2 && reported == null && result.message.contains("'--report-file")) {
            result.message += ' (the imgpromote on this agent predates --report-file, which this step needs: update the agent image or binary:)'
        }
        return result
    }
    Map destination = report?.destination instanceof Map ? (Map) report.destination : null
    String digest = destination?.digest instanceof CharSequence ? destination.digest.toString() : null
    String reference = destination?.reference instanceof CharSequence ? destination.reference.toString() : null
    if (report == null || report.error != null) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = 'imgpromote exited 0 but wrote no report (is the imgpromote on this agent older than the step? It needs --report-file)'
        return result
    }
    if (digest ==~ /sha256:[0-9a-f]{64}/ && reference) {
        result.digest = digest
        result.reference = pinned(reference, digest)
    } else if (!dryRun) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = "imgpromote succeeded but its report holds no destination digest (destination: ${destination})".toString()
        return result
    }
    result.ok = true
    result.message = ''
    return result
}

/** The line of imgpromote's stderr that says what went wrong (not the usage lines after it). */
@NonCPS
static String messageFromStderr(List lines) {
    List nonEmpty = lines.collect { it.toString().trim() }.findAll { it }
    String flagged = nonEmpty.reverse().find { it.startsWith('Error: ') || it.startsWith('imgpromote: ') || it.startsWith('imgpromote step: ') }
    if (flagged) {
        return flagged
    }
    List plain = nonEmpty.findAll { !it.startsWith('Usage: ') && !(it ==~ /See '.*' for more information\./) }
    return plain ? plain[-1] : (nonEmpty ? nonEmpty[-1] : null)
}

/** HOST/REPO:TAG (or HOST/REPO@DIGEST) + digest -> HOST/REPO@digest. */
@NonCPS
static String pinned(String reference, String digest) {
    String r = reference.startsWith('docker://') ? reference.substring('docker://'.length()) : reference
    int at = r.indexOf('@')
    if (at >= 0) {
        r = r.substring(0, at)
    }
    int slash = r.lastIndexOf('/')
    int colon = r.indexOf(':', slash + 1)
    return (colon > slash ? r.substring(0, colon) : r) + '@' + digest
}

@NonCPS
static String decodeBase64(String text) {
    return new String(text.decodeBase64(), 'UTF-8')
}

/** Replaces every bound secret (longest first) in every string of the result (message, stderr lines, report). */
@NonCPS
static Map scrubSecrets(Map result, List secrets) {
    List ordered = secrets.collect { it.toString() }.sort { a, b -> b.length() <=> a.length() }
    return (Map) scrub(result, ordered)
}

@NonCPS
static Object scrub(Object value, List secrets) {
    if (value instanceof CharSequence) {
        String s = value.toString()
        for (Object secret in secrets) {
            if (secret) {
                s = s.replace(secret.toString(), '****')
            }
        }
        return s
    }
    if (value instanceof Map) {
        Map out = [:]
        value.each { k, v -> out[k] = scrub(v, secrets) }
        return out
    }
    if (value instanceof List) {
        return value.collect { scrub(it, secrets) }
    }
    return value
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
