// Runs every test/*Test.groovy with JUnit 4 and ends with "groovy: N passed, N failed".
// Start it from the library root (jenkins/): test/run.sh does.
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import org.junit.runner.Description

GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
List<Class> classes = new File('test').listFiles().findAll { it.name.endsWith('Test.groovy') }
        .sort { it.name }
        .collect { loader.parseClass(it) }

JUnitCore core = new JUnitCore()
core.addListener(new RunListener() {
    Set<String> failed = [] as Set
    void testFailure(Failure f) {
        failed << f.description.displayName
        println "FAIL ${f.description.displayName}"
        println f.trace.readLines().take(12).collect { '    ' + it }.join('\n')
    }
    void testAssumptionFailure(Failure f) {
        failed << f.description.displayName
        println "SKIP ${f.description.displayName}: ${f.message}"
    }
    void testFinished(Description d) {
        if (!failed.contains(d.displayName)) {
            println "ok   ${d.displayName}"
        }
    }
})
Result r = core.run(classes as Class[])
int skipped = r.ignoreCount + (r.respondsTo('getAssumptionFailureCount') ? r.assumptionFailureCount : 0)
int failed = r.failureCount
int passed = r.runCount - failed - (r.respondsTo('getAssumptionFailureCount') ? r.assumptionFailureCount : 0)
println "groovy: ${passed} passed, ${failed} failed" + (skipped ? ", ${skipped} skipped" : '')
System.exit(failed == 0 && passed > 0 ? 0 : 1)
