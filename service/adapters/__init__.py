"""Ports (abstract, in each package's __init__) and the adapters that implement them."""
