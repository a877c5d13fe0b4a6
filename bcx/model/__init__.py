"""The model: the policy (normalization, trunk, head) and the LightningModule that fits it."""
