"""NASNet-A and PNASNet-5 image classifiers (Zoph et al. 2017; Liu et al. 2017)."""
