// OCIRegistry
