"""Running the service: admin CLI, deploys, legacy import, launcher, health, metrics."""
