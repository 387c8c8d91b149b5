"""absl binaries: search (and later train, export, evaluate)."""
