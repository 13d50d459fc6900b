"""Application shell of the 12345 hotline server: settings, storage, HTTP edge, CLI, composition root."""
