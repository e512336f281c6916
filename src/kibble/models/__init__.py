"""Any Python model through the factory: the contract (signature, safe bundle), logging
into the registry, tabular gates and probe, batch scoring and monitoring."""

TABULAR_FLAVORS = ("sklearn", "python")
"""Registry flavors of models that take rows of named columns and answer ``predict``."""
