"""HTTP edge: REST API, WebSockets, pages."""
