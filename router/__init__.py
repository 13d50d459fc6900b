"""Queue router: which seat takes which call; peak balancing, estimated wait, call-backs, wallboard, Erlang advisor."""
