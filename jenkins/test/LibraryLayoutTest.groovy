import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.junit.Test

/** Static checks on the library: help pages, the one sh call, and the example Jenkinsfiles. */
class LibraryLayoutTest {
    static List<File> vars() {
        return new File('vars').listFiles().findAll { it.name.endsWith('.groovy') }.sort { it.name }
    }

    static List<File> examples() {
        return new File('examples').listFiles().findAll { it.name.startsWith('Jenkinsfile') }.sort { it.name }
    }

    @Test
    void everyStepHasAHelpPage() {
        assert !vars().isEmpty()
        vars().each { f ->
            File txt = new File(f.parentFile, f.name.replace('.groovy', '.txt'))
            assert txt.isFile() && txt.text.trim(): "${txt} is missing"
        }
    }

    @Test
    void helpPageNamesEveryParameterAndExitClass() {
        Script step = new StepHarness().step
        String help = new File('vars/imgpromote.txt').text
        (step.STRING_KEYS + step.BOOLEAN_KEYS + step.INTEGER_KEYS + step.LIST_KEYS).each {
            assert help.contains(it): "imgpromote.txt does not document '${it}'"
        }
        step.EXIT_CLASSES.each { code, cls -> assert help.contains("${code} ${cls}"): "exit class ${code} ${cls}" }
        step.CREDENTIAL_KINDS.each { assert help.contains(it) }
    }

    @Test
    void theOnlyShellCallRunsTheConstantScript() {
        vars().each { f ->
            String src = f.text
            // Groovy code only: drop the ''' literal (the script itself), block and line comments.
            String code = src.replaceAll(/(?s)'''.*?'''/, "''").replaceAll(/(?s)\/\*.*?\*\//, '')
                             .replaceAll(/(?m)\/\/.*$/, '')
            List calls = (code =~ /\bsh\s*[\(\s'"]/).collect { it }
            assert calls.size() == 2: "${f.name}: expected the two sh(...) sites of the step, found ${calls}"
            assert (src =~ /\bsh\(script: SCRIPT, returnStdout: true, label: label\)/).count == 2
            assert !src.contains('"""'): "${f.name}: no triple-double-quoted (interpolating) strings"
        }
    }

    @Test
    void examplesCompileAndUseTheStep() {
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.addCompilationCustomizers(new ImportCustomizer().addImports('org.jenkinsci.plugins.workflow.libs.Library'))
        GroovyShell shell = new GroovyShell(LibraryLayoutTest.classLoader, new Binding(), cc)
        assert examples()*.name == ['Jenkinsfile.agent-label', 'Jenkinsfile.declarative', 'Jenkinsfile.release', 'Jenkinsfile.scripted']
        examples().each { f ->
            shell.parse(f)   // a syntax error throws here
            String src = f.text
            assert src.contains("@Library('imgpromote') _")
            assert src =~ /imgpromote\(/
            if (f.name != 'Jenkinsfile.release') {
                assert src.contains("source: ") && src.contains("destination: ")
            }
        }
        // plan -> archive the lock -> input -> apply exactly that lock, sharded in parallel.
        String release = new File('examples/Jenkinsfile.release').text
        ["mode: 'plan', file: 'release.yaml', lock: 'release.lock.json'", "archiveArtifacts artifacts: 'release.lock.json'",
         'input message:', "lock: 'release.lock.json', shard: shard", 'publishJunit: true', 'parallel branches',
         "readFile('release.lock.json') != approvedLock"].each {
            assert release.contains(it): "Jenkinsfile.release lacks ${it}"
        }
        assert release.indexOf('input message:') > release.indexOf('archiveArtifacts') && release.indexOf('parallel branches') > release.indexOf('input message:')
        assert new File('examples/Jenkinsfile.agent-label').text.contains("agent { label 'imgpromote' }")
        assert new File('examples/Jenkinsfile.scripted').text.contains("node('imgpromote')")
        assert new File('examples/Jenkinsfile.declarative').text.contains('pipeline {')
    }

    @Test
    void examplesNeverInterpolateIntoShellOrPassSecretsAsArguments() {
        examples().each { f ->
            String src = f.text
            assert !(src =~ /\bsh\s*\(?\s*(script:\s*)?"/): "${f.name}: sh with a double-quoted (interpolating) string"
            assert !(src =~ /(?i)--(src|dest)-(password|token)\b/): "${f.name}: secret on a command line"
            assert !(src =~ /(?i)(password|token)\s*:\s*['"]/): "${f.name}: literal secret"
            assert !src.contains('TlsVerify: false'): "${f.name}: examples keep TLS verification on"
        }
    }
}
