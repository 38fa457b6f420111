"""Load-balancer providers behind one Protocol (base.py): local, gce, aws."""
