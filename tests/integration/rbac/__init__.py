"""RBAC is exact: lbctl and nodeproxy run as their ServiceAccounts with the shipped roles."""
