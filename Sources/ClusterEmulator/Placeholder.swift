// ClusterEmulator
