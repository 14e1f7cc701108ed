"""Device profiles and DMCs shipped with the harness (data only; read by harness.config)."""
