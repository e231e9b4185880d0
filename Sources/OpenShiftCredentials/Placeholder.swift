// OpenShiftCredentials
