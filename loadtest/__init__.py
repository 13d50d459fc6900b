"""Load tester: a simulated peak day against the whole server."""
