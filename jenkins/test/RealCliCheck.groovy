// Run by test/real-cli.sh (which starts two emulated clusters and seeds dev): the step, with its script
// in dash, drives the real imgpromote. Not a *Test.groovy: the unit suite (run.sh) does not pick it up.
import static StepHarness.*

Map e = System.getenv()
File work = new File(e.REAL_WORK)
File step = new File(work, 'step')
step.mkdirs()
File bin = new File(work, 'bin')
String devApi = e.REAL_DEV_API, prodApi = e.REAL_PROD_API, devReg = e.REAL_DEV_REG, prodReg = e.REAL_PROD_REG
String devCa = new File(work, 'dev-ca.pem').absolutePath, prodCa = new File(work, 'prod-ca.pem').absolutePath
List secrets = [e.REAL_ALICE_PW, e.REAL_DEV_SA, e.REAL_PROD_SA]
passed = 0
failed = 0
StringBuilder log = new StringBuilder()

StepHarness harness() {
    StepHarness h = new StepHarness()
    Map env = System.getenv()
    h.credentials['dev-alice'] = [type: 'usernamePassword', username: 'alice', password: env.REAL_ALICE_PW]
    h.credentials['dev-sa'] = [type: 'secretText', secret: env.REAL_DEV_SA]
    h.credentials['prod-sa'] = [type: 'secretText', secret: env.REAL_PROD_SA]
    return h
}

/** sha256 of the manifest skopeo reads (the image's digest), with an auth file and the cluster's CA. */
String skopeoDigest(String ref, File authfile, File certDir) {
    Process p = ['skopeo', 'inspect', '--raw', '--authfile', authfile.absolutePath, '--cert-dir', certDir.absolutePath, 'docker://' + ref].execute()
    ByteArrayOutputStream out = new ByteArrayOutputStream()
    p.consumeProcessOutput(out, new ByteArrayOutputStream())
    assert p.waitFor() == 0: "skopeo inspect ${ref} failed"
    return 'sha256:' + java.security.MessageDigest.getInstance('SHA-256').digest(out.toByteArray()).encodeHex().toString()
}

void check(String name, Closure body) {
    try {
        body()
        passed++
        println "ok   ${name}"
    } catch (Throwable t) {
        failed++
        println "FAIL ${name}: ${t.message?.readLines()?.take(12)?.join('\n     ')}"
    }
}

Closure dash = { StepHarness h -> h.shHandler = realShell('dash', step, bin, [:], log) }
File devAuth = new File(work, 'alice-dev.json'), devCerts = new File(work, 'certs-dev'), prodCerts = new File(work, 'certs-prod')
String expected = skopeoDigest(devReg + '/shop/app:1.0', devAuth, devCerts)
// A prod auth file for skopeo: the prod service account's token, through imgpromote login.
File prodAuth = new File(work, 'prod-auth.json')
ProcessBuilder pb = new ProcessBuilder(new File(bin, 'imgpromote').absolutePath, 'login', '--quiet', '--cluster', prodApi, '--ca-file', prodCa,
                                       '--authfile', prodAuth.absolutePath)
pb.environment().IMGPROMOTE_TOKEN = e.REAL_PROD_SA
pb.redirectErrorStream(true)
Process login = pb.start()
login.inputStream.text
assert login.waitFor() == 0: 'imgpromote login to prod'

check("mode tag with a password login: dev shop/app:1.0 -> shop/app:stable, pinned to ${expected.take(19)}...") {
    StepHarness h = harness()
    dash(h)
    String ref = h.run(mode: 'tag', source: 'shop/app:1.0', destination: 'shop/app:stable', cluster: devApi, caFile: devCa,
                       credentialsId: 'dev-alice')
    assert ref.endsWith('/shop/app@' + expected): ref
    assert skopeoDigest(devReg + '/shop/app:stable', devAuth, devCerts) == expected
    assert h.shCalls.size() == 1 && !h.shCalls[0].args.script.contains(e.REAL_ALICE_PW)
}

check('mode tag refused by RBAC (the dev service account may only pull in shop): permission, exit 4, no secret') {
    StepHarness h = harness()
    dash(h)
    Map r = h.run(mode: 'tag', source: 'shop/app:1.0', destination: 'shop/app:denied', cluster: devApi, caFile: devCa,
                  credentialsId: 'dev-sa', returnResult: true)
    assert !r.ok && r.exitCode == 4 && r.exitClass == 'permission': r
    assert r.message && !secrets.any { r.toString().contains(it) }
    println "     message: ${r.message}"
}

