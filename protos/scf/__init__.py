"""scfchain's own protos (package `scf`): channel configuration, Raft, regulator."""
