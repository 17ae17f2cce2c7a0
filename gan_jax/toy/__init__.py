"""Low-dimensional toys where the theory of Goodfellow et al. 2014 can be computed."""