check('mode tag with an unknown source tag: not-found, exit 5') {
    StepHarness h = harness()
    dash(h)
    String m = h.failure(mode: 'tag', source: 'shop/app:9.9', destination: 'shop/app:x', cluster: devApi, caFile: devCa, credentialsId: 'dev-alice')
    assert m.contains('failed [not-found, exit 5]'): m
    println "     error: ${m}"
}

check('copy dev -> prod (password login / service-account token) through the report file') {
    StepHarness h = harness()
    dash(h)
    String ref = h.run(source: 'shop/app:1.0', destination: 'shop/app:1.0', sourceCluster: devApi, sourceCaFile: devCa,
                       sourceCredentialsId: 'dev-alice', destinationCluster: prodApi, destinationCaFile: prodCa,
                       destinationCredentialsId: 'prod-sa')
    assert ref.endsWith('/shop/app@' + expected): ref
    assert skopeoDigest(prodReg + '/shop/app:1.0', prodAuth, prodCerts) == expected
}

// Does this binary have the release commands? Without them, 'imgpromote promote' gets the root usage line.
Process probe = [new File(bin, 'imgpromote').absolutePath, 'promote'].execute()
probe.outputStream.close()
String probeText = probe.errorStream.text + probe.inputStream.text
probe.waitFor()
if (probeText.contains('Usage: imgpromote <subcommand>')) {
    println 'SKIP releases: this imgpromote has no promote command (an older binary)'
} else {
    new File(step, 'release.yaml').text = '''source: {project: shop}
destination: {project: shop}
images:
  - source: app:1.0
    tags: ["1.0", rel]
'''
    Map sides = [sourceCluster: devApi, sourceCaFile: devCa, sourceCredentialsId: 'dev-alice',
                 destinationCluster: prodApi, destinationCaFile: prodCa, destinationCredentialsId: 'prod-sa']
    check('mode plan writes the lock and returns the planned images') {
        StepHarness h = harness()
        dash(h)
        List images = h.run(sides + [mode: 'plan', file: 'release.yaml', lock: 'release.lock.json'])
        assert images.size() == 1 && images[0].ok && images[0].status in ['planned', 'present']: images
        assert images[0].digest == expected && images[0].tags == ['1.0', 'rel']
        assert new File(step, 'release.lock.json').text.contains(expected)
    }
    check('lock: applies exactly the lock, writes and publishes the JUnit file') {
        StepHarness h = harness()
        dash(h)
        List images = h.run(sides + [lock: 'release.lock.json', junit: 'imgpromote.xml', publishJunit: true])
        assert images.size() == 1 && images[0].ok && images[0].status in ['promoted', 'present']: images
        assert images[0].reference.endsWith('/shop/app@' + expected)
        assert h.junitCalls*.args == [[testResults: 'imgpromote.xml']]
        assert new File(step, 'imgpromote.xml').text.contains('<testcase')
        assert skopeoDigest(prodReg + '/shop/app:rel', prodAuth, prodCerts) == expected
    }
    check('shard 2/2 of a one-repository release: nothing to do, an empty list') {
        StepHarness h = harness()
        dash(h)
        List one = h.run(sides + [lock: 'release.lock.json', shard: '1/2'])
        List two = h.run(sides + [lock: 'release.lock.json', shard: '2/2'])
        assert one.size() + two.size() == 1: [one, two]
    }
    check('a file naming a missing image fails the build with that image') {
        new File(step, 'bad.yaml').text = 'source: {project: shop}\ndestination: {project: shop}\nimages:\n  - source: app:1.0\n  - source: nope:1\n'
        StepHarness h = harness()
        dash(h)
        Map r = h.run(sides + [file: 'bad.yaml', returnResult: true])
        assert !r.ok && r.images*.name.size() == 2 && r.images.count { !it.ok } == 1: r
        assert r.message.startsWith('1 of 2 image(s) failed; first: '): r.message
        assert !secrets.any { r.toString().contains(it) }
        println "     message: ${r.message} [${r.exitClass}]"
    }
}
if (failed) {
    println '---- step log (stderr) ----'
    println log.toString().readLines().takeRight(40).join('\n')
}
println "real-cli: ${passed} passed, ${failed} failed"
System.exit(failed == 0 && passed > 0 ? 0 : 1)
