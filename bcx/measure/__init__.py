"""The measurement: the rollout shift callback (train / held-out / on-policy losses)."""
