"""MetalLB on the local cluster, as host processes, for bench/compare_metallb.py."""
