// imgpromote: promote a container image between OpenShift clusters with the imgpromote CLI
// (mode 'copy'), within one cluster through the image stream API (mode 'tag'), or a whole
// release from a promotion file or lock (modes 'promote', 'plan', 'apply').
// Parameter reference: imgpromote.txt beside this file. Tests: ../test/.
//
// Rules this file keeps (the tests enforce them):
//  * Secrets are bound only by withCredentials, straight into the variables the CLI reads
//    (IMGPROMOTE_{SRC,DEST}_{USERNAME,PASSWORD,TOKEN}; for tag IMGPROMOTE_{USERNAME,PASSWORD,TOKEN}).
//    They never enter a Groovy string or argv.
//  * Every other value reaches the shell through withEnv, as IMGPROMOTE_STEP_ARG_<n>.
//  * The shell script is the constant SCRIPT: no Groovy interpolation, so no shell injection.

import groovy.transform.Field

// Exit status of imgpromote (see the CLI contract) -> class name given to the caller.
@Field static final Map EXIT_CLASSES = [
    0: 'ok', 1: 'failure', 2: 'usage', 3: 'auth', 4: 'permission',
    5: 'not-found', 6: 'network', 7: 'integrity', 8: 'policy', 127: 'not-installed',
]

// What the step runs: the imgpromote command of the same name.
@Field static final List MODES = ['copy', 'tag', 'promote', 'plan', 'apply']
@Field static final List RELEASE_MODES = ['promote', 'plan', 'apply']
// Flags the step passes itself in a release (or that have a parameter): not allowed in extraArgs.
@Field static final List RELEASE_OWN_FLAGS = ['--junit', '--shard', '--fail-fast', '--file', '--output', '-f', '-o']

@Field static final List CREDENTIAL_KINDS = ['auto', 'usernamePassword', 'secretText', 'usernameToken']

@Field static final List STRING_KEYS = [
    'source', 'destination', 'kubeconfig', 'platform', 'binary', 'container', 'label',
    'sourceClusterConfig', 'destinationClusterConfig',
    'sourceCluster', 'sourceContext', 'sourceRegistry', 'sourceCaFile', 'sourceCredentialsId', 'sourceCredentialsKind',
    'destinationCluster', 'destinationContext', 'destinationRegistry', 'destinationCaFile',
    'destinationCredentialsId', 'destinationCredentialsKind',
    'mode', 'referencePolicy', 'file', 'lock', 'junit', 'shard',
    'cluster', 'clusterConfig', 'context', 'caFile', 'credentialsId', 'credentialsKind',
]
@Field static final List BOOLEAN_KEYS = [
    'dryRun', 'verbose', 'quiet', 'returnResult', 'sourceTlsVerify', 'destinationTlsVerify', 'tlsVerify',
    'failFast', 'publishJunit',
]
@Field static final List INTEGER_KEYS = ['jobs', 'retries']
// The CLI's own limits (imgpromote copy --jobs, --retries): checked here so a bad value fails first.
@Field static final Map INTEGER_RANGES = [jobs: [1, 64], retries: [0, 20]]
@Field static final List LIST_KEYS = ['extraArgs']

