"""Integration tests of the fakes themselves, driven through the real client libraries."""
