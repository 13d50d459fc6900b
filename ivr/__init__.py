"""IVR: YAML flows (flows/) validated and run per call over AsyncAGI."""
