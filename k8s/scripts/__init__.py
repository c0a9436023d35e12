"""Scripts that run inside pods; shipped to them in ConfigMaps by the cdk8s charts."""