// Keys of each kind of side: a copy has a source and a destination side; a tag one cluster.
@Field static final List SIDE_KEY_SUFFIXES = [
    'Cluster', 'ClusterConfig', 'Context', 'Registry', 'CaFile', 'TlsVerify', 'CredentialsId', 'CredentialsKind',
]
@Field static final List CLUSTER_KEYS = ['cluster', 'clusterConfig', 'context', 'caFile', 'tlsVerify', 'credentialsId', 'credentialsKind']
@Field static final List COMMON_KEYS = [
    'mode', 'kubeconfig', 'retries', 'verbose', 'quiet', 'extraArgs', 'container', 'binary', 'label', 'returnResult',
]
// The one shell script this step runs. POSIX sh (dash, bash, busybox), needs only coreutils.
// Reads: IMGPROMOTE_STEP_ARGC, IMGPROMOTE_STEP_ARG_0.., IMGPROMOTE_STEP_BIN,
// IMGPROMOTE_STEP_{SRC,DEST}_AUTH, IMGPROMOTE_STEP_AUTH; the CLI itself reads the credential variables.
// Every command (copy, tag, promote, plan, apply) gets --report-file=TMP/report.json right after the
// subcommand; imgpromote's stdout and stderr stream to the build log. The script's own stdout (what
// the step reads) is lines the CLI's output cannot reach or break: "@@imgpromote-status N" from the
// exit status, "@@imgpromote-report B64" with the report file when the CLI wrote one, and
// "@@imgpromote-stderr B64" with the last lines of its stderr (for messages only).
// Payloads are base64. Always exits 0; the status is in those lines.
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
case "${IMGPROMOTE_STEP_AUTH-}" in
  password) unset IMGPROMOTE_TOKEN ;;
  token) unset IMGPROMOTE_USERNAME IMGPROMOTE_PASSWORD ;;
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
 * mode 'copy' (default): promotes args.source to args.destination with imgpromote copy.
 * mode 'tag': points args.destination at args.source's image on one cluster (imgpromote tag).
 * Both return the digest-pinned destination reference (HOST/REPO@sha256:...).
 * modes 'promote' (args.file), 'plan' (args.file -> args.lock), 'apply' (args.lock): a release;
 * return the list of per-image result Maps (from the CLI's report file, its --json object).
 * With returnResult: true a Map describing the outcome instead. A failure fails the build (error)
 * unless returnResult is true.
 */
def call(Map args = [:]) {
    List problems = validate(args)
    if (problems) {
        error("imgpromote: invalid parameters:\n  - " + problems.join('\n  - '))
    }
    String mode = modeOf(args)

    List bindings = []
    List envVars = []
    // Variables holding bound secrets: scrubbed from everything carried out of withCredentials.
    List secretVars = []
    for (Map s in sidesOf(mode)) {
        String id = args[key(s.key, 'CredentialsId')]
        if (!id) {
            continue
        }
        String kindKey = key(s.key, 'CredentialsKind')
        String kind = (args[kindKey] ?: 'auto') == 'auto' ? detectCredentialsKind(key(s.key, 'CredentialsId'), id) : args[kindKey]
        String prefix = s.envPrefix
        String stepVar = s.stepVar
        if (kind == 'usernamePassword') {
            bindings << usernamePassword(credentialsId: id, usernameVariable: prefix + 'USERNAME',
                                         passwordVariable: prefix + 'PASSWORD')
            secretVars << (prefix + 'PASSWORD')
            envVars << (stepVar + '=password')
        } else if (kind == 'secretText') {
            bindings << string(credentialsId: id, variable: prefix + 'TOKEN')
            secretVars << (prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        } else { // usernameToken: a Username with password credential whose password is a token
            bindings << usernamePassword(credentialsId: id, usernameVariable: stepVar.replace('_AUTH', '_UNUSED_USERNAME'),
                                         passwordVariable: prefix + 'TOKEN')
            secretVars << (prefix + 'TOKEN')
            envVars << (stepVar + '=token')
        }
    }

    // A cluster configuration of the OpenShift Client plugin names the API server (and whether TLS is
    // verified); its OpenShift Token credential cannot be bound by withCredentials (see README).
    Map resolved = new LinkedHashMap(args)
    for (Map s in sidesOf(mode)) {
        String name = args[key(s.key, 'ClusterConfig')]
        if (name) {
            Map cc = clusterConfiguration(key(s.key, 'ClusterConfig'), name)
            resolved[key(s.key, 'Cluster')] = cc.url
            if (cc.skipTlsVerify) {
                resolved[key(s.key, 'TlsVerify')] = false
            }
        }
    }
    List argv = mode == 'tag' ? buildTagArgv(resolved) : (mode in RELEASE_MODES ? buildReleaseArgv(resolved, mode) : buildArgv(resolved))
    envVars << ('IMGPROMOTE_STEP_ARGC=' + argv.size())
    for (int i = 0; i < argv.size(); i++) {
        envVars << ('IMGPROMOTE_STEP_ARG_' + i + '=' + argv[i])
    }
    envVars << ('IMGPROMOTE_STEP_BIN=' + (args.binary ?: 'imgpromote'))

    String label = (args.label ?: defaultLabel(mode, args)) as String
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
        Map outcome = parseLines(lines)
        Map parsed = mode == 'tag' ? tagResult(outcome, args.destination as String) :
                (mode in RELEASE_MODES ? releaseResult(outcome, mode) : copyResult(outcome, args.dryRun == true))
        result = scrubSecrets(parsed, secrets)
    }
    if (bindings) {
        withCredentials(bindings) { run() }
    } else {
        run()
    }

    if (mode in RELEASE_MODES) {
        // The JUnit file (one test case per image) exists once the CLI got as far as its --json report.
        if (args.publishJunit == true && result.images) {
            junit(testResults: args.junit as String)
        }
        result.lock = mode == 'apply' || (mode == 'plan' && result.ok) ? args.lock : null
        result.junit = result.images != null ? args.junit : null
    }
    if (args.returnResult == true) {
        return result
    }
    if (!result.ok) {
        error('imgpromote: ' + describe(mode, args) + ' failed [' + result.exitClass + ', exit ' + result.exitCode + ']: ' + result.message)
    }
    return mode in RELEASE_MODES ? result.images : result.reference
}

/** What the step does, for its failure message. */
@NonCPS
static String describe(String mode, Map args) {
    String shard = args.shard ? ' (shard ' + args.shard + ')' : ''
    switch (mode) {
        case 'tag': return 'tagging ' + args.source + ' to ' + args.destination
        case 'promote': return 'promote ' + args.file + shard
        case 'plan': return 'plan ' + args.file + shard
        case 'apply': return 'apply ' + args.lock + shard
        default: return 'promoting ' + args.source + ' to ' + args.destination
    }
}

/** The step's label in the build log (cut to 100 characters by the caller). */
@NonCPS
static String defaultLabel(String mode, Map args) {
    String shard = args.shard ? ' (shard ' + args.shard + ')' : ''
    switch (mode) {
        case 'tag': return 'imgpromote tag ' + args.source + ' -> ' + args.destination
        case 'promote': return 'imgpromote promote ' + args.file + shard
        case 'plan': return 'imgpromote plan ' + args.file + ' -> ' + args.lock + shard
        case 'apply': return 'imgpromote apply ' + args.lock + shard
        default: return 'imgpromote ' + args.source + ' -> ' + args.destination
    }
}

/** The parameters each mode takes (the options of that imgpromote command). */
@NonCPS
List modeKeys(String mode) {
    if (mode == 'tag') {
        return COMMON_KEYS + ['source', 'destination', 'referencePolicy'] + CLUSTER_KEYS
    }
    List sides = []
    for (String side in ['source', 'destination']) {
        for (String suffix in SIDE_KEY_SUFFIXES) {
            sides << side + suffix
        }
    }
    if (mode in RELEASE_MODES) {
        List release = ['jobs', 'dryRun', 'shard', 'failFast', 'junit', 'publishJunit']
        release += mode == 'promote' ? ['file'] : (mode == 'plan' ? ['file', 'lock'] : ['lock'])
        return COMMON_KEYS + release + sides
    }
    return COMMON_KEYS + ['source', 'destination', 'platform', 'jobs', 'dryRun'] + sides
}

/** mode, else promote for a file, apply for a lock, copy otherwise (validate has checked it). */
@NonCPS
static String modeOf(Map args) {
    if (args.mode) {
        return args.mode as String
    }
    return args.file ? 'promote' : (args.lock ? 'apply' : 'copy')
}

/** The credential sides of a mode: key prefix, the CLI's variable prefix, the script's auth switch. */
@NonCPS
static List sidesOf(String mode) {
    if (mode == 'tag') {
        return [[key: '', envPrefix: 'IMGPROMOTE_', stepVar: 'IMGPROMOTE_STEP_AUTH']]
    }
    return [[key: 'source', envPrefix: 'IMGPROMOTE_SRC_', stepVar: 'IMGPROMOTE_STEP_SRC_AUTH'],
            [key: 'destination', envPrefix: 'IMGPROMOTE_DEST_', stepVar: 'IMGPROMOTE_STEP_DEST_AUTH']]
}

/** sourceCluster for ('source', 'Cluster'); cluster for ('', 'Cluster'). */
@NonCPS
static String key(String prefix, String suffix) {
    return prefix ? prefix + suffix : suffix.substring(0, 1).toLowerCase() + suffix.substring(1)
}

/** The API server URL and TLS setting of an OpenShift Client plugin cluster configuration. */
Map clusterConfiguration(String configKey, String name) {
    String clusterKey = configKey.replace('ClusterConfig', 'Cluster').replace('clusterConfig', 'cluster')
    def dsl
    try {
        dsl = openshift
    } catch (MissingPropertyException e) {
        error("imgpromote: ${configKey} needs the OpenShift Client plugin (its 'openshift' global variable), " +
              "which this Jenkins does not have: give ${clusterKey} instead")
    }
    String url = null
    boolean insecure = false
    dsl.withCluster(name) {
        url = dsl.cluster()
        insecure = dsl.skipTLSVerify()
    }
    // withCluster takes a name it does not know for a URL: then cluster() gives the name back.
    if (!url || url == name || !(url ==~ /(?i)https?:\/\/\S+/)) {
        error("imgpromote: ${configKey} '${name}' is not a cluster configuration of the OpenShift Client plugin " +
              "(Manage Jenkins > System > OpenShift Client Plugin > Cluster Configurations)")
    }
    return [url: url, skipTlsVerify: insecure]
}

/** Tries the credential as Username with password, then as Secret text; returns the kind. */
String detectCredentialsKind(String idKey, String id) {
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
        error("imgpromote: ${idKey} '${id}' is neither a usable Username with password " +
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
    if (args.mode != null && !(args.mode in MODES)) {
        return ["mode must be one of ${MODES.join(', ')}; got '${args.mode}'".toString()]
    }
    if (!args.mode && args.file && args.lock) {
        return ["file and lock together: set mode: 'plan' to resolve the file and write the lock there " +
                "(mode 'apply' takes lock alone, mode 'promote' file alone)"]
    }
    String mode = modeOf(args)
    for (Object k in args.keySet()) {
        if (k in known && !(k in modeKeys(mode))) {
            problems << notForMode(k as String, mode)
        }
    }
    if (!problems.isEmpty()) {
        return problems
    }

    if (mode == 'tag') {
        problems.addAll(tagProblems(args))
    } else if (mode in RELEASE_MODES) {
        problems.addAll(releaseProblems(args, mode))
    } else {
        for (String side in ['source', 'destination']) {
            String ref = args[side]
            if (!ref) {
                problems << ("${side} is required (an image reference such as 'dev/app:1.4' or 'registry.example.com/dev/app:1.4')").toString()
            } else if (ref.startsWith('-') || ref =~ /\s/) {
                problems << ("${side} '${ref}' is not an image reference").toString()
            } else if (!referenceHasHost(ref) && !args[side + 'Cluster'] && !args[side + 'Context'] && !args[side + 'Registry']
                    && !args[side + 'ClusterConfig']) {
                problems << ("${side} '${ref}' names no registry host: set ${side}Cluster, ${side}ClusterConfig, ${side}Context or ${side}Registry").toString()
            }
            problems.addAll(sideProblems(args, side))
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

/** Why a known parameter does not fit the mode, and what to use instead. */
@NonCPS
String notForMode(String k, String mode) {
    if (mode in RELEASE_MODES && k in ['source', 'destination', 'platform']) {
        return "${k} does not apply to mode '${mode}': the images (and per image a platform) come from the ${mode == 'apply' ? 'lock' : 'promotion file'}".toString()
    }
    if (k in ['file', 'lock', 'shard', 'failFast', 'junit', 'publishJunit']) {
        return "${k} is for a release (mode: 'promote' with file, 'plan' with file and lock, 'apply' with lock), not mode '${mode}'".toString()
    }
    if (mode == 'tag') {
        if (k ==~ /(source|destination)Credentials(Id|Kind)/) {
            return "${k} does not apply to mode 'tag': a tag moves no bytes and needs no registry credentials; " +
                   "give the cluster's credential as credentialsId".toString()
        }
        if (k ==~ /(source|destination)Registry/) {
            return "${k} does not apply to mode 'tag': a tag talks to the cluster's API only, not to a registry".toString()
        }
        String suffix = k.replaceFirst(/^(source|destination)/, '')
        if (suffix != k) {
            String instead = key('', suffix)
            return "${k} does not apply to mode 'tag': a tag works on one cluster, named by cluster, clusterConfig or context" +
                   (instead in CLUSTER_KEYS ? " (use ${instead})" : '').toString()
        }
        return "${k} does not apply to mode 'tag' (imgpromote tag has no such option)".toString()
    }
    if (k in CLUSTER_KEYS) {
        return "${k} is for mode: 'tag' (one cluster); a ${mode} has two sides: use source${k.capitalize()} / destination${k.capitalize()}".toString()
    }
    if (k == 'referencePolicy') {
        return "referencePolicy is for mode: 'tag'".toString()
    }
    return "${k} does not apply to mode '${mode}'".toString()
}

/** Checks of one side's cluster keys: prefix 'source', 'destination', or '' (tag's one cluster). */
@NonCPS
List sideProblems(Map args, String prefix) {
    List problems = []
    String cluster = key(prefix, 'Cluster'), config = key(prefix, 'ClusterConfig'), context = key(prefix, 'Context')
    String idKey = key(prefix, 'CredentialsId'), kindKey = key(prefix, 'CredentialsKind')
    if (args[config] && (args[cluster] || args[context])) {
        problems << ("${config} names the cluster already: drop ${cluster} and ${context}").toString()
    }
    String url = args[cluster]
    if (url && !(url ==~ /(?i)https?:\/\/[^\s\/]+(\/\S*)?/)) {
        problems << ("${cluster} must be the API server URL (https://api.example.com:6443), got '${url}'").toString()
    }
    String kind = args[kindKey]
    if (kind && !(kind in CREDENTIAL_KINDS)) {
        problems << ("${kindKey} must be one of ${CREDENTIAL_KINDS.join(', ')}; got '${kind}'").toString()
    }
    if (kind && !args[idKey]) {
        problems << ("${kindKey} is set but ${idKey} is not").toString()
    }
    if (prefix && kind == 'usernameToken' && !args[cluster] && !args[context] && !args[config]) {
        problems << ("${kindKey} 'usernameToken' is for a cluster's API token, and ${prefix} names no cluster " +
                     "(${cluster}, ${config} or ${context}): for a registry use usernamePassword (robot accounts, API keys " +
                     "and registry tokens that go with a user name) or secretText (a bearer token the registry accepts as is)").toString()
    }
    return problems
}

/** mode 'tag': PROJECT/NAME references on one cluster, the cluster named, a known reference policy. */
@NonCPS
List tagProblems(Map args) {
    List problems = []
    String tag = /:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}/
    Map forms = [source: [/[^\/\s@:]+\/[^\/\s@:]+(${tag}|@sha256:[0-9a-f]{64})/, 'PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX'],
                 destination: [/[^\/\s@:]+\/[^\/\s@:]+${tag}/, 'PROJECT/NAME:TAG']]
    for (String side in ['source', 'destination']) {
        String ref = args[side]
        if (!ref) {
            problems << ("${side} is required (${forms[side][1]}, e.g. 'shop-stage/app:1.4')").toString()
        } else if (ref.startsWith('-') || !(ref ==~ forms[side][0])) {
            problems << ("${side} '${ref}' must be ${forms[side][1]}: a tag works within one cluster, so no registry host").toString()
        }
    }
    if (!args.cluster && !args.clusterConfig && !args.context) {
        problems << 'mode tag needs its cluster: set cluster (API server URL), clusterConfig or context'
    }
    if (args.referencePolicy != null && !(args.referencePolicy in ['source', 'local'])) {
        problems << ("referencePolicy must be source or local, got '${args.referencePolicy}'").toString()
    }
    problems.addAll(sideProblems(args, ''))
    return problems
}

/** modes promote, plan, apply: the file and lock paths, shard, JUnit, both sides. */
@NonCPS
List releaseProblems(Map args, String mode) {
    List problems = []
    Map what = [file: 'a promotion file or oc image mirror mapping file in the workspace, e.g. release.yaml',
                lock: mode == 'plan' ? 'where plan writes the lock, e.g. release.lock.json' : 'a lock written by mode plan, e.g. release.lock.json']
    for (String k in (mode == 'promote' ? ['file'] : (mode == 'plan' ? ['file', 'lock'] : ['lock']))) {
        String path = args[k]
        if (!path) {
            problems << ("mode ${mode} needs ${k}: ${what[k]}").toString()
        } else if (path.startsWith('-')) {
            problems << ("${k} '${path}' must not start with '-' (write ./${path})").toString()
        }
    }
    if (mode == 'plan' && args.file && args.file == args.lock) {
        problems << 'lock must not be the promotion file itself'
    }
    if (args.shard != null) {
        def m = args.shard.toString() =~ /^(\d{1,4})\/(\d{1,4})$/
        if (!m.find() || m.group(1).toInteger() < 1 || m.group(1).toInteger() > m.group(2).toInteger()) {
            problems << ("shard must be 'I/N' with 1 <= I <= N (e.g. '2/4', as --shard), got '${args.shard}'").toString()
        }
    }
    if (args.junit && args.junit.toString().startsWith('-')) {
        problems << ("junit '${args.junit}' must not start with '-' (write ./${args.junit})").toString()
    }
    if (args.publishJunit == true && !args.junit) {
        problems << 'publishJunit needs junit: the file imgpromote writes (e.g. imgpromote-release.xml)'
    }
    if (args.publishJunit == true && args.junit && args.junit =~ /[*?,]/) {
        problems << ("junit '${args.junit}' must be one file name, not a pattern (the junit step would read other files too)").toString()
    }
    for (Object a in (args.extraArgs ?: [])) {
        String flag = a.toString().split('=', 2)[0]
        if (flag in RELEASE_OWN_FLAGS) {
            problems << ("extraArgs must not contain ${flag}: the step has parameters for it " +
                         '(file, lock, junit, shard, failFast)').toString()
        }
    }
    for (String side in ['source', 'destination']) {
        problems.addAll(sideProblems(args, side))
    }
    return problems
}

/** --src-... and --dest-... options of both sides (copy and the release commands take the same). */
@NonCPS
static List sideFlags(Map args) {
    List argv = []
    Map flags = [source: 'src', destination: 'dest']
    for (String side in ['source', 'destination']) {
        String f = flags[side]
        if (args[side + 'Cluster']) argv << ("--${f}-cluster=" + args[side + 'Cluster']).toString()
        if (args[side + 'Context']) argv << ("--${f}-context=" + args[side + 'Context']).toString()
        if (args[side + 'Registry']) argv << ("--${f}-registry=" + args[side + 'Registry']).toString()
        if (args[side + 'CaFile']) argv << ("--${f}-ca-file=" + args[side + 'CaFile']).toString()
        if (args[side + 'TlsVerify'] == false) argv << ("--${f}-tls-verify=false").toString()
    }
    return argv
}

/** imgpromote promote|plan|apply: both sides as copy, the release options, --json, then the lock for apply. */
@NonCPS
List buildReleaseArgv(Map args, String mode) {
    List argv = [mode]
    if (args.kubeconfig) argv << ('--kubeconfig=' + args.kubeconfig)
    if (args.jobs != null) argv << ('--jobs=' + args.jobs.toString().toInteger())
    if (args.retries != null) argv << ('--retries=' + args.retries.toString().toInteger())
    if (args.dryRun == true) argv << '--dry-run'
    if (args.verbose == true) argv << '--verbose'
    if (args.quiet == true) argv << '--quiet'
    argv.addAll(sideFlags(args))
    if (args.shard) argv << ('--shard=' + args.shard)
    if (args.failFast == true) argv << '--fail-fast'
    if (args.junit) argv << ('--junit=' + args.junit)
    if (mode != 'apply') argv << ('--file=' + args.file)
    if (mode == 'plan') argv << ('--output=' + args.lock)
    for (Object a in (args.extraArgs ?: [])) {
        argv << a.toString()
    }
    if (mode == 'apply') argv << args.lock.toString()
    return argv
}

/** imgpromote tag's argv: one cluster (unprefixed side options), then SOURCE DESTINATION. */
@NonCPS
List buildTagArgv(Map args) {
    List argv = ['tag']
    if (args.kubeconfig) argv << ('--kubeconfig=' + args.kubeconfig)
    if (args.retries != null) argv << ('--retries=' + args.retries.toString().toInteger())
    if (args.verbose == true) argv << '--verbose'
    if (args.quiet == true) argv << '--quiet'
    if (args.cluster) argv << ('--cluster=' + args.cluster)
    if (args.context) argv << ('--context=' + args.context)
    if (args.caFile) argv << ('--ca-file=' + args.caFile)
    if (args.tlsVerify == false) argv << '--tls-verify=false'
    if (args.referencePolicy) argv << ('--reference-policy=' + args.referencePolicy)
    for (Object a in (args.extraArgs ?: [])) {
        argv << a.toString()
    }
    argv << args.source.toString()
    argv << args.destination.toString()
    return argv
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
    argv.addAll(sideFlags(args))
    for (Object a in (args.extraArgs ?: [])) {
        argv << a.toString()
    }
    argv << args.source.toString()
    argv << args.destination.toString()
    return argv
}

/**
 * The script's own lines: [code (null if none), report (text or null), stderr (lines)].
 * Only the exact shapes the script prints are read: a prefix followed by digits or base64.
 */
@NonCPS
Map parseLines(String lines) {
    Integer code = null
    String reportText = null
    String stderrText = ''
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
    return [code: code, report: reportText, stderr: err]
}

/** [ok, exitCode, exitClass, message, stderr] from the status, before the mode reads its outcome. */
@NonCPS
Map baseResult(Map outcome) {
    Integer code = outcome.code
    Map result = [ok: false, exitCode: code, exitClass: null, message: null, stderr: outcome.stderr]
    if (code == null) {
        result.exitCode = 1
        result.exitClass = EXIT_CLASSES[1]
        result.message = 'the step script reported no exit status (was the shell killed?)'
        return result
    }
    result.exitClass = EXIT_CLASSES[code] ?: 'failure'
    if (code != 0) {
        result.message = messageFromStderr(outcome.stderr) ?: "imgpromote exited with status ${code} and printed no message".toString()
    }
    return result
}

/** Marks a result failed (exit 1) with a message. */
@NonCPS
Map failed(Map result, String message) {
    result.ok = false
    result.exitCode = 1
    result.exitClass = EXIT_CLASSES[1]
    result.message = message
    return result
}

/** The report file as a Map: one whole JSON object, else null (missing, not JSON, or text after it). */
@NonCPS
static Map parseReport(Map outcome) {
    String text = outcome.report as String
    if (!text?.trim() || !isOneJsonValue(text)) {
        return null
    }
    try {
        Object parsed = new groovy.json.JsonSlurperClassic().parseText(text)
        return parsed instanceof Map ? (Map) parsed : null
    } catch (Exception e) {
        return null
    }
}

/**
 * A failed run's message: the report's error.message when the CLI wrote one (stderr also carries
 * text relayed from elsewhere), else stderr's; with a hint when the agent's imgpromote is too old.
 */
@NonCPS
static String failureMessage(Map result, Map outcome, Map report, String mode) {
    Object reported = report?.error instanceof Map ? report.error.message : null
    if (reported instanceof CharSequence && reported.toString().trim()) {
        return reported.toString().trim()
    }
    String message = result.message
    if (outcome.code == 2 && report == null) {
        if (mode != 'copy' && unknownCommand(outcome.stderr, mode)) {
            message += " (the imgpromote on this agent predates the ${mode} command: update the agent image or binary:)".toString()
        } else if (message.contains("'--report-file")) {
            message += (mode == 'copy' ? ' (the imgpromote on this agent predates --report-file, which this step needs: update the agent image or binary:)'
                    : " (the imgpromote on this agent predates ${mode} --report-file, which this step needs: update the agent image or binary:)").toString()
        }
    }
    return message
}

/**
 * What copy and tag return before the report is read for success: [ok: false, exitCode, exitClass,
 * reference: null, digest: null, message, stderr, report], the message already the failure's when
 * imgpromote failed (or reported no exit status).
 */
@NonCPS
Map singleImageResult(Map outcome, Map report, String mode) {
    Map base = baseResult(outcome)
    Map result = [ok: false, exitCode: base.exitCode, exitClass: base.exitClass, reference: null, digest: null,
                  message: base.message, stderr: base.stderr, report: report]
    if (outcome.code != null && outcome.code != 0) {
        result.message = failureMessage(result, outcome, report, mode)
    }
    return result
}

/**
 * copy: [ok, exitCode, exitClass, reference, digest, message, stderr, report]. The outcome comes
 * from the exit status and the report file only; stderr gives messages when the CLI wrote no
 * report (usage errors, a missing binary).
 */
@NonCPS
Map copyResult(Map outcome, boolean dryRun) {
    Map report = parseReport(outcome)
    Map result = singleImageResult(outcome, report, 'copy')
    if (outcome.code != 0) {
        return result
    }
    Map destination = report?.destination instanceof Map ? (Map) report.destination : null
    String digest = destination?.digest instanceof CharSequence ? destination.digest.toString() : null
    String reference = destination?.reference instanceof CharSequence ? destination.reference.toString() : null
    if (report == null || report.error != null) {
        return failed(result, 'imgpromote exited 0 but wrote no report (is the imgpromote on this agent older than the step? It needs --report-file)')
    }
    if (digest ==~ /sha256:[0-9a-f]{64}/ && reference) {
        result.digest = digest
        result.reference = pinned(reference, digest)
    } else if (!dryRun) {
        return failed(result, "imgpromote succeeded but its report holds no destination digest (destination: ${destination})".toString())
    }
    result.ok = true
    result.message = ''
    return result
}

/**
 * tag: [ok, exitCode, exitClass, reference, digest, message, stderr, report]. On success the report
 * file's `pinned` is HOST/PROJECT/NAME@sha256:HEX for the destination's PROJECT/NAME, and its
 * destination.digest the same digest; anything else is a failure.
 */
@NonCPS
Map tagResult(Map outcome, String destination) {
    Map report = parseReport(outcome)
    Map result = singleImageResult(outcome, report, 'tag')
    if (outcome.code != 0) {
        return result
    }
    if (report == null || report.error != null) {
        return failed(result, 'imgpromote tag exited 0 but wrote no report (is the imgpromote on this agent older than the step? It needs tag --report-file)')
    }
    String repository = destination.substring(0, destination.lastIndexOf(':'))
    String line = text(report.pinned) ?: ''
    String digest = report.destination instanceof Map ? text(report.destination.digest) : null
    String shape = /[A-Za-z0-9.\-]+(:[0-9]+)?\// + java.util.regex.Pattern.quote(repository) + /@sha256:[0-9a-f]{64}/
    if (!(line ==~ shape) || !line.endsWith('@' + digest)) {
        String shown = line.length() > 200 ? line.substring(0, 200) + '...' : line
        return failed(result, ("imgpromote tag exited 0 but its report does not pin the destination HOST/${repository}@sha256:... " +
                               "(pinned '${shown}', digest ${digest})").toString())
    }
    result.ok = true
    result.message = ''
    result.reference = line
    result.digest = digest
    return result
}

/**
 * promote / plan / apply: [ok, exitCode, exitClass, message, stderr, images, report]. The report
 * file is the --json object (images: [...]) whenever the CLI reported on the images, also when some
 * failed; {"error": ...} when it stopped before (a file it could not read, a refused login).
 * images: one Map per image (imageResult). Exit 0 needs every image promoted, present or planned;
 * a failure's message is the first failed image's, as the CLI puts it.
 */
@NonCPS
Map releaseResult(Map outcome, String mode) {
    Map report = parseReport(outcome)
    Map base = baseResult(outcome)
    Map result = [ok: false, exitCode: base.exitCode, exitClass: base.exitClass, message: base.message, stderr: base.stderr,
                  images: null, report: report]
    if (report?.images instanceof List && report.images.every { it instanceof Map }) {
        result.images = report.images.collect { imageResult((Map) it) }
    }
    if (outcome.code == null) {
        return result
    }
    List images = result.images
    List bad = images == null ? [] : images.findAll { !it.ok }
    if (outcome.code != 0) {
        if (bad) {
            Map first = bad.find { it.status == 'failed' } ?: bad[0]
            result.message = "${bad.size()} of ${images.size()} image(s) failed; first: ${first.name}: ${first.message}".toString()
        } else {
            result.message = failureMessage(result, outcome, report, mode)
        }
        return result
    }
    if (images == null) {
        String shown = report == null ? 'no report' : "'" + groovy.json.JsonOutput.toJson(report).take(200) + "'"
        return failed(result, "imgpromote ${mode} exited 0 but its report file is not the per-image report (got ${shown})".toString())
    }
    if (bad) {
        return failed(result, "imgpromote ${mode} exited 0 but ${bad.size()} image(s) are not done: ".toString() +
                              bad.collect { "${it.name} (${it.status})" }.join(', '))
    }
    result.ok = true
    result.message = ''
    return result
}

/**
 * One image of the --json report: [name, status, ok, reference, digest, source, sourceDigest, tags,
 * exitCode, exitClass, message, blobs, bytes, seconds, report]. reference is the digest-pinned
 * destination; status promoted | present | planned | failed | cancelled (by failFast).
 */
@NonCPS
Map imageResult(Map image) {
    String status = text(image.status)
    boolean ok = status in ['promoted', 'present', 'planned']
    Map error = image.error instanceof Map ? (Map) image.error : null
    Integer code = ok ? 0 : (error?.exitCode instanceof Number ? (error.exitCode as Integer) : 1)
    String reference = text(image.pinned)
    String digest = reference?.contains('@') ? reference.substring(reference.lastIndexOf('@') + 1) : null
    Map source = image.source instanceof Map ? (Map) image.source : [:]
    return [name: text(image.name), status: status, ok: ok,
            reference: digest ==~ /sha256:[0-9a-f]{64}/ ? reference : null, digest: digest ==~ /sha256:[0-9a-f]{64}/ ? digest : null,
            source: text(source.reference), sourceDigest: text(source.digest),
            tags: image.tags instanceof List ? image.tags.collect { it.toString() } : [],
            exitCode: code, exitClass: EXIT_CLASSES[code] ?: 'failure',
            message: ok ? '' : (text(error?.message) ?: "image ${status}".toString()),
            blobs: image.blobs instanceof Map ? image.blobs : null, bytes: image.bytes instanceof Map ? image.bytes : null,
            seconds: image.seconds instanceof Number ? image.seconds : null, report: image]
}

/**
 * An imgpromote without this subcommand: ArgumentParser answers with the root usage line (after
 * "Unknown option '--x'" for the first option, or "Unexpected argument 'promote'" without options).
 */
@NonCPS
static boolean unknownCommand(List stderr, String command) {
    return stderr.any { it.toString().trim() == 'Usage: imgpromote <subcommand>' } &&
            stderr.any { it.toString().startsWith('Error: Unknown option') || it.toString().contains("'" + command + "'") }
}

/** True when text is one JSON object or array and nothing else but whitespace (the parser would stop early). */
@NonCPS
static boolean isOneJsonValue(String text) {
    String t = text.trim()
    if (!t.startsWith('{') && !t.startsWith('[')) {
        return false
    }
    int depth = 0
    boolean inString = false
    for (int i = 0; i < t.length(); i++) {
        char c = t.charAt(i)
        if (inString) {
            if (c == (char) '\\') {
                i++
            } else if (c == (char) '"') {
                inString = false
            }
        } else if (c == (char) '"') {
            inString = true
        } else if (c == (char) '{' || c == (char) '[') {
            depth++
        } else if (c == (char) '}' || c == (char) ']') {
            depth--
            if (depth == 0) {
                return i == t.length() - 1
            }
        }
    }
    return false
}

@NonCPS
static String text(Object value) {
    return value instanceof CharSequence ? value.toString() : null
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
