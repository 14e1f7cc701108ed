"""Lab configs shipped with the harness (data only; read by harness.config)."""
