"""Edna's Pulumi policy pack; `edna_policies` holds the rules, `__main__.py` serves them to the Pulumi engine."""
