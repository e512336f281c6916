"""Model registry: promotion gates that decide whether a candidate may become challenger."""

from kibble.registry.gates import Check, GatePolicy, GateReport, evaluate_gates

__all__ = ["Check", "GatePolicy", "GateReport", "evaluate_gates"]
