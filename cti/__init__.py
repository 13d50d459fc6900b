"""CTI: the only door to Asterisk. AMI events in, typed domain events out; call-control actions out."""
