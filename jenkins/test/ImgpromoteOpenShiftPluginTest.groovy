import org.junit.Test

import static StepHarness.*

/**
 * The OpenShift Client plugin's cluster configurations (openshift.withCluster('prod')) and its
 * "OpenShift Token" credentials. The fake DSL below follows the plugin's OpenShiftDSL.groovy
 * (jenkinsci/openshift-client-plugin f2fd985): withCluster(name) uses the cluster configuration of
 * that name, or takes the name for a URL when there is none ("insecure://" = skip TLS); cluster()
 * and skipTLSVerify() answer for the current context.
 */
class ImgpromoteOpenShiftPluginTest {
    static class FakeOpenShiftDSL {
        Map<String, Map> configs = [:]
        Map current = null
        List<String> calls = []

        def withCluster(String name, Closure body) {
            calls << name
            Map cc = configs.find { it.key.equalsIgnoreCase(name) }?.value
            Map saved = current
            if (cc != null) {
                current = [url: cc.url, skip: cc.skip]
            } else if (name.startsWith('insecure://')) {
                current = [url: 'https://' + name.substring('insecure://'.length()), skip: true]
            } else {
                current = [url: name, skip: false]
            }
            try {
                return body()
            } finally {
                current = saved
            }
        }

        String cluster() { current?.url }

        boolean skipTLSVerify() { current ? current.skip : false }
    }

    static StepHarness withPlugin(Map configs) {
        StepHarness h = new StepHarness()
        h.step.binding.setVariable('openshift', new FakeOpenShiftDSL(configs: configs))
        return h
    }

    @Test
    void clusterConfigurationNamesTheApiServer() {
        StepHarness h = withPlugin([prod: [url: 'https://api.prod.example.com:6443', skip: false],
                                    lab: [url: 'https://api.lab.example.com:6443', skip: true]])
        h.run([source: 'quay.example.com/team/app:1.4', destination: 'shop/app:1.4',
               destinationClusterConfig: 'prod', destinationCredentialsId: 'prod-token'])
        List argv = argvOf(h.shCalls[0])
        assert argv.contains('--dest-cluster=https://api.prod.example.com:6443')
        assert !argv.any { it.startsWith('--dest-tls-verify') }
        assert h.shCalls[0].env.IMGPROMOTE_DEST_TOKEN == DEST_TOKEN
        h.run([source: 'shop/app:1.4', sourceClusterConfig: 'LAB', destination: 'shop/app:1.4', destinationClusterConfig: 'prod'])
        argv = argvOf(h.shCalls[1])
        assert argv.containsAll(['--src-cluster=https://api.lab.example.com:6443', '--src-tls-verify=false',
                                 '--dest-cluster=https://api.prod.example.com:6443'])
    }

    @Test
    void anUnknownConfigurationIsAnErrorNotAUrl() {
        StepHarness h = withPlugin([prod: [url: 'https://api.prod.example.com:6443', skip: false]])
        String m = h.failure([source: 'quay.example.com/team/app:1.4', destination: 'shop/app:1.4', destinationClusterConfig: 'prd'])
        assert m == "imgpromote: destinationClusterConfig 'prd' is not a cluster configuration of the OpenShift Client plugin " +
                    '(Manage Jenkins > System > OpenShift Client Plugin > Cluster Configurations)'
        assert h.shCalls.isEmpty()
    }

    @Test
    void withoutThePluginTheStepSaysSo() {
        StepHarness h = new StepHarness()
        String m = h.failure([source: 'quay.example.com/team/app:1.4', destination: 'shop/app:1.4', destinationClusterConfig: 'prod'])
        assert m.contains("destinationClusterConfig needs the OpenShift Client plugin")
        assert h.shCalls.isEmpty()
    }

    @Test
    void configurationAndClusterTogetherAreRejected() {
        String m = withPlugin([:]).failure([source: 'quay.example.com/team/app:1.4', destination: 'shop/app:1.4',
                                            destinationClusterConfig: 'prod', destinationCluster: 'https://x:6443'])
        assert m.contains('destinationClusterConfig names the cluster already: drop destinationCluster and destinationContext')
    }

    @Test
    void anOpenShiftTokenCredentialIsNotSecretTextAndTheMessageSaysWhatToDo() {
        // Both plugins' OpenShiftTokenCredentials extend BaseStandardCredentials, not StringCredentials,
        // so credentials-binding's string() refuses them by type.
        StepHarness h = new StepHarness()
        h.credentials['prod-openshift-token'] = [type: 'openshiftToken', token: 'SENTINEL-x']
        String m = h.failure([source: 'quay.example.com/team/app:1.4', destination: 'shop/app:1.4',
                              destinationCluster: 'https://api.prod.example.com:6443', destinationCredentialsId: 'prod-openshift-token'])
        assert m.contains("is of type 'OpenShift Token for OpenShift Client Plugin' where 'Secret text' was expected")
        assert m.contains('an OpenShift Token credential cannot be bound by withCredentials: store the same token as a Secret text credential')
        assert h.shCalls.isEmpty()
    }
}
