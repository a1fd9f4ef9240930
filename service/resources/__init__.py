"""HTTP resources: one package per resource, thin views over the domain."""
