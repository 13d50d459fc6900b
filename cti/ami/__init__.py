"""AMI wire protocol and connection."""
