"""Lightning callbacks: measurement of distribution shift during training."""
