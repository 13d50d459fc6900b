"""Recordings of calls: indexed, linked to calls and tickets, served only to those allowed."""
