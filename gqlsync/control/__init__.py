"""The control plane: APIs, their immutable versions, deploys, rollbacks and canaries, and the admin API."""
